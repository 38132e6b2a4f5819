/** 2-D max pooling (NCHW) with padding treated as -inf, as torch.nn.MaxPool2d. */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { Tensor } from '../tensor/tensor.js';

export function maxPool2d(x: Tensor, kernel: number, stride: number, padding: number): Tensor {
  if (x.rank !== 4)
    throw new Error(`maxPool2d: input ${x.describe()} must be [batch, channels, height, width]`);
  if (padding * 2 > kernel)
    throw new Error(`maxPool2d: padding ${padding} must be at most half the kernel ${kernel}`);
  const [b, c, h, w] = x.shape;
  const outH = Math.floor((h + 2 * padding - kernel) / stride) + 1;
  const outW = Math.floor((w + 2 * padding - kernel) / stride) + 1;
  const planes = b * c;
  const out = Tensor.empty([b, c, outH, outW]);
  const arg = Tensor.emptyInt([planes * outH * outW]);
  const window = { height: h, width: w, kernelH: kernel, kernelW: kernel, stride, pad: padding, outH, outW };
  dispatch.maxPool2d({ x, y: out, argmax: arg, planes, ...window });
  record(out, { name: 'maxPool2d', attrs: { kernel, stride, padding } }, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dx.data.fill(0);
    const idx = arg.ints;
    const g = dy.data;
    const plane = outH * outW;
    for (let p = 0; p < planes; p++) {
      for (let i = 0; i < plane; i++) dx.data[p * h * w + idx[p * plane + i]] += g[p * plane + i];
    }
    return [dx];
  });
  if (!out.requiresGrad) arg.dispose();
  return out;
}
