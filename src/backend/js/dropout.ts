import type { KernelArgs } from '../kernels.js';
import { hashUniform } from '../../tensor/hash.js';

export function dropoutMask({ seed, p, mask, offset }: KernelArgs<'dropoutMask'>): void {
  const scale = p < 1 ? 1 / (1 - p) : 0;
  for (let i = 0; i < mask.length; i++) mask[i] = hashUniform(seed, offset + i) >= p ? scale : 0;
}
