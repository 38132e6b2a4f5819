/**
 * Non-overlapping patches as rows: [B, C, H, W] -> [B, (H/p)*(W/p), C*p*p], each row ordered (c, i, j)
 * like a Conv2d weight's [C, p, p]. A conv with kernel = stride = p is then one GEMM against the
 * weight viewed as [D, C*p*p], producing tokens [B, N, D] without the NCHW round trip.
 */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { stridesOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

export function patchify(x: Tensor, p: number): Tensor {
  if (x.rank !== 4)
    throw new Error(`patchify: input ${x.describe()} must be [batch, channels, height, width]`);
  const [b, c, h, w] = x.shape;
  if (h % p !== 0 || w % p !== 0)
    throw new Error(`patchify: ${h}x${w} image is not divisible into ${p}x${p} patches`);
  const gh = h / p;
  const gw = w / p;
  // x read as [B, gh, gw, C, p, p].
  const view = [b, gh, gw, c, p, p];
  const src = [c * h * w, p * w, p, h * w, w, 1];
  const dst = stridesOf(view);
  const out = Tensor.empty([b, gh * gw, c * p * p]);
  dispatch.stridedCopy({ src: x, srcStrides: src, dst: out, dstStrides: dst, shape: view });
  return record(out, { name: 'patchify', attrs: { p } }, [x], (dy) => {
    // Every pixel lies in exactly one patch, so the adjoint is the inverse copy.
    const dx = Tensor.empty(x.shape);
    dispatch.stridedCopy({ src: dy, srcStrides: dst, dst: dx, dstStrides: src, shape: view });
    return [dx];
  });
}
