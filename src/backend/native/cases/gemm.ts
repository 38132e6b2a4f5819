/** Kernel comparison cases: GEMM cases: batched, broadcast and transposed matmul (fp32 and bf16), and attention's strided matmul. */
import { type KernelArgs } from '../../kernels.js';
import { type KernelCase, bf16, rand, tol } from './common.js';

export interface MatmulCase {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  batch: number;
  bcastA?: boolean;
  bcastB?: boolean;
  sharedC?: boolean;
  alpha: number;
  beta: number;
  bias: boolean;
  /** bfloat16 inputs, and optionally a bfloat16 output. */
  bf16In?: boolean;
  bf16Out?: boolean;
}

export function matmulCase(cs: MatmulCase, seed: number): KernelCase<'matmul'> {
  const { m, n, k, batch } = cs;
  const input = (x: Float32Array): Float32Array | Uint16Array => (cs.bf16In ? bf16(x) : x);
  const output = (x: Float32Array): Float32Array | Uint16Array => (cs.bf16Out ? bf16(x) : x);
  const strideA = cs.bcastA ? 0 : m * k;
  const strideB = cs.bcastB ? 0 : k * n;
  const strideC = cs.sharedC ? 0 : m * n;
  const len = (stride: number, item: number): number => Math.max(1, (batch - 1) * stride + item);
  // A bfloat16 output may land one bfloat16 step (2^-8 relative) away where the float32 sums differ.
  const t = cs.bf16Out ? 8e-3 : k >= 512 ? 1e-4 : 2e-5;
  return {
    what: `matmul ${JSON.stringify(cs)}`,
    args: () => ({
      ...cs,
      a: input(rand(len(strideA, m * k), seed)),
      b: input(rand(len(strideB, k * n), seed + 1)),
      c: output(rand(len(strideC, m * n), seed + 2)),
      strideA,
      strideB,
      strideC,
      bias: cs.bias ? rand(n, seed + 3) : null,
    }),
    outputs: ['c'],
    tol: tol(t, t),
  };
}

export function matmulCases(): KernelCase<'matmul'>[] {
  const out: KernelCase<'matmul'>[] = [];
  let seed = 1;
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 7, 3],
    [5, 1, 9],
    [3, 5, 7],
    [17, 33, 65],
    [64, 48, 32],
    [65, 65, 32],
  ];
  const scalings: [number, number][] = [
    [1, 0],
    [1, 1],
    [0.125, 0],
    [0.5, 1],
  ];
  for (const [m, n, k] of shapes)
    for (const transA of [false, true])
      for (const transB of [false, true])
        for (const bias of [false, true])
          for (const [alpha, beta] of scalings)
            out.push(matmulCase({ m, n, k, transA, transB, batch: 1, alpha, beta, bias }, seed++));
  // Batched, with dense and broadcast (stride 0) operands.
  for (const [m, n, k] of [
    [65, 65, 32],
    [65, 32, 65],
    [7, 3, 5],
    [1, 4, 1],
  ])
    for (const transA of [false, true])
      for (const transB of [false, true])
        for (const [bcastA, bcastB] of [
          [false, false],
          [true, false],
          [false, true],
        ])
          for (const bias of [false, true]) {
            const [alpha, beta] = bias ? [1, 0] : [0.25, 1];
            out.push(
              matmulCase({ m, n, k, transA, transB, batch: 6, bcastA, bcastB, alpha, beta, bias }, seed++),
            );
          }
  // An output shared by the whole batch (strideC 0) accumulates in order; k = 0; empty outputs.
  const base = { transA: false, transB: false, alpha: 1 };
  out.push(
    matmulCase(
      { ...base, m: 9, n: 11, k: 13, transA: true, batch: 4, sharedC: true, beta: 1, bias: false },
      7,
    ),
  );
  out.push(
    matmulCase(
      { ...base, m: 9, n: 11, k: 13, transB: true, batch: 4, sharedC: true, beta: 0, bias: true },
      8,
    ),
  );
  out.push(matmulCase({ ...base, m: 3, n: 4, k: 0, batch: 2, beta: 1, bias: true }, 9));
  out.push(matmulCase({ ...base, m: 3, n: 4, k: 0, batch: 1, beta: 0, bias: false }, 10));
  out.push(matmulCase({ ...base, m: 0, n: 4, k: 5, batch: 1, beta: 0, bias: false }, 11));
  // ViT-sized: Linear forward/backward, q kᵀ batched over heads.
  out.push(matmulCase({ ...base, m: 520, n: 512, k: 256, transB: true, batch: 1, beta: 0, bias: true }, 20));
  out.push(matmulCase({ ...base, m: 512, n: 256, k: 520, transA: true, batch: 1, beta: 1, bias: false }, 21));
  out.push(matmulCase({ ...base, m: 520, n: 256, k: 512, batch: 1, beta: 0, bias: false }, 22));
  out.push(
    matmulCase(
      { ...base, m: 65, n: 65, k: 64, transB: true, batch: 32, alpha: 0.125, beta: 0, bias: false },
      23,
    ),
  );
  // Mixed precision: bfloat16 inputs, float32 or bfloat16 outputs, with every option.
  for (const bf16Out of [false, true])
    for (const [m, n, k] of [
      [1, 1, 1],
      [17, 33, 65],
      [520, 256, 512],
    ])
      for (const transA of [false, true])
        for (const transB of [false, true])
          for (const [alpha, beta, bias] of [
            [1, 0, true],
            [0.125, 1, false],
            [0.5, 0, true],
          ] as [number, number, boolean][]) {
            const cs = { m, n, k, transA, transB, batch: 1, alpha, beta, bias, bf16In: true, bf16Out };
            out.push(matmulCase(cs, seed++));
          }
  const mixed = { ...base, bias: false, bf16In: true };
  out.push(matmulCase({ ...mixed, m: 65, n: 65, k: 64, transB: true, batch: 6, bcastB: true, beta: 0 }, 40));
  out.push(matmulCase({ ...mixed, m: 9, n: 11, k: 13, batch: 4, sharedC: true, beta: 1, bf16Out: true }, 41));
  out.push(matmulCase({ ...mixed, m: 3, n: 4, k: 0, batch: 2, beta: 1, bias: true, bf16Out: true }, 42));
  return out;
}

