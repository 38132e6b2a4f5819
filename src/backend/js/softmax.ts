import { fromBf16Bits, toBf16Bits } from '../../tensor/bf16.js';
import type { KernelArgs } from '../kernels.js';

type Out = Float32Array | Uint16Array;

/** Writes v to out[i], rounded to bfloat16 when out holds bfloat16. */
function put(out: Out, i: number, v: number): void {
  out[i] = out instanceof Uint16Array ? toBf16Bits(v) : v;
}

export function softmax({ x, y, rows, cols, log, mask, dropped }: KernelArgs<'softmax'>): void {
  const row = new Float32Array(cols); // the float32 row, rounded once on the way out
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (x[o + j] > max) max = x[o + j];
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(x[o + j] - max);
    if (log) {
      const lse = max + Math.log(sum);
      for (let j = 0; j < cols; j++) row[j] = x[o + j] - lse;
    } else {
      for (let j = 0; j < cols; j++) row[j] = Math.exp(x[o + j] - max) / sum;
    }
    for (let j = 0; j < cols; j++) put(y, o + j, row[j]);
    if (mask && dropped)
      for (let j = 0; j < cols; j++) put(dropped, o + j, Math.fround(row[j] * mask[o + j]));
  }
}

export function softmaxBackward(args: KernelArgs<'softmaxBackward'>): void {
  const { dy, dx, rows, cols, log, mask } = args;
  const y = args.y instanceof Uint16Array ? Float32Array.from(args.y, fromBf16Bits) : args.y;
  const g = new Float32Array(cols); // dy (times the dropout mask) of one row; dx may be dy itself
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) g[j] = mask ? dy[o + j] * mask[o + j] : dy[o + j];
    let s = 0;
    if (log) {
      for (let j = 0; j < cols; j++) s += g[j];
      for (let j = 0; j < cols; j++) put(dx, o + j, g[j] - Math.exp(y[o + j]) * s);
    } else {
      for (let j = 0; j < cols; j++) s += g[j] * y[o + j];
      for (let j = 0; j < cols; j++) put(dx, o + j, y[o + j] * (g[j] - s));
    }
  }
}
