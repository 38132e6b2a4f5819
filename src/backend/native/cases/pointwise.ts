/** Kernel comparison cases: Element-wise, reduction and strided-copy cases. */
import { jsBackend } from '../../js/index.js';
import { type BinaryOp, type UnaryOp, UNARY_OPS_WITH_Y_DERIVATIVE } from '../../kernels.js';
import { broadcastStrides, sizeOf } from '../../../tensor/shape.js';
import { type KernelCase, bf16, rand, tol } from './common.js';

export const UNARY_DOMAINS: Record<UnaryOp, [number, number]> = {
  neg: [-3, 3],
  exp: [-10, 10],
  log: [0.01, 20],
  sqrt: [0, 50],
  rsqrt: [0.01, 50],
  tanh: [-6, 6],
  erf: [-4, 4],
  gelu: [-6, 6],
  relu: [-3, 3],
  abs: [-3, 3],
  square: [-3, 3],
  reciprocal: [0.1, 5],
};
export const UNARY_SIZES = [1, 7, 255, 256, 1001, 70001];

export function unaryInput(op: UnaryOp, n: number, seed: number): Float32Array {
  const [lo, hi] = UNARY_DOMAINS[op];
  const x = rand(n, seed, lo, hi);
  if (op === 'relu' || op === 'abs') x[0] = 0;
  return x;
}

export function unaryCases(): KernelCase<'unary'>[] {
  const out: KernelCase<'unary'>[] = [];
  let seed = 1;
  for (const op of Object.keys(UNARY_DOMAINS) as UnaryOp[])
    for (const n of UNARY_SIZES) {
      const s = seed++;
      out.push({
        what: `unary ${op} n=${n}`,
        args: () => ({ op, x: unaryInput(op, n, s), out: new Float32Array(n) }),
        outputs: ['out'],
        tol: tol(2e-6, 1e-6),
      });
      // bfloat16 in and out (an MLP's GELU between two bfloat16 GEMMs)
      out.push({
        what: `unary ${op} n=${n} bf16 x and out`,
        args: () => ({ op, x: bf16(unaryInput(op, n, s)), out: new Uint16Array(n) }),
        outputs: ['out'],
        tol: tol(8e-3, 1e-6),
      });
    }
  for (const op of ['exp', 'gelu', 'sqrt', 'neg'] as UnaryOp[]) {
    out.push({
      what: `unary ${op} in place`,
      args: () => {
        const x = rand(5000, 3, 0.1, 2);
        return { op, x, out: x };
      },
      outputs: ['out'],
      tol: tol(2e-6, 1e-6),
    });
  }
  return out;
}

export function unaryBackwardCases(): KernelCase<'unaryBackward'>[] {
  const out: KernelCase<'unaryBackward'>[] = [];
  let seed = 500;
  for (const op of Object.keys(UNARY_DOMAINS) as UnaryOp[])
    for (const n of UNARY_SIZES)
      // float32, and bfloat16 dy and dx (an MLP's activation between two bfloat16 GEMMs).
      for (const half of [false, true]) {
        const s = seed;
        seed += 2;
        out.push({
          what: `unaryBackward ${op} n=${n} bf16 (x,) dy, dx=${half}`,
          args: () => {
            const x = unaryInput(op, n, s);
            const y = new Float32Array(n);
            jsBackend.unary({ op, x, out: y });
            const dy = rand(n, s + 1);
            // bfloat16 x too where the derivative reads only x
            const xh = UNARY_OPS_WITH_Y_DERIVATIVE.includes(op) ? x : bf16(x);
            return half
              ? { op, x: xh, y, dy: bf16(dy), dx: new Uint16Array(n) }
              : { op, x, y, dy, dx: new Float32Array(n) };
          },
          outputs: ['dx'],
          // A bfloat16 dx may round one step apart where the float32 values differ in the last bits.
          tol: half ? tol(8e-3, 1e-6) : tol(1e-5, 1e-6),
        });
      }
  return out;
}

