/**
 * The native backend against the portable reference, kernel by kernel: every kernel the declarations
 * list has cases here (the `CASES` table is typed over every kernel name, so a new kernel does not
 * compile without them), run on both backends with random inputs over many shapes (odd sizes, one
 * element, broadcasting, batched and broadcast matmul, all transposes, bias, beta = 1, strided views);
 * outputs within float tolerance, or bit-exact where the kernels promise it. Also: the addon is checked
 * against the declarations at load, its primitive caches are bounded, and bad calls are clean errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { bf16ToFloat32, float32ToBf16 } from '../../tensor/bf16.js';
import { Tensor } from '../../tensor/tensor.js';
import type { Backend } from '../backend.js';
import { dispatch } from '../dispatch.js';
import { jsBackend } from '../js/index.js';
import type { AnyArray } from '../kernel.js';
import {
  KERNEL_NAMES,
  KERNELS,
  type BinaryOp,
  type KernelArgs,
  type KernelName,
  type UnaryOp,
} from '../kernels.js';
import { addonMismatch, createNativeBackend, loadNativeAddon, nativeInfo } from './native_backend.js';

const info = nativeInfo();
const skip = info.available ? false : `native addon unavailable: ${info.reason}`;
const native = createNativeBackend();

// ---- helpers --------------------------------------------------------------------------------------

/** Deterministic uniform floats in [lo, hi). */
function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}

/** The same values rounded to bfloat16 (as raw 16-bit patterns). */
function bf16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  float32ToBf16(x, out);
  return out;
}

function close(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  atol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if ((Number.isNaN(e) && Number.isNaN(a)) || a === e) continue;
    const err = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(err))) {
      worst = i;
      worstErr = Number.isNaN(err) ? Infinity : err;
    }
  }
  if (worst >= 0)
    assert.fail(
      `${what}: element ${worst}: native ${actual[worst]} vs js ${expected[worst]} (of ${actual.length})`,
    );
}

function exact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i]))
      assert.fail(`${what}: element ${i}: native ${actual[i]} vs js ${expected[i]}`);
  }
}

function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Strides of an operand of shape `opShape` (right-aligned) broadcast against `outShape`. */
function broadcastStrides(opShape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguousStrides(opShape);
  const off = outShape.length - opShape.length;
  return outShape.map((_, i) => (i < off || opShape[i - off] === 1 ? 0 : own[i - off]));
}

const prod = (d: readonly number[]): number => d.reduce((a, b) => a * b, 1);

// ---- the cases: every kernel -----------------------------------------------------------------------

/** How outputs are compared: within tolerance, or bit for bit. */
type Tolerance = { rtol: number; atol: number } | 'exact';

interface KernelCase<K extends KernelName> {
  what: string;
  /** Fresh arguments (same inputs on every call; output buffers new). */
  args: () => KernelArgs<K>;
  /** The fields the kernel writes. */
  outputs: readonly (keyof KernelArgs<K>)[];
  tol: Tolerance;
}
type Cases = { readonly [K in KernelName]: () => KernelCase<K>[] };

const tol = (rtol: number, atol: number): Tolerance => ({ rtol, atol });

