import type { KernelArgs } from '../kernels.js';

export function im2col(args: KernelArgs<'im2col'>): void {
  const {
    x,
    cols,
    channels: c,
    height: h,
    width: w,
    kernelH: kh,
    kernelW: kw,
    stride,
    pad,
    outH,
    outW,
  } = args;
  const plane = outH * outW;
  for (let ch = 0; ch < c; ch++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const row = ((ch * kh + ki) * kw + kj) * plane;
        for (let oy = 0; oy < outH; oy++) {
          const iy = oy * stride - pad + ki;
          for (let ox = 0; ox < outW; ox++) {
            const ix = ox * stride - pad + kj;
            cols[row + oy * outW + ox] =
              iy >= 0 && iy < h && ix >= 0 && ix < w ? x[(ch * h + iy) * w + ix] : 0;
          }
        }
      }
    }
  }
}

export function col2im(args: KernelArgs<'col2im'>): void {
  const {
    cols,
    dx,
    channels: c,
    height: h,
    width: w,
    kernelH: kh,
    kernelW: kw,
    stride,
    pad,
    outH,
    outW,
  } = args;
  const plane = outH * outW;
  for (let ch = 0; ch < c; ch++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const row = ((ch * kh + ki) * kw + kj) * plane;
        for (let oy = 0; oy < outH; oy++) {
          const iy = oy * stride - pad + ki;
          if (iy < 0 || iy >= h) continue;
          for (let ox = 0; ox < outW; ox++) {
            const ix = ox * stride - pad + kj;
            if (ix >= 0 && ix < w) dx[(ch * h + iy) * w + ix] += cols[row + oy * outW + ox];
          }
        }
      }
    }
  }
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