export function elementwiseScalarCases(): { affine: KernelCase<'affine'>[]; pow: KernelCase<'pow'>[] } {
  const affine: KernelCase<'affine'>[] = [];
  const pow: KernelCase<'pow'>[] = [];
  for (const n of [1, 9, 40000]) {
    const x = (): Float32Array => rand(n, n, 0.05, 3);
    for (const [alpha, beta] of [
      [2, 0.5],
      [-1, 0],
      [0.1, -3],
    ])
      affine.push({
        what: `affine ${alpha} ${beta} n=${n}`,
        args: () => ({ x: x(), out: new Float32Array(n), alpha, beta }),
        outputs: ['out'],
        tol: tol(1e-6, 1e-6),
      });
    for (const p of [0, 1, 2, 3, 0.5, -0.5, -1, 1.7, -2.3])
      pow.push({
        what: `pow ${p} n=${n}`,
        args: () => ({ x: x(), out: new Float32Array(n), p }),
        outputs: ['out'],
        tol: tol(1e-6, 1e-7),
      });
  }
  return { affine, pow };
}

export function binaryCases(): KernelCase<'binary'>[] {
  const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min'];
  const shapes: [number[], number[], number[]?][] = [
    [[1], [1]],
    [[7], [7]],
    [
      [3, 5],
      [3, 5],
    ],
    [
      [8320, 256],
      [8320, 256],
    ],
    [[8320, 256], [256]],
    [
      [8320, 256],
      [8320, 1],
    ],
    [[8320, 256], [1]],
    [[1], [8320, 256]],
    [[3, 5], []],
    [
      [4, 1, 6],
      [4, 5, 6],
    ],
    [
      [4, 5, 6],
      [5, 1],
    ],
    [
      [9, 1],
      [1, 11],
    ],
    [
      [2, 3, 1, 5, 1],
      [1, 3, 4, 1, 6],
    ],
    [
      [128, 4, 65, 65],
      [4, 65, 65],
    ],
    [
      [65, 256],
      [128, 65, 256],
    ],
    [[], []],
    [[0, 4], [4]],
    // a stored [6, 5] and read as its transpose [5, 6]; a [200, 300] read as [300, 200]
    [[5, 6], [6], [1, 5]],
    [
      [300, 200],
      [300, 200],
      [1, 300],
    ],
  ];
  const out: KernelCase<'binary'>[] = [];
  let seed = 1;
  for (const op of ops)
    for (const [sa, sb, aStridesGiven] of shapes) {
      const rank = Math.max(sa.length, sb.length);
      const pa = [...new Array<number>(rank - sa.length).fill(1), ...sa];
      const pb = [...new Array<number>(rank - sb.length).fill(1), ...sb];
      const shape = pa.map((d, i) => (d === 1 ? pb[i] : d));
      const s = seed++;
      out.push({
        what: `binary ${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`,
        args: () => ({
          op,
          a: rand(Math.max(1, sizeOf(sa)), s, 0.5, 2),
          aStrides: aStridesGiven ?? broadcastStrides(sa, shape),
          b: rand(Math.max(1, sizeOf(sb)), s + 1, 0.5, 2),
          bStrides: broadcastStrides(sb, shape),
          out: new Float32Array(sizeOf(shape)),
          shape,
        }),
        outputs: ['out'],
        tol: tol(1e-6, 1e-7),
      });
    }
  return out;
}

export const REDUCE_DIMS: [number, number, number][] = [
  [1, 1, 1],
  [3, 7, 1],
  [5, 1, 9],
  [2, 65, 33],
  [1, 8320, 256],
  [1, 100000, 1],
  [3, 50000, 1],
  [2, 5, 5000],
  [640, 65, 1],
  [4, 0, 3],
];

export function reduceSumCases(): KernelCase<'reduceSum'>[] {
  return REDUCE_DIMS.flatMap(([outer, r, inner], i) =>
    // float32 x, and bfloat16 x (a bias gradient from a bfloat16 gradient)
    [false, true].map((half) => ({
      what: `reduceSum ${[outer, r, inner]} bf16 x=${half}`,
      args: () => {
        const x = rand(outer * r * inner, i + 1);
        return { x: half ? bf16(x) : x, out: new Float32Array(outer * inner).fill(7), outer, r, inner };
      },
      outputs: ['out'] as const,
      tol: tol(1e-6, 1e-6),
    })),
  );
}

