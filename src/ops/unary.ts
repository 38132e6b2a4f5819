/** Element-wise unary functions; each saves what its derivative needs. */
import { record } from '../autograd/tape.js';
import type { UnaryOp } from '../backend/backend.js';
import { dispatch } from '../backend/dispatch.js';
import { Tensor } from '../tensor/tensor.js';

function unaryOp(op: UnaryOp, x: Tensor): Tensor {
  if (x.dtype !== 'float32') throw new Error(`${op}: ${x.describe()} must be float32`);
  const out = Tensor.empty(x.shape);
  dispatch.unary({ op, x, out });
  return record(out, op, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dispatch.unaryBackward({ op, x, y: out, dy, dx });
    return [dx];
  });
}

export const neg = (x: Tensor): Tensor => unaryOp('neg', x);
export const exp = (x: Tensor): Tensor => unaryOp('exp', x);
export const log = (x: Tensor): Tensor => unaryOp('log', x);
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', x);
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x);
export const erf = (x: Tensor): Tensor => unaryOp('erf', x);
/** GELU, exact erf form (PyTorch's default `approximate='none'`). */
export const gelu = (x: Tensor): Tensor => unaryOp('gelu', x);
export const relu = (x: Tensor): Tensor => unaryOp('relu', x);
export const abs = (x: Tensor): Tensor => unaryOp('abs', x);
export const square = (x: Tensor): Tensor => unaryOp('square', x);
