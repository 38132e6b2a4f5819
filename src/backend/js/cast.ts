import { bf16ToFloat32, float32ToBf16 } from '../../tensor/bf16.js';
import type { KernelArgs } from '../kernels.js';

export function cast({ x, out }: KernelArgs<'cast'>): void {
  if (x instanceof Float32Array) {
    if (out instanceof Float32Array) out.set(x);
    else float32ToBf16(x, out);
  } else if (out instanceof Float32Array) {
    bf16ToFloat32(x, out);
  } else {
    out.set(x);
  }
}
