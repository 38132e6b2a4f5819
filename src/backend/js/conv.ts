import type { KernelArgs } from '../kernels.js';

type Window = Pick<
  KernelArgs<'im2col'>,
  'channels' | 'height' | 'width' | 'kernelH' | 'kernelW' | 'stride' | 'pad' | 'outH' | 'outW'
>;

/**
 * Calls visit(col, pixel) for every element of im2col's [channels*kh*kw, outH*outW] matrix: `col` is
 * its index there, `pixel` the index of the input pixel it reads (-1 in the zero padding).
 */
function forEachWindowElement(g: Window, visit: (col: number, pixel: number) => void): void {
  const { channels, height: h, width: w, kernelH: kh, kernelW: kw, stride, pad, outH, outW } = g;
  const plane = outH * outW;
  for (let ch = 0; ch < channels; ch++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const row = ((ch * kh + ki) * kw + kj) * plane;
        for (let oy = 0; oy < outH; oy++) {
          const iy = oy * stride - pad + ki;
          for (let ox = 0; ox < outW; ox++) {
            const ix = ox * stride - pad + kj;
            const inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
            visit(row + oy * outW + ox, inside ? (ch * h + iy) * w + ix : -1);
          }
        }
      }
    }
  }
}

export function im2col(args: KernelArgs<'im2col'>): void {
  const { x, cols } = args;
  forEachWindowElement(args, (col, pixel) => {
    cols[col] = pixel < 0 ? 0 : x[pixel];
  });
}

export function col2im(args: KernelArgs<'col2im'>): void {
  const { cols, dx } = args;
  forEachWindowElement(args, (col, pixel) => {
    if (pixel >= 0) dx[pixel] += cols[col];
  });
}

export function maxPool2d(args: KernelArgs<'maxPool2d'>): void {
  const {
    x,
    y,
    argmax,
    planes,
    height: h,
    width: w,
    kernelH: kh,
    kernelW: kw,
    stride,
    pad,
    outH,
    outW,
  } = args;
  for (let p = 0; p < planes; p++) {
    const xo = p * h * w;
    const yo = p * outH * outW;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let best = -Infinity;
        let at = -1;
        for (let ki = 0; ki < kh; ki++) {
          const iy = oy * stride - pad + ki;
          if (iy < 0 || iy >= h) continue;
          for (let kj = 0; kj < kw; kj++) {
            const ix = ox * stride - pad + kj;
            if (ix < 0 || ix >= w) continue;
            const v = x[xo + iy * w + ix];
            if (v > best || at < 0) {
              best = v;
              at = iy * w + ix;
            }
          }
        }
        y[yo + oy * outW + ox] = best;
        argmax[yo + oy * outW + ox] = at;
      }
    }
  }
}
