import type { KernelArgs } from '../kernels.js';

/**
 * Batched GEMM in plain TypeScript. Loop order i-k-j keeps the innermost loop contiguous in B and C
 * for the non-transposed case; transposed operands are read through strides.
 */
export function matmul(args: KernelArgs<'matmul'>): void {
  const { a, b, c, m, n, k, transA, transB, batch, strideA, strideB, strideC, alpha, beta, bias } = args;
  // Element (i, p) of op(A) and (p, j) of op(B), row-major storage.
  const aRow = transA ? 1 : k;
  const aCol = transA ? m : 1;
  const bRow = transB ? 1 : n;
  const bCol = transB ? k : 1;
  const acc = new Float64Array(n);
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
}

export function matmulStrided(args: KernelArgs<'matmulStrided'>): void {
  const { a, b, c, batch, m, n, k, alpha, beta } = args;
  const [sa0, sa1, sar, sac] = a.strides;
  const [sb0, sb1, sbr, sbc] = b.strides;
  const [sc0, sc1, scr, scc] = c.strides;
  const acc = new Float64Array(n);
  for (let i0 = 0; i0 < batch[0]; i0++) {
    for (let i1 = 0; i1 < batch[1]; i1++) {
      const oa = a.offset + i0 * sa0 + i1 * sa1;
      const ob = b.offset + i0 * sb0 + i1 * sb1;
      const oc = c.offset + i0 * sc0 + i1 * sc1;
      for (let i = 0; i < m; i++) {
        acc.fill(0);
        for (let p = 0; p < k; p++) {
          const av = a.data[oa + i * sar + p * sac];
          if (av === 0) continue;
          const rowB = ob + p * sbr;
          for (let j = 0; j < n; j++) acc[j] += av * b.data[rowB + j * sbc];
        }
        for (let j = 0; j < n; j++) {
          const at = oc + i * scr + j * scc;
          c.data[at] = beta === 0 ? alpha * acc[j] : alpha * acc[j] + beta * c.data[at];
        }
      }
    }
  }
}
