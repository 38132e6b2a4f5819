import { record } from '../autograd/tape.js';
import { getBackend } from '../backend/registry.js';
import { normAxis, stridesOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/** x[..., start:end, ...] along `axis` (torch.narrow), copied into a contiguous tensor. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normAxis('slice', axis, x.rank);
  const n = x.shape[a];
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start > end) {
    throw new Error(`slice: range ${start}:${end} is outside axis ${a} of ${x.describe()}`);
  }
  const outShape = [...x.shape];
  outShape[a] = end - start;
  const xs = stridesOf(x.shape);
  const os = stridesOf(outShape);
  const out = Tensor.empty(outShape);
  const backend = getBackend();
  backend.stridedCopy(x.data, start * xs[a], xs, out.data, 0, os, outShape, false);
  return record(out, 'slice', [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dx.data.fill(0);
    backend.stridedCopy(dy.data, 0, os, dx.data, start * xs[a], xs, outShape, false);
    return [dx];
  });
}
