import { bf16ToFloat32, float32ToBf16 } from '../../tensor/bf16.js';
import type { KernelArgs } from '../kernels.js';

/** Float32 values of a float32 or bfloat16 buffer (bfloat16 widens exactly). */
function widen(x: Float32Array | Uint16Array): Float32Array {
  if (x instanceof Float32Array) return x;
  const out = new Float32Array(x.length);
  bf16ToFloat32(x, out);
  return out;
}

/**
 * Runs `fn` on a float32 image of `c` and stores the result back rounded to bfloat16 when `c` is
 * bfloat16 (the GEMM accumulates in higher precision either way).
 */
function intoOutput(c: Float32Array | Uint16Array, fn: (c: Float32Array) => void): void {
  if (c instanceof Float32Array) {
    fn(c);
    return;
  }
  const wide = widen(c);
  fn(wide);
  float32ToBf16(wide, c);
}

/**
 * Batched GEMM in plain TypeScript. Loop order i-k-j keeps the innermost loop contiguous in B and C
 * for the non-transposed case; transposed operands are read through strides. Products accumulate in
 * float64; bfloat16 operands are widened exactly first.
 */
export function matmul(args: KernelArgs<'matmul'>): void {
  const { m, n, k, transA, transB, batch, strideA, strideB, strideC, alpha, beta, bias } = args;
  const a = widen(args.a);
  const b = widen(args.b);
  // Element (i, p) of op(A) and (p, j) of op(B), row-major storage.
  const aRow = transA ? 1 : k;
  const aCol = transA ? m : 1;
  const bRow = transB ? 1 : n;
  const bCol = transB ? k : 1;
  const acc = new Float64Array(n);
  intoOutput(args.c, (c) => {
    for (let t = 0; t < batch; t++) {
      const oa = t * strideA;
      const ob = t * strideB;
      const oc = t * strideC;
      for (let i = 0; i < m; i++) {
        acc.fill(0);
        for (let p = 0; p < k; p++) {
          const av = a[oa + i * aRow + p * aCol];
          if (av === 0) continue;
          const base = ob + p * bRow;
          for (let j = 0; j < n; j++) acc[j] += av * b[base + j * bCol];
        }
        const rowC = oc + i * n;
        for (let j = 0; j < n; j++) {
          let v = alpha * acc[j];
          if (bias) v += bias[j];
          c[rowC + j] = beta === 0 ? v : v + beta * c[rowC + j];
        }
      }
    }
  });
}

export function matmulStrided(args: KernelArgs<'matmulStrided'>): void {
  const { batch, m, n, k, alpha, beta } = args;
  const [sa0, sa1, sar, sac] = args.a.strides;
  const [sb0, sb1, sbr, sbc] = args.b.strides;
  const [sc0, sc1, scr, scc] = args.c.strides;
  const a = widen(args.a.data);
  const b = widen(args.b.data);
  const acc = new Float64Array(n);
  intoOutput(args.c.data, (c) => {
    for (let i0 = 0; i0 < batch[0]; i0++) {
      for (let i1 = 0; i1 < batch[1]; i1++) {
        const oa = args.a.offset + i0 * sa0 + i1 * sa1;
        const ob = args.b.offset + i0 * sb0 + i1 * sb1;
        const oc = args.c.offset + i0 * sc0 + i1 * sc1;
        for (let i = 0; i < m; i++) {
          acc.fill(0);
          for (let p = 0; p < k; p++) {
            const av = a[oa + i * sar + p * sac];
            if (av === 0) continue;
            const rowB = ob + p * sbr;
            for (let j = 0; j < n; j++) acc[j] += av * b[rowB + j * sbc];
          }
          for (let j = 0; j < n; j++) {
            const at = oc + i * scr + j * scc;
            c[at] = beta === 0 ? alpha * acc[j] : alpha * acc[j] + beta * c[at];
          }
        }
      }
    }
  });
}
