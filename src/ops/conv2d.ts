/**
 * 2-D convolution as im2col + one batched GEMM (weights broadcast over the batch), NCHW like PyTorch.
 * im2col is an op of its own whose backward is col2im, so the GEMM's gradient comes from matmul.
 */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { Tensor } from '../tensor/tensor.js';
import { add } from './binary.js';
import { matmul } from './matmul.js';
import { reshape } from './shape.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
}

/** One image's geometry: channels and the fields of the window kernels (im2col, col2im). */
interface Geometry {
  b: number;
  channels: number;
  height: number;
  width: number;
  kernelH: number;
  kernelW: number;
  stride: number;
  pad: number;
  outH: number;
  outW: number;
}

/** [B, C, H, W] -> [B, C*kh*kw, outH*outW]. */
function im2colOp(x: Tensor, g: Geometry): Tensor {
  const { b, ...window } = g;
  const inSize = g.channels * g.height * g.width;
  const colSize = g.channels * g.kernelH * g.kernelW * g.outH * g.outW;
  const out = Tensor.empty([b, g.channels * g.kernelH * g.kernelW, g.outH * g.outW]);
  const image = (t: Tensor, i: number, size: number): Float32Array =>
    t.data.subarray(i * size, (i + 1) * size);
  for (let i = 0; i < b; i++) {
    dispatch.im2col({ x: image(x, i, inSize), cols: image(out, i, colSize), ...window });
  }
  const attrs = { kh: g.kernelH, kw: g.kernelW, stride: g.stride, pad: g.pad };
  return record(out, { name: 'im2col', attrs }, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dx.data.fill(0);
    for (let i = 0; i < b; i++) {
      dispatch.col2im({ cols: image(dy, i, colSize), dx: image(dx, i, inSize), ...window });
    }
    return [dx];
  });
}

export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  opts: Conv2dOptions = {},
): Tensor {
  const stride = opts.stride ?? 1;
  const pad = opts.padding ?? 0;
  if (x.rank !== 4) throw new Error(`conv2d: input ${x.describe()} must be [batch, channels, height, width]`);
  if (weight.rank !== 4) throw new Error(`conv2d: weight ${weight.describe()} must be [out, in, kh, kw]`);
  const [b, c, h, w] = x.shape;
  const [o, wc, kh, kw] = weight.shape;
  if (wc !== c)
    throw new Error(
      `conv2d: input ${x.describe()} has ${c} channels, weight ${weight.describe()} expects ${wc}`,
    );
  if (bias && (bias.rank !== 1 || bias.shape[0] !== o)) {
    throw new Error(`conv2d: bias ${bias.describe()} must be [${o}]`);
  }
  const outH = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const outW = Math.floor((w + 2 * pad - kw) / stride) + 1;
  if (outH < 1 || outW < 1) throw new Error(`conv2d: kernel ${kh}x${kw} does not fit input ${x.describe()}`);
  const geometry = { b, channels: c, height: h, width: w, kernelH: kh, kernelW: kw, stride, pad, outH, outW };
  const cols = im2colOp(x, geometry); // [B, C*kh*kw, L]
  const wFlat = reshape(weight, [o, c * kh * kw]);
  const y = matmul(wFlat, cols); // [B, O, L]
  const withBias = bias ? add(y, reshape(bias, [o, 1])) : y;
  return reshape(withBias, [b, o, outH, outW]);
}
