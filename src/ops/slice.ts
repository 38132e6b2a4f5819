import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { normAxis, stridesOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/** x[..., start:end:step, ...] along `axis`, copied into a contiguous tensor. */
export function slice(x: Tensor, axis: number, start: number, end: number, step = 1): Tensor {
  const a = normAxis('slice', axis, x.rank);
  const n = x.shape[a];
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start > end) {
    throw new Error(`slice: range ${start}:${end} is outside axis ${a} of ${x.describe()}`);
  }
  if (!(Number.isInteger(step) && step >= 1))
    throw new Error(`slice: step must be a positive integer, got ${step}`);
  const outShape = [...x.shape];
  outShape[a] = Math.ceil((end - start) / step);
  const xs = stridesOf(x.shape);
  const os = stridesOf(outShape);
  // Reading every step-th element is a strided view of x.
  const xsStep = xs.map((s, i) => (i === a ? s * step : s));
  const out = Tensor.empty(outShape);
  const offset = start * xs[a];
  dispatch.stridedCopy({
    src: x,
    srcOffset: offset,
    srcStrides: xsStep,
    dst: out,
    dstStrides: os,
    shape: outShape,
  });
  return record(out, { name: 'slice', attrs: { axis: a, start, end, step } }, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dx.data.fill(0);
    dispatch.stridedCopy({
      src: dy,
      srcStrides: os,
      dst: dx,
      dstOffset: offset,
      dstStrides: xsStep,
      shape: outShape,
    });
    return [dx];
  });
}
