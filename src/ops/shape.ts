/** Layout ops: reshape (free), permute/transpose (strided copy), broadcast expansion. */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { broadcastStrides, fmtShape, normAxis, sizeOf, stridesOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { sumToShape } from './sum_to_shape.js';

/** Reshape; one axis may be -1 (inferred). Shares storage with x. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const known = shape.filter((d) => d !== -1);
  const inferred = shape.length - known.length;
  if (inferred > 1) throw new Error(`reshape: at most one -1 allowed, got ${fmtShape(shape)}`);
  const knownSize = sizeOf(known);
  const resolved =
    inferred === 1
      ? shape.map((d) => (d === -1 ? (knownSize === 0 ? 0 : x.size / knownSize) : d))
      : [...shape];
  if (sizeOf(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d))) {
    throw new Error(`reshape: cannot reshape ${x.describe()} (${x.size} elements) to ${fmtShape(shape)}`);
  }
  const out = x.view(resolved);
  return record(out, 'reshape', [x], (dy) => [dy.view(x.shape)]);
}

/** Copies x with its axes reordered: out.shape[i] = x.shape[perm[i]]. */
function permuteRaw(x: Tensor, perm: readonly number[]): Tensor {
  const outShape = perm.map((p) => x.shape[p]);
  const out = Tensor.empty(outShape);
  const xs = stridesOf(x.shape);
  const srcStrides = perm.map((p) => xs[p]);
  dispatch.stridedCopy({ src: x, srcStrides, dst: out, dstStrides: stridesOf(outShape), shape: outShape });
  return out;
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank) {
    throw new Error(`permute: perm [${perm.join(', ')}] does not match ${x.describe()} of rank ${x.rank}`);
  }
  const p = perm.map((a) => normAxis('permute', a, x.rank));
  if (new Set(p).size !== p.length) throw new Error(`permute: perm [${perm.join(', ')}] repeats an axis`);
  const inverse = new Array<number>(p.length);
  p.forEach((a, i) => (inverse[a] = i));
  const out = permuteRaw(x, p);
  return record(out, { name: 'permute', attrs: { perm: p } }, [x], (dy) => [permuteRaw(dy, inverse)]);
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const i = normAxis('transpose', a, x.rank);
  const j = normAxis('transpose', b, x.rank);
  const perm = x.shape.map((_, k) => k);
  perm[i] = j;
  perm[j] = i;
  return permute(x, perm);
}

/** Materializes x broadcast to `shape` (NumPy rules). */
export function expandTo(x: Tensor, shape: Shape): Tensor {
  const strides = broadcastStrides(x.shape, shape);
  x.shape.forEach((d, i) => {
    const t = shape[shape.length - x.rank + i];
    if (d !== 1 && d !== t) throw new Error(`expand: cannot broadcast ${x.describe()} to ${fmtShape(shape)}`);
  });
  const out = Tensor.empty(shape);
  dispatch.stridedCopy({ src: x, srcStrides: strides, dst: out, dstStrides: stridesOf(shape), shape });
  return record(out, 'expand', [x], (dy) => [sumToShape(dy, x.shape)]);
}
