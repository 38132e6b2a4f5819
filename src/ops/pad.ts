import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { stridesOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * Zero-pads the last two axes at their start: [..., R, C] -> [..., p+R, p+C] (F.pad(x, (p, 0, p, 0))).
 * Places a patch-to-patch bias inside the full token-to-token logits, class tokens getting none.
 */
export function padLeading2d(x: Tensor, p: number): Tensor {
  if (x.rank < 2) throw new Error(`padLeading2d: ${x.describe()} needs at least two axes`);
  if (p === 0) return x;
  const lead = x.shape.slice(0, -2);
  const [r, c] = x.shape.slice(-2);
  const outShape = [...lead, r + p, c + p];
  const out = Tensor.empty(outShape);
  out.data.fill(0);
  const os = stridesOf(outShape);
  const xs = stridesOf(x.shape);
  const offset = p * os[os.length - 2] + p;
  dispatch.stridedCopy({
    src: x,
    srcStrides: xs,
    dst: out,
    dstOffset: offset,
    dstStrides: os,
    shape: x.shape,
  });
  return record(out, { name: 'padLeading2d', attrs: { p } }, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dispatch.stridedCopy({
      src: dy,
      srcOffset: offset,
      srcStrides: os,
      dst: dx,
      dstStrides: xs,
      shape: x.shape,
    });
    return [dx];
  });
}
