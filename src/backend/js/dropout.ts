import { toBf16Bits } from '../../tensor/bf16.js';
import type { KernelArgs } from '../kernels.js';
import { hashUniform } from '../../tensor/hash.js';

export function dropoutMask({ seed, p, mask, offset }: KernelArgs<'dropoutMask'>): void {
  const scale = p < 1 ? 1 / (1 - p) : 0;
  for (let i = 0; i < mask.length; i++) mask[i] = hashUniform(seed, offset + i) >= p ? scale : 0;
}

export function addScaledRows({ x, y, scale, out, rows, cols }: KernelArgs<'addScaledRows'>): void {
  const half = out instanceof Uint16Array;
  for (let r = 0; r < rows; r++) {
    const s = scale[r];
    for (let c = r * cols; c < (r + 1) * cols; c++) {
      const v = Math.fround((x ? x[c] : 0) + Math.fround(y[c] * s));
      out[c] = half ? toBf16Bits(v) : v;
    }
  }
}
