import type { F32, I32 } from '../backend.js';

export function im2col(
  x: F32,
  cols: F32,
  c: number,
  h: number,
  w: number,
  kh: number,
  kw: number,
  stride: number,
  pad: number,
  outH: number,
  outW: number,
): void {
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

export function col2im(
  cols: F32,
  dx: F32,
  c: number,
  h: number,
  w: number,
  kh: number,
  kw: number,
  stride: number,
  pad: number,
  outH: number,
  outW: number,
): void {
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

export function maxPool2d(
  x: F32,
  y: F32,
  argmax: I32,
  planes: number,
  h: number,
  w: number,
  k: number,
  stride: number,
  pad: number,
  outH: number,
  outW: number,
): void {
  for (let p = 0; p < planes; p++) {
    const xo = p * h * w;
    const yo = p * outH * outW;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let best = -Infinity;
        let at = -1;
        for (let ki = 0; ki < k; ki++) {
          const iy = oy * stride - pad + ki;
          if (iy < 0 || iy >= h) continue;
          for (let kj = 0; kj < k; kj++) {
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
