import type { KernelArgs } from '../kernels.js';

export function softmax({ x, y, rows, cols, log }: KernelArgs<'softmax'>): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (x[o + j] > max) max = x[o + j];
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(x[o + j] - max);
    if (log) {
      const lse = max + Math.log(sum);
      for (let j = 0; j < cols; j++) y[o + j] = x[o + j] - lse;
    } else {
      for (let j = 0; j < cols; j++) y[o + j] = Math.exp(x[o + j] - max) / sum;
    }
  }
}

export function softmaxBackward({ y, dy, dx, rows, cols, log }: KernelArgs<'softmaxBackward'>): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    if (log) {
      for (let j = 0; j < cols; j++) s += dy[o + j];
      for (let j = 0; j < cols; j++) dx[o + j] = dy[o + j] - Math.exp(y[o + j]) * s;
    } else {
      for (let j = 0; j < cols; j++) s += dy[o + j] * y[o + j];
      for (let j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - s);
    }
  }
}
