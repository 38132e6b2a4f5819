import { fromBf16Bits, toBf16Bits } from '../../tensor/bf16.js';
import type { KernelArgs } from '../kernels.js';

export function softmax({ x, y, rows, cols, log }: KernelArgs<'softmax'>): void {
  const half = y instanceof Uint16Array;
  const store = (i: number, v: number): void => {
    y[i] = half ? toBf16Bits(v) : v;
  };
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (x[o + j] > max) max = x[o + j];
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(x[o + j] - max);
    if (log) {
      const lse = max + Math.log(sum);
      for (let j = 0; j < cols; j++) store(o + j, x[o + j] - lse);
    } else {
      for (let j = 0; j < cols; j++) store(o + j, Math.exp(x[o + j] - max) / sum);
    }
  }
}

export function softmaxBackward(args: KernelArgs<'softmaxBackward'>): void {
  const { dy, dx, rows, cols, log } = args;
  const y = args.y instanceof Uint16Array ? Float32Array.from(args.y, fromBf16Bits) : args.y;
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