interface MatmulCase {
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

function matmulCase(cs: MatmulCase, seed: number): KernelCase<'matmul'> {
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

function matmulCases(): KernelCase<'matmul'>[] {
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
function matmulStridedCases(): KernelCase<'matmulStrided'>[] {
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

const UNARY_DOMAINS: Record<UnaryOp, [number, number]> = {
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
const UNARY_SIZES = [1, 7, 255, 256, 1001, 70001];

function unaryInput(op: UnaryOp, n: number, seed: number): Float32Array {
  const [lo, hi] = UNARY_DOMAINS[op];
  const x = rand(n, seed, lo, hi);
  if (op === 'relu' || op === 'abs') x[0] = 0;
  return x;
}

function unaryCases(): KernelCase<'unary'>[] {
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

function unaryBackwardCases(): KernelCase<'unaryBackward'>[] {
  const out: KernelCase<'unaryBackward'>[] = [];
  let seed = 500;
  for (const op of Object.keys(UNARY_DOMAINS) as UnaryOp[])
    for (const n of UNARY_SIZES) {
      const s = seed;
      seed += 2;
      out.push({
        what: `unaryBackward ${op} n=${n}`,
        args: () => {
          const x = unaryInput(op, n, s);
          const y = new Float32Array(n);
          jsBackend.unary({ op, x, out: y });
          return { op, x, y, dy: rand(n, s + 1), dx: new Float32Array(n) };
        },
        outputs: ['dx'],
        tol: tol(1e-5, 1e-6),
      });
    }
  return out;
}

function elementwiseScalarCases(): { affine: KernelCase<'affine'>[]; pow: KernelCase<'pow'>[] } {
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

function binaryCases(): KernelCase<'binary'>[] {
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
          a: rand(Math.max(1, prod(sa)), s, 0.5, 2),
          aStrides: aStridesGiven ?? broadcastStrides(sa, shape),
          b: rand(Math.max(1, prod(sb)), s + 1, 0.5, 2),
          bStrides: broadcastStrides(sb, shape),
          out: new Float32Array(prod(shape)),
          shape,
        }),
        outputs: ['out'],
        tol: tol(1e-6, 1e-7),
      });
    }
  return out;
}

const REDUCE_DIMS: [number, number, number][] = [
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

function reduceSumCases(): KernelCase<'reduceSum'>[] {
  return REDUCE_DIMS.map(([outer, r, inner], i) => ({
    what: `reduceSum ${[outer, r, inner]}`,
    args: () => ({
      x: rand(outer * r * inner, i + 1),
      out: new Float32Array(outer * inner).fill(7),
      outer,
      r,
      inner,
    }),
    outputs: ['out'],
    tol: tol(1e-6, 1e-6),
  }));
}

function reduceMaxCases(): KernelCase<'reduceMax'>[] {
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

function stridedCopyCases(): KernelCase<'stridedCopy'>[] {
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

const SOFTMAX_SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [1000, 65],
  [33, 1000],
  [4, 10],
];

/** Every (log, bfloat16 y) combination. */
const SOFTMAX_VARIANTS = [false, true].flatMap((log) => [false, true].map((half) => ({ log, half })));

function softmaxCases(): KernelCase<'softmax'>[] {
  return SOFTMAX_SHAPES.flatMap(([rows, cols], i) =>
    SOFTMAX_VARIANTS.map(({ log, half }) => ({
      what: `softmax log=${log} bf16=${half} ${rows}x${cols}`,
      args: () => ({
        x: rand(rows * cols, i + 1, -8, 8),
        y: half ? new Uint16Array(rows * cols) : new Float32Array(rows * cols),
        rows,
        cols,
        log,
      }),
      outputs: ['y'] as const,
      // A bfloat16 output may round one step apart where the float32 values differ in the last bits.
      tol: half ? tol(8e-3, 1e-6) : tol(1e-5, 1e-6),
    })),
  );
}

function softmaxBackwardCases(): KernelCase<'softmaxBackward'>[] {
  return SOFTMAX_SHAPES.flatMap(([rows, cols], i) =>
    SOFTMAX_VARIANTS.map(({ log, half }) => ({
      what: `softmaxBackward log=${log} bf16 y=${half} ${rows}x${cols}`,
      args: () => {
        const y = new Float32Array(rows * cols);
        jsBackend.softmax({ x: rand(rows * cols, i + 1, -8, 8), y, rows, cols, log });
        const dy = rand(rows * cols, i + 50);
        return { y: half ? bf16(y) : y, dy, dx: new Float32Array(rows * cols), rows, cols, log };
      },
      outputs: ['dx'] as const,
      tol: tol(1e-5, 1e-5),
    })),
  );
}

const LN_SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [65, 256],
  [1040, 256],
  [7, 1000],
  [130, 65],
];

function layerNormCases(): KernelCase<'layerNorm'>[] {
  const out: KernelCase<'layerNorm'>[] = [];
  let seed = 1;
  for (const [rows, cols] of LN_SHAPES)
    for (const [gamma, beta] of [
      [true, true],
      [false, false],
      [true, false],
      [false, true],
    ])
      for (const withAddend of [false, true]) {
        const s = seed;
        seed += 4;
        const addendRows = withAddend ? Math.min(rows, 65) : 0;
        out.push({
          what: `layerNorm ${rows}x${cols} gamma=${gamma} beta=${beta} addend=${withAddend}`,
          args: () => ({
            x: rand(rows * cols, s, -2, 3),
            gamma: gamma ? rand(cols, s + 1, 0.5, 1.5) : null,
            beta: beta ? rand(cols, s + 2) : null,
            y: new Float32Array(rows * cols),
            mean: new Float32Array(rows),
            rstd: new Float32Array(rows),
            rows,
            cols,
            eps: 1e-6,
            addend: withAddend ? rand(addendRows * cols, s + 3) : null,
            addendRows,
          }),
          outputs: ['y', 'mean', 'rstd'],
          tol: tol(1e-5, 1e-5),
        });
      }
  return out;
}

function layerNormBackwardCases(): KernelCase<'layerNormBackward'>[] {
  const out: KernelCase<'layerNormBackward'>[] = [];
  let seed = 100;
  for (const [rows, cols] of LN_SHAPES)
    for (const affine of [true, false])
      for (const wantParams of [true, false]) {
        const s = seed;
        seed += 3;
        out.push({
          what: `layerNormBackward ${rows}x${cols} affine=${affine} params=${wantParams}`,
          args: () => {
            const x = rand(rows * cols, s, -2, 3);
            const gamma = affine ? rand(cols, s + 1, 0.5, 1.5) : null;
            const [mean, rstd] = [new Float32Array(rows), new Float32Array(rows)];
            const y = new Float32Array(rows * cols);
            jsBackend.layerNorm({
              x,
              gamma,
              beta: null,
              y,
              mean,
              rstd,
              rows,
              cols,
              eps: 1e-5,
              addend: null,
              addendRows: 0,
            });
            const params = (): Float32Array | null => (wantParams ? new Float32Array(cols).fill(9) : null);
            return {
              x,
              gamma,
              mean,
              rstd,
              dy: rand(rows * cols, s + 2),
              dx: new Float32Array(rows * cols),
              dgamma: params(),
              dbeta: params(),
              rows,
              cols,
            };
          },
          outputs: ['dx', 'dgamma', 'dbeta'],
          tol: tol(1e-4, 1e-4),
        });
      }
  return out;
}

function dropoutMaskCases(): KernelCase<'dropoutMask'>[] {
  const out: KernelCase<'dropoutMask'>[] = [];
  for (const seed of [0, 1, 12345, 0x7fffffff, 0xffffffff])
    for (const p of [0, 0.1, 0.5, 1 / 3, 0.999, 1, 1e-9])
      for (const n of [1, 17, 100003])
        for (const offset of [0, 5, 2 ** 32 - 100003])
          out.push({
            what: `dropoutMask seed=${seed} p=${p} n=${n} offset=${offset}`,
            args: () => ({ seed, p, mask: new Float32Array(n).fill(3), offset }),
            outputs: ['mask'],
            tol: 'exact',
          });
  return out;
}

const CONV_GEOMETRIES: [number, number, number, number, number, number, number][] = [
  // channels, height, width, kernelH, kernelW, stride, pad
  [3, 32, 32, 4, 4, 4, 0],
  [3, 8, 8, 3, 3, 1, 1],
  [2, 7, 5, 3, 2, 2, 1],
  [1, 1, 1, 1, 1, 1, 0],
  [2, 5, 5, 3, 3, 2, 2],
  [4, 6, 9, 1, 1, 1, 0],
];

function window2d(
  height: number,
  width: number,
  kernelH: number,
  kernelW: number,
  stride: number,
  pad: number,
) {
  const outH = Math.floor((height + 2 * pad - kernelH) / stride) + 1;
  const outW = Math.floor((width + 2 * pad - kernelW) / stride) + 1;
  return { height, width, kernelH, kernelW, stride, pad, outH, outW };
}

function im2colCases(): KernelCase<'im2col'>[] {
  return CONV_GEOMETRIES.map(([channels, ...g], i) => {
    const w = window2d(...g);
    return {
      what: `im2col ${[channels, ...g]}`,
      args: () => ({
        x: rand(channels * w.height * w.width, i + 1),
        cols: new Float32Array(channels * w.kernelH * w.kernelW * w.outH * w.outW).fill(5),
        channels,
        ...w,
      }),
      outputs: ['cols'],
      tol: 'exact',
    };
  });
}

function col2imCases(): KernelCase<'col2im'>[] {
  return CONV_GEOMETRIES.map(([channels, ...g], i) => {
    const w = window2d(...g);
    return {
      what: `col2im ${[channels, ...g]}`,
      args: () => ({
        cols: rand(channels * w.kernelH * w.kernelW * w.outH * w.outW, i + 20),
        dx: rand(channels * w.height * w.width, i + 40),
        channels,
        ...w,
      }),
      outputs: ['dx'],
      tol: tol(1e-6, 1e-6),
    };
  });
}

function maxPool2dCases(): KernelCase<'maxPool2d'>[] {
  const cases: [number, number, number, number, number, number, number][] = [
    // planes, height, width, kernelH, kernelW, stride, pad
    [4, 8, 8, 3, 3, 2, 1],
    [2, 7, 9, 3, 3, 2, 1],
    [1, 1, 1, 1, 1, 1, 0],
    [3, 5, 5, 2, 2, 2, 0],
    [64, 32, 32, 3, 3, 2, 1],
    [2, 6, 7, 2, 3, 1, 1],
  ];
  return cases.map(([planes, ...g], i) => {
    const w = window2d(...g);
    const n = planes * w.outH * w.outW;
    return {
      what: `maxPool2d ${[planes, ...g]}`,
      args: () => {
        const x = rand(planes * w.height * w.width, i + 1);
        for (let t = 0; t < x.length; t += 11) x[t] = 0.25; // ties
        return { x, y: new Float32Array(n), argmax: new Int32Array(n), planes, ...w };
      },
      outputs: ['y', 'argmax'],
      tol: 'exact',
    };
  });
}

const GATHER_SHAPES = [
  [1, 1, 1],
  [10, 3, 25],
  [225, 4, 4225],
  [100, 256, 5000],
];
const indices = (rows: number, count: number): Int32Array =>
  Int32Array.from({ length: count }, (_, i) => (i * 7919 + 3) % rows);

function gatherRowsCases(): KernelCase<'gatherRows'>[] {
  return GATHER_SHAPES.map(([rows, width, count]) => ({
    what: `gatherRows ${[rows, width, count]}`,
    args: () => ({
      x: rand(rows * width, width),
      idx: indices(rows, count),
      out: new Float32Array(count * width),
      width,
    }),
    outputs: ['out'],
    tol: 'exact',
  }));
}

function scatterAddRowsCases(): KernelCase<'scatterAddRows'>[] {
  return GATHER_SHAPES.map(([rows, width, count]) => ({
    what: `scatterAddRows ${[rows, width, count]}`,
    args: () => ({
      dy: rand(count * width, count),
      idx: indices(rows, count),
      dx: rand(rows * width, 5),
      width,
    }),
    outputs: ['dx'],
    tol: tol(1e-6, 1e-6),
  }));
}

function adamwCases(): KernelCase<'adamw'>[] {
  const out: KernelCase<'adamw'>[] = [];
  for (const n of [1, 33, 100000])
    for (const [weightDecay, step] of [
      [0, 1],
      [0.05, 1],
      [0.05, 10],
      [0.1, 1000],
    ])
      out.push({
        what: `adamw n=${n} wd=${weightDecay} step=${step}`,
        args: () => ({
          param: rand(n, n + step),
          grad: rand(n, n + step + 1, -0.1, 0.1),
          expAvg: rand(n, 3, -0.01, 0.01),
          expAvgSq: rand(n, 4, 0, 1e-4),
          lr: 1e-3,
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay,
          step,
        }),
        outputs: ['param', 'expAvg', 'expAvgSq'],
        tol: tol(1e-6, 1e-9),
      });
  return out;
}

function sgdCases(): KernelCase<'sgd'>[] {
  const out: KernelCase<'sgd'>[] = [];
  for (const n of [1, 33, 100000])
    for (const [momentum, dampening, weightDecay, nesterov, firstStep] of [
      [0, 0, 0, false, false],
      [0, 0, 1e-4, false, true],
      [0.9, 0, 0, false, true],
      [0.9, 0, 5e-4, false, false],
      [0.9, 0.1, 5e-4, false, false],
      [0.9, 0, 5e-4, true, false],
      [0.9, 0, 5e-4, true, true],
    ] as [number, number, number, boolean, boolean][])
      out.push({
        what: `sgd ${[n, momentum, dampening, weightDecay, nesterov, firstStep]}`,
        args: () => ({
          param: rand(n, n),
          grad: rand(n, n + 1),
          momentumBuffer: rand(n, n + 2),
          lr: 0.01,
          momentum,
          dampening,
          weightDecay,
          nesterov,
          firstStep,
        }),
        outputs: ['param', 'momentumBuffer'],
        tol: tol(1e-6, 1e-7),
      });
  return out;
}

function sumSquaresCases(): KernelCase<'sumSquares'>[] {
  return [0, 1, 17, 1000003].map((n) => ({
    what: `sumSquares n=${n}`,
    args: () => ({ x: rand(n, n + 1, -3, 3) }),
    outputs: [],
    tol: tol(1e-12, 1e-12),
  }));
}

function castCases(): KernelCase<'cast'>[] {
  const special = [
    0,
    -0,
    1,
    -1,
    1.00390625,
    1.01171875,
    3.4e38,
    -3.4e38,
    Infinity,
    -Infinity,
    NaN,
    1e-40,
    65504,
  ];
  const out: KernelCase<'cast'>[] = [];
  for (const n of [1, 13, 1001, 300001]) {
    const x = (): Float32Array => {
      const v = rand(n, n, -1e3, 1e3);
      v.set(special.slice(0, Math.min(n, special.length)));
      return v;
    };
    const exactCase = (what: string, args: () => KernelArgs<'cast'>): KernelCase<'cast'> => ({
      what: `cast ${what} n=${n}`,
      args,
      outputs: ['out'],
      tol: 'exact',
    });
    out.push(exactCase('f32 -> bf16', () => ({ x: x(), out: new Uint16Array(n) })));
    out.push(exactCase('bf16 -> f32', () => ({ x: bf16(x()), out: new Float32Array(n) })));
    out.push(exactCase('f32 -> f32', () => ({ x: x(), out: new Float32Array(n) })));
  }
  return out;
}

const CASES: Cases = {
  matmul: matmulCases,
  matmulStrided: matmulStridedCases,
  cast: castCases,
  unary: unaryCases,
  unaryBackward: unaryBackwardCases,
  affine: () => elementwiseScalarCases().affine,
  pow: () => elementwiseScalarCases().pow,
  binary: binaryCases,
  reduceSum: reduceSumCases,
  reduceMax: reduceMaxCases,
  stridedCopy: stridedCopyCases,
  softmax: softmaxCases,
  softmaxBackward: softmaxBackwardCases,
  layerNorm: layerNormCases,
  layerNormBackward: layerNormBackwardCases,
  dropoutMask: dropoutMaskCases,
  im2col: im2colCases,
  col2im: col2imCases,
  maxPool2d: maxPool2dCases,
  gatherRows: gatherRowsCases,
  scatterAddRows: scatterAddRowsCases,
  adamw: adamwCases,
  sgd: sgdCases,
  sumSquares: sumSquaresCases,
};

/** The numbers a buffer holds (bfloat16 widened). */
function values(x: AnyArray): ArrayLike<number> {
  if (!(x instanceof Uint16Array)) return x;
  const out = new Float32Array(x.length);
  bf16ToFloat32(x, out);
  return out;
}

/** Runs one case on both backends and compares every output (and the result, if any). */
function compare<K extends KernelName>(name: K, cs: KernelCase<K>, nb: Backend): void {
  const run = (backend: Backend): { args: KernelArgs<K>; result: unknown } => {
    const args = cs.args();
    const result = (backend[name] as (a: KernelArgs<K>) => unknown)(args);
    return { args, result };
  };
  const j = run(jsBackend);
  const n = run(nb);
  for (const key of cs.outputs) {
    const [a, e] = [n.args[key], j.args[key]] as unknown as [AnyArray | null, AnyArray | null];
    if (e === null || a === null) {
      assert.equal(a, e, `${cs.what}: ${String(key)}`);
      continue;
    }
    if (cs.tol === 'exact') exact(a, e, `${cs.what}: ${String(key)}`);
    else close(values(a), values(e), cs.tol.rtol, cs.tol.atol, `${cs.what}: ${String(key)}`);
  }
  if (typeof j.result === 'number') {
    assert.equal(typeof n.result, 'number');
    const { rtol } = cs.tol === 'exact' ? { rtol: 0 } : cs.tol;
    const [a, e] = [n.result as number, j.result];
    assert.ok(Math.abs(a - e) <= rtol * Math.max(1, Math.abs(e)), `${cs.what}: ${a} vs ${e}`);
  }
}

// ---- tests ------------------------------------------------------------------------------------------

describe('native backend', { skip }, () => {
  const nb = native as Backend;

  it('reports itself', () => {
    assert.equal(nb.name, 'native');
    assert.ok(info.available && info.info.threads >= 1);
    assert.match(info.available ? info.info.dnnlVersion : '', /^\d+\.\d+/);
  });

  it('implements every declared kernel natively (no portable stand-ins)', () => {
    const addon = loadNativeAddon();
    assert.ok(addon);
    assert.equal(addonMismatch(addon), null);
    for (const name of KERNEL_NAMES) {
      assert.equal(nb[name], addon[name], `${name} is the addon's own function`);
      assert.notEqual(nb[name], jsBackend[name], `${name} is not the portable kernel`);
    }
  });

  it('has comparison cases for every kernel', () => {
    for (const name of KERNEL_NAMES) assert.ok(CASES[name]().length > 0, `${name} has no cases`);
  });

  for (const name of KERNEL_NAMES) {
    it(`${name} matches the portable kernel`, () => {
      for (const cs of CASES[name]()) compare(name, cs as never, nb);
    });
  }

  it('keeps each primitive cache within its capacity, least recently used evicted first', () => {
    const addon = loadNativeAddon();
    assert.ok(addon);
    const before = addon.primitiveCache().capacity;
    try {
      addon.setPrimitiveCacheCapacity(3);
      assert.ok(addon.primitiveCache().matmul <= 3);
      for (let i = 1; i <= 8; i++)
        compare(
          'matmul',
          matmulCase(
            { m: 3 + i, n: 5, k: 7, transA: false, transB: false, batch: 1, alpha: 1, beta: 0, bias: false },
            i,
          ),
          nb,
        );
      assert.equal(addon.primitiveCache().matmul, 3);
      // Repeating a cached problem does not grow the cache.
      compare(
        'matmul',
        matmulCase(
          { m: 11, n: 5, k: 7, transA: false, transB: false, batch: 1, alpha: 1, beta: 0, bias: false },
          99,
        ),
        nb,
      );
      assert.equal(addon.primitiveCache().matmul, 3);
      for (const c of matmulStridedCases().slice(0, 6)) compare('matmulStrided', c, nb);
      assert.ok(addon.primitiveCache().matmulStrided <= 3);
    } finally {
      addon.setPrimitiveCacheCapacity(before);
    }
  });

  describe('bad input', () => {
    it('the addon itself throws (does not crash) on short buffers, wrong types and bad values', () => {
      const addon = loadNativeAddon() as unknown as Record<string, (args: unknown) => unknown>;
      const f = new Float32Array(4);
      const mm = {
        a: f,
        b: f,
        c: f,
        m: 4,
        n: 4,
        k: 4,
        transA: false,
        transB: false,
        batch: 1,
        strideA: 0,
        strideB: 0,
        strideC: 0,
        alpha: 1,
        beta: 0,
        bias: null,
      };
      assert.throws(() => addon.matmul(mm), /needs at least/);
      assert.throws(
        () => addon.matmul({ ...mm, m: 2, n: 2, k: 2, batch: 3, strideA: 4, strideB: 4, strideC: 4 }),
        /needs at least/,
      );
      assert.throws(() => addon.matmul({ ...mm, m: -1 }), /non-negative integer/);
      assert.throws(() => addon.matmul({ ...mm, m: 1.5 }), /non-negative integer/);
      assert.throws(() => addon.matmul(f), /argument object|must be/);
      assert.throws(() => addon.softmax({ x: f, y: f, rows: 3, cols: 3, log: false }), /needs at least/);
      assert.throws(
        () =>
          addon.layerNorm({
            x: f,
            gamma: null,
            beta: null,
            y: f,
            mean: f,
            rstd: f,
            rows: 1,
            cols: 4,
            eps: 1e-5,
            addend: f,
            addendRows: 2,
          }),
        /needs at least/,
      );
      assert.throws(() => addon.unary({ op: 'exp', x: new Float32Array(2), out: f }), /needs at least/);
      assert.throws(() => addon.unary({ op: 'cosh', x: f, out: f }), /unknown op 'cosh'/);
      assert.throws(
        () => addon.binary({ op: 'add', a: f, aStrides: [2], b: f, bStrides: [1], out: f, shape: [4] }),
        /too short/,
      );
      assert.throws(
        () =>
          addon.stridedCopy({
            src: f,
            srcOffset: 2,
            srcStrides: [1],
            dst: f,
            dstOffset: 0,
            dstStrides: [1],
            shape: [3],
            accumulate: false,
          }),
        /too short/,
      );
      assert.throws(
        () => addon.gatherRows({ x: f, idx: new Int32Array([0, 5]), out: new Float32Array(2), width: 1 }),
        /index out of range/,
      );
      assert.throws(
        () => addon.scatterAddRows({ dy: f, idx: new Int32Array([-1]), dx: f, width: 1 }),
        /index out of range/,
      );
      assert.throws(
        () =>
          addon.im2col({
            x: f,
            cols: f,
            channels: 1,
            height: 2,
            width: 2,
            kernelH: 3,
            kernelW: 3,
            stride: 1,
            pad: 1,
            outH: 2,
            outW: 2,
          }),
        /needs at least/,
      );
      assert.throws(
        () =>
          addon.adamw({
            param: f,
            grad: new Float32Array(3),
            expAvg: f,
            expAvgSq: f,
            lr: 1,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weightDecay: 0,
            step: 1,
          }),
        /needs at least/,
      );
      assert.throws(() => addon.dropoutMask({ seed: -1, p: 0.5, mask: f }), /uint32/);
      assert.throws(() => addon.unary({ op: 'exp', x: [1, 2], out: f }), /Float32Array/);
      assert.throws(
        () => addon.gatherRows({ x: f, idx: new Float32Array(1), out: f, width: 1 }),
        /Int32Array/,
      );
      const view = { data: f, offset: 0, strides: [0, 0, 4, 1] };
      assert.throws(
        () =>
          addon.matmulStrided({
            a: view,
            b: view,
            c: view,
            batch: [1, 1],
            m: 3,
            n: 3,
            k: 4,
            alpha: 1,
            beta: 0,
          }),
        /needs at least/,
      );
    });

    it('the dispatcher rejects bad calls in TypeScript, naming the kernel and the argument', () => {
      const f = new Float32Array(4);
      const call = (fn: () => unknown, re: RegExp): void => {
        assert.throws(fn, (e: Error) => e.name === 'KernelArgumentError' && re.test(e.message));
      };
      call(
        () => dispatch.matmul({ a: f, b: f, c: f, m: 4, n: 4, k: 4 }),
        /kernel matmul: argument 'a' has 4 elements, needs at least 16/,
      );
      call(
        () => dispatch.matmul({ a: new Int32Array(16) as never, b: f, c: f, m: 2, n: 2, k: 2 }),
        /kernel matmul: argument 'a' must be f32 \(float32\) or bf16 \(bfloat16\), got a i32 array/,
      );
      call(
        () => dispatch.matmul({ a: f, b: new Uint16Array(4), c: f, m: 2, n: 2, k: 1 }),
        /kernel matmul: 'a' and 'b' must have the same element type/,
      );
      call(
        () => dispatch.unary({ op: 'exp', x: f, out: new Float32Array(5) }),
        /kernel unary: 'x' has 4 elements, 'out' 5/,
      );
      call(
        () => dispatch.unary({ op: 'cosh' as never, x: f, out: f }),
        /kernel unary: argument 'op' must be one of neg, exp/,
      );
      call(
        () => dispatch.softmax({ x: f, y: f, rows: 2, cols: 2.5 }),
        /kernel softmax: argument 'cols' must be an integer/,
      );
      call(
        () => dispatch.layerNorm({ x: f, y: f, mean: f, rstd: f, rows: 2, cols: 4, eps: 1e-5 }),
        /kernel layerNorm: argument 'x' has 4 elements, needs at least 8/,
      );
      call(
        () => dispatch.binary({ op: 'add', a: f, aStrides: [1], b: f, bStrides: [1], out: f, shape: [5] }),
        /kernel binary: a \(4 elements\) is too short/,
      );
      call(
        () =>
          dispatch.stridedCopy({
            src: f,
            srcOffset: 2,
            srcStrides: [1],
            dst: f,
            dstStrides: [1],
            shape: [3],
          }),
        /kernel stridedCopy: src .* too short/,
      );
      call(
        () => dispatch.gatherRows({ x: f, idx: new Int32Array([0, 9]), out: new Float32Array(2), width: 1 }),
        /kernel gatherRows: 'idx\[1\]' is 9, outside \[0, 4\)/,
      );
      call(
        () => dispatch.dropoutMask({ seed: 2 ** 33, p: 0.5, mask: f }),
        /kernel dropoutMask: 'seed' must be a 32-bit/,
      );
      call(
        () =>
          dispatch.matmulStrided({
            a: { data: f, offset: 0, strides: [0, 0, 4, 1] },
            b: { data: f, offset: 0, strides: [0, 0, 1, 1] },
            c: { data: f, offset: 0, strides: [0, 0, 1, 1] },
            batch: [1],
            m: 1,
            n: 1,
            k: 1,
          }),
        /'batch' must be two sizes/,
      );
      // A disposed tensor and a tensor of the wrong dtype.
      const t = Tensor.fromData(new Float32Array(4), [4]);
      t.dispose();
      call(
        () => dispatch.unary({ op: 'exp', x: t, out: f }),
        /kernel unary: argument 'x' is a disposed tensor/,
      );
      const ints = Tensor.fromData(new Int32Array(4), [4]);
      call(
        () => dispatch.sumSquares({ x: ints }),
        /kernel sumSquares: argument 'x' must be f32 \(float32\), got a int32 tensor/,
      );
      ints.dispose();
    });
  });
});

describe('native addon loading', () => {
  it('names what an addon built from other sources lacks', () => {
    const kernels = Object.fromEntries(KERNEL_NAMES.map((n) => [n, () => undefined]));
    const signatures = Object.fromEntries(KERNEL_NAMES.map((n) => [n, Object.keys(KERNELS[n].fields)]));
    const enums = {
      unaryOp: [...KERNELS.unary.fields.op.values],
      binaryOp: [...KERNELS.binary.fields.op.values],
    };
    assert.equal(addonMismatch({ ...kernels, signatures, enums } as never), null);
    const partial = Object.fromEntries(Object.entries(kernels).filter(([n]) => n !== 'softmax'));
    assert.match(addonMismatch({ ...partial, signatures, enums } as never) ?? '', /no 'softmax' kernel/);
    const oldFields = { ...signatures, matmul: ['a', 'b', 'c', 'meta'] };
    assert.match(
      addonMismatch({ ...kernels, signatures: oldFields, enums } as never) ?? '',
      /'matmul' kernel reads \[a, b, c, meta\]/,
    );
    assert.match(
      addonMismatch({ ...kernels, signatures, enums: { ...enums, unaryOp: ['neg'] } } as never) ?? '',
      /'unaryOp' table lacks exp/,
    );
  });

  it('refuses a stale addon at load with a message to rebuild, even without LAPE_BACKEND', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lape-stale-addon-'));
    try {
      // An addon of an older lape: positional kernels, no signatures.
      const fake = path.join(dir, 'lape_native.cjs');
      writeFileSync(
        fake,
        `module.exports = { info: () => ({ threads: 1, dnnlVersion: '2.6.0', isa: 'x' }), setThreads() {}, matmul() {}, softmax() {} };\n`,
      );
      const registry = new URL('../registry.ts', import.meta.url).pathname;
      const script = `import(${JSON.stringify(registry)}).then((r) => { try { r.getBackend(); console.log('loaded'); } catch (e) { console.log('ERROR ' + e.message); } });`;
      const env = { ...process.env, LAPE_NATIVE_ADDON: fake, LAPE_BACKEND: '' };
      const res = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', env });
      assert.match(
        res.stdout,
        /^ERROR lape: .*lape_native\.cjs was built from other sources than this lape: its 'matmul' kernel reads \[\]/m,
        res.stdout + res.stderr,
      );
      assert.match(res.stdout, /npm rebuild lape/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