/** Multi-head attention's GEMMs over strided views of a packed qkv [B, M, 3, H, hd]. */
export function matmulStridedCases(): KernelCase<'matmulStrided'>[] {
  const out: KernelCase<'matmulStrided'>[] = [];
  let seed = 1;
  for (const [b, m, h, hd] of [
    [2, 5, 2, 3],
    [3, 17, 4, 8],
    [4, 65, 4, 16],
    [1, 1, 1, 1],
  ]) {
    const d = h * hd;
    const three = 3 * d;
    const part = (data: Float32Array, i: number, transposed = false) => ({
      data,
      offset: i * d,
      strides: (transposed ? [m * three, hd, 1, three] : [m * three, hd, three, 1]) as [
        number,
        number,
        number,
        number,
      ],
    });
    const square = (data: Float32Array, transposed = false) => ({
      data,
      offset: 0,
      strides: (transposed ? [h * m * m, m * m, 1, m] : [h * m * m, m * m, m, 1]) as [
        number,
        number,
        number,
        number,
      ],
    });
    const ctx = (data: Float32Array) => ({
      data,
      offset: 0,
      strides: [m * d, hd, d, 1] as [number, number, number, number],
    });
    const qkvLen = b * m * three;
    const s = seed++;
    for (const [alpha, beta] of [
      [0.125, 0],
      [1, 1],
    ]) {
      const scal = `alpha=${alpha} beta=${beta}`;
      out.push({
        what: `logits q kᵀ ${[b, m, h, hd]} ${scal}`,
        args: () => {
          const qkv = rand(qkvLen, s);
          return {
            a: part(qkv, 0),
            b: part(qkv, 1, true),
            c: square(rand(b * h * m * m, s + 1)),
            batch: [b, h],
            m,
            n: m,
            k: hd,
            alpha,
            beta,
          };
        },
        outputs: ['c'],
        tol: tol(2e-5, 2e-5),
      });
      out.push({
        what: `context P v into [B, M, D] ${[b, m, h, hd]} ${scal}`,
        args: () => ({
          a: square(rand(b * h * m * m, s + 2)),
          b: part(rand(qkvLen, s + 3), 2),
          c: ctx(rand(b * m * d, s + 4)),
          batch: [b, h],
          m,
          n: hd,
          k: m,
          alpha,
          beta,
        }),
        outputs: ['c'],
        tol: tol(2e-5, 2e-5),
      });
      out.push({
        what: `dk = dSᵀ q into the packed gradient ${[b, m, h, hd]} ${scal}`,
        args: () => {
          const g = rand(qkvLen, s + 5);
          return {
            a: square(rand(b * h * m * m, s + 6), true),
            b: part(rand(qkvLen, s + 7), 0),
            c: part(g, 1),
            batch: [b, h],
            m,
            n: hd,
            k: m,
            alpha,
            beta,
          };
        },
        outputs: ['c'],
        tol: tol(2e-5, 2e-5),
      });
    }
    // A bias broadcast over the batch (stride 0 on b0).
    out.push({
      what: `broadcast operand ${[b, m, h, hd]}`,
      args: () => ({
        a: { data: rand(h * m * hd, s + 8), offset: 0, strides: [0, m * hd, hd, 1] },
        b: { data: rand(h * hd * m, s + 9), offset: 0, strides: [0, hd * m, m, 1] },
        c: square(new Float32Array(b * h * m * m)),
        batch: [b, h],
        m,
        n: m,
        k: hd,
        alpha: 1,
        beta: 0,
      }),
      outputs: ['c'],
      tol: tol(2e-5, 2e-5),
    });
  }
  // The same problems with bfloat16 operands (the attention GEMMs under autocast), float32 or
  // bfloat16 results.
  const half = (v: KernelArgs<'matmulStrided'>['a']) => ({ ...v, data: bf16(v.data as Float32Array) });
  const mixed = out.flatMap((c) =>
    [false, true].map((bf16Out) => ({
      ...c,
      what: `${c.what} bf16 inputs${bf16Out ? ', bf16 output' : ''}`,
      args: () => {
        const a = c.args();
        return { ...a, a: half(a.a), b: half(a.b), c: bf16Out ? half(a.c) : a.c };
      },
      tol: bf16Out ? tol(8e-3, 1e-6) : c.tol,
    })),
  );
  return [...out, ...mixed];
}
