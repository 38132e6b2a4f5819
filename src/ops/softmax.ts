/** Softmax and log-softmax over the last axis; backward uses the saved output only. */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { Tensor } from '../tensor/tensor.js';

function softmaxOp(x: Tensor, log: boolean): Tensor {
  const name = log ? 'logSoftmax' : 'softmax';
  if (x.rank < 1) throw new Error(`${name}: ${x.describe()} needs at least one axis`);
  const cols = x.shape[x.rank - 1];
  const rows = x.size / Math.max(cols, 1);
  const out = Tensor.empty(x.shape);
  dispatch.softmax({ x, y: out, rows, cols, log });
  return record(out, name, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dispatch.softmaxBackward({ y: out, dy, dx, rows, cols, log });
    return [dx];
  });
}

export const softmax = (x: Tensor): Tensor => softmaxOp(x, false);
export const logSoftmax = (x: Tensor): Tensor => softmaxOp(x, true);
