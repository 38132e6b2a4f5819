/**
 * 2-D convolution as im2col + one batched GEMM (weights broadcast over the batch), NCHW like PyTorch.
 * im2col is an op of its own whose backward is col2im, so the GEMM's gradient comes from matmul.
 */
import { record } from '../autograd/tape.js';
import { getBackend } from '../backend/registry.js';
import { Tensor } from '../tensor/tensor.js';
import { add } from './binary.js';
import { matmul } from './matmul.js';
import { reshape } from './shape.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
}

interface Geometry {
  b: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
  outH: number;
  outW: number;
}

/** [B, C, H, W] -> [B, C*kh*kw, outH*outW]. */
function im2colOp(x: Tensor, g: Geometry): Tensor {
  const rowsPerImage = g.c * g.kh * g.kw;
  const plane = g.outH * g.outW;
  const out = Tensor.empty([g.b, rowsPerImage, plane]);
  const backend = getBackend();
  const inSize = g.c * g.h * g.w;
  const colSize = rowsPerImage * plane;
  for (let i = 0; i < g.b; i++) {
    backend.im2col(
      x.data.subarray(i * inSize, (i + 1) * inSize),
      out.data.subarray(i * colSize, (i + 1) * colSize),
      g.c,
      g.h,
      g.w,
      g.kh,
      g.kw,
      g.stride,
      g.pad,
      g.outH,
      g.outW,
    );
  }
  const attrs = { kh: g.kh, kw: g.kw, stride: g.stride, pad: g.pad };
  return record(out, { name: 'im2col', attrs }, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dx.data.fill(0);
    for (let i = 0; i < g.b; i++) {
      backend.col2im(
        dy.data.subarray(i * colSize, (i + 1) * colSize),
        dx.data.subarray(i * inSize, (i + 1) * inSize),
        g.c,
        g.h,
        g.w,
        g.kh,
        g.kw,
        g.stride,
        g.pad,
        g.outH,
        g.outW,
      );
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
  const cols = im2colOp(x, { b, c, h, w, kh, kw, stride, pad, outH, outW }); // [B, C*kh*kw, L]
  const wFlat = reshape(weight, [o, c * kh * kw]);
  const y = matmul(wFlat, cols); // [B, O, L]
  const withBias = bias ? add(y, reshape(bias, [o, 1])) : y;
  return reshape(withBias, [b, o, outH, outW]);
}