export function reduceMaxCases(): KernelCase<'reduceMax'>[] {
  const out: KernelCase<'reduceMax'>[] = [];
  REDUCE_DIMS.forEach(([outer, r, inner], i) => {
    if (r === 0) return;
    const x = (): Float32Array => {
      const v = rand(outer * r * inner, 50 + i);
      for (let t = 0; t < v.length; t += 97) v[t] = 0.5; // ties
      if (v.length > 10) {
        v[3] = NaN;
        v[v.length - 2] = NaN;
      }
      return v;
    };
    for (const withArgmax of [true, false])
      out.push({
        what: `reduceMax ${[outer, r, inner]} argmax=${withArgmax}`,
        args: () => ({
          x: x(),
          out: new Float32Array(outer * inner),
          argmax: withArgmax ? new Int32Array(outer * inner) : null,
          outer,
          r,
          inner,
        }),
        outputs: ['out', 'argmax'],
        tol: 'exact',
      });
  });
  return out;
}

export function stridedCopyCases(): KernelCase<'stridedCopy'>[] {
  const out: KernelCase<'stridedCopy'>[] = [];
  let seed = 1;
  const add = (
    srcLen: number,
    srcOffset: number,
    srcStrides: number[],
    dstLen: number,
    dstOffset: number,
    dstStrides: number[],
    shape: number[],
    accumulate: boolean,
    label: string,
  ): void => {
    const s = seed++;
    out.push({
      what: `stridedCopy ${label} accumulate=${accumulate}`,
      args: () => ({
        src: rand(srcLen, s),
        srcOffset,
        srcStrides,
        dst: rand(dstLen, s + 1),
        dstOffset,
        dstStrides,
        shape,
        accumulate,
      }),
      outputs: ['dst'],
      tol: tol(1e-6, 1e-7),
    });
  };
  for (const acc of [false, true]) {
    add(100000, 0, [1], 100000, 0, [1], [100000], acc, 'contiguous');
    add(12, 0, [4, 1], 12, 0, [4, 1], [3, 4], acc, 'contiguous 2-D');
    const [B, T, H, hd] = [4, 65, 4, 16];
    const D = H * hd;
    add(
      B * T * 3 * D,
      0,
      [T * 3 * D, 3 * D, D, hd, 1],
      3 * B * H * T * hd,
      0,
      [H * T * hd, hd, B * H * T * hd, T * hd, 1],
      [B, T, 3, H, hd],
      acc,
      'qkv split',
    );
    add(300 * 200, 0, [1, 300], 300 * 200, 0, [200, 1], [300, 200], acc, 'transpose');
    add(1200, 5, [30, 1], 400, 0, [10, 1], [40, 10], acc, 'slice with offset');
    add(56, 0, [7, 1], 112, 7, [14, 1], [8, 7], acc, 'concat half');
    add(256, 0, [0, 1], 520 * 256, 0, [256, 1], [520, 256], acc, 'broadcast expand');
    add(50, 49, [-1], 50, 0, [1], [50], acc, 'flip');
    add(3, 2, [], 4, 1, [], [], acc, 'rank 0');
    add(1, 0, [1], 1, 0, [1], [1], acc, 'one element');
    add(
      24,
      0,
      [12, 4, 2, 1, 0, 0, 0, 0],
      48,
      0,
      [1, 2, 6, 24, 0, 0, 0, 0],
      [2, 3, 2, 2, 1, 1, 1, 1],
      acc,
      'rank 8 with unit axes',
    );
    // The gradient of expand: destination stride 0 accumulates in order.
    add(520 * 256, 0, [256, 1], 256, 0, [0, 1], [520, 256], acc, 'reduce into stride 0');
  }
  return out;
}
