import { fromBf16Bits } from '../../tensor/bf16.js';
import type { KernelArgs } from '../kernels.js';

export function reduceSum(args: KernelArgs<'reduceSum'>): void {
  const { out, outer, r, inner } = args;
  const x = args.x instanceof Uint16Array ? Float32Array.from(args.x, fromBf16Bits) : args.x;
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    const base = o * r * inner;
    for (let k = 0; k < r; k++) {
      const row = base + k * inner;
      for (let i = 0; i < inner; i++) acc[i] += x[row + i];
    }
    for (let i = 0; i < inner; i++) out[o * inner + i] = acc[i];
  }
}

export function reduceMax({ x, out, argmax, outer, r, inner }: KernelArgs<'reduceMax'>): void {
  for (let o = 0; o < outer; o++) {
    const base = o * r * inner;
    for (let i = 0; i < inner; i++) {
      let best = -Infinity;
      let at = 0;
      for (let k = 0; k < r; k++) {
        const v = x[base + k * inner + i];
        // NaN propagates as in PyTorch.
        if (v > best || Number.isNaN(v)) {
          best = v;
          at = k;
          if (Number.isNaN(v)) break;
        }
      }
      out[o * inner + i] = best;
      if (argmax) argmax[o * inner + i] = at;
    }
  }
}

export function sumSquares({ x }: KernelArgs<'sumSquares'>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}
