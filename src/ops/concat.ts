import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { fmtShape, normAxis, stridesOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/** Concatenates tensors along `axis`; all other axes must match. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error('concat: needs at least one tensor');
  const first = xs[0];
  const a = normAxis('concat', axis, first.rank);
  for (const x of xs) {
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new Error(
        `concat: shapes ${fmtShape(first.shape)} and ${fmtShape(x.shape)} differ outside axis ${a}`,
      );
    }
  }
  const outShape = [...first.shape];
  outShape[a] = xs.reduce((s, x) => s + x.shape[a], 0);
  const out = Tensor.empty(outShape);
  const os = stridesOf(outShape);
  let offset = 0;
  for (const x of xs) {
    const [src, srcStrides, dst, dstOffset, dstStrides] = [x, stridesOf(x.shape), out, offset * os[a], os];
    dispatch.stridedCopy({ src, srcStrides, dst, dstOffset, dstStrides, shape: x.shape });
    offset += x.shape[a];
  }
  return record(out, { name: 'concat', attrs: { axis: a } }, xs, (dy) => {
    let start = 0;
    return xs.map((x) => {
      const g = Tensor.empty(x.shape);
      const [srcOffset, dstStrides] = [start * os[a], stridesOf(x.shape)];
      dispatch.stridedCopy({ src: dy, srcOffset, srcStrides: os, dst: g, dstStrides, shape: x.shape });
      start += x.shape[a];
      return g;
    });
  });
}
