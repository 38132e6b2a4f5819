/**
 * The native backend against the portable reference: every kernel, random inputs over many shapes
 * (odd sizes, one element, broadcasting, batched and broadcast matmul, all transposes, bias, beta = 1),
 * within float tolerance; dropout masks bit-exact. Skipped when the addon is not built.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Backend, BinaryOp, UnaryOp } from '../backend.js';
import { jsBackend } from '../js/index.js';
import { createNativeBackend, loadNativeAddon, nativeInfo } from './native_backend.js';

const info = nativeInfo();
const nb = createNativeBackend(jsBackend);
const skip = info.available ? false : `native addon unavailable: ${info.reason}`;
const js: Backend = jsBackend;

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

function close(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-5,
  atol = 1e-5,
  what = '',
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    const err = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(err))) {
      worst = i;
      worstErr = Number.isNaN(err) ? Infinity : err;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${what}: element ${worst}: native ${actual[worst]} vs js ${expected[worst]} (of ${actual.length})`,
    );
  }
}

function exact(actual: ArrayLike<number>, expected: ArrayLike<number>, what = ''): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${what}: element ${i}: native ${actual[i]} vs js ${expected[i]}`);
    }
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

const N = (): Backend => nb as Backend;

// ---- tests ------------------------------------------------------------------------------------------

describe('native backend', { skip }, () => {
  it('reports itself', () => {
    assert.equal(N().name, 'native');
    assert.ok(info.threads >= 1);
    assert.match(info.dnnlVersion, /^\d+\.\d+/);
  });

  describe('matmul', () => {
    interface Case {
      m: number;
      n: number;
      k: number;
      transA: boolean;
      transB: boolean;
      batch: number;
      bcastA?: boolean;
      bcastB?: boolean;
      seqC?: boolean;
      alpha: number;
      beta: number;
      bias: boolean;
    }
    function runCase(cs: Case, seed: number): void {
      const { m, n, k, transA, transB, batch, alpha, beta } = cs;
      const strideA = cs.bcastA ? 0 : m * k;
      const strideB = cs.bcastB ? 0 : k * n;
      const strideC = cs.seqC ? 0 : m * n;
      const lenA = Math.max(1, (batch - 1) * strideA + m * k);
      const lenB = Math.max(1, (batch - 1) * strideB + k * n);
      const lenC = Math.max(1, (batch - 1) * strideC + m * n);
      const a = rand(lenA, seed);
      const b = rand(lenB, seed + 1);
      const c0 = rand(lenC, seed + 2);
      const bias = cs.bias ? rand(n, seed + 3) : undefined;
      const cJ = c0.slice();
      const cN = c0.slice();
      const args = { a, b, m, n, k, transA, transB, batch, strideA, strideB, strideC, alpha, beta, bias };
      js.matmul({ ...args, c: cJ });
      N().matmul({ ...args, c: cN });
      const tol = k >= 512 ? 1e-4 : 2e-5;
      close(cN, cJ, tol, tol, `matmul ${JSON.stringify(cs)}`);
    }

    it('all transposes, bias, alpha and beta, odd and one-element shapes', () => {
      const shapes: [number, number, number][] = [
        [1, 1, 1],
        [1, 7, 3],
        [5, 1, 9],
        [3, 5, 7],
        [17, 33, 65],
        [64, 48, 32],
        [65, 65, 32],
      ];
      let seed = 1;
      for (const [m, n, k] of shapes)
        for (const transA of [false, true])
          for (const transB of [false, true])
            for (const bias of [false, true])
              for (const [alpha, beta] of [
                [1, 0],
                [1, 1],
                [0.125, 0],
                [0.5, 1],
              ])
                runCase({ m, n, k, transA, transB, batch: 1, alpha, beta, bias }, seed++);
    });

    it('batched, with dense and broadcast (stride 0) operands', () => {
      let seed = 100;
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
              for (const bias of [false, true])
                runCase(
                  {
                    m,
                    n,
                    k,
                    transA,
                    transB,
                    batch: 6,
                    bcastA,
                    bcastB,
                    alpha: bias ? 1 : 0.25,
                    beta: bias ? 0 : 1,
                    bias,
                  },
                  seed++,
                );
    });

    it('an output shared by the whole batch (strideC 0) accumulates in order', () => {
      runCase(
        {
          m: 9,
          n: 11,
          k: 13,
          transA: true,
          transB: false,
          batch: 4,
          seqC: true,
          alpha: 1,
          beta: 1,
          bias: false,
        },
        7,
      );
      runCase(
        {
          m: 9,
          n: 11,
          k: 13,
          transA: false,
          transB: true,
          batch: 4,
          seqC: true,
          alpha: 1,
          beta: 0,
          bias: true,
        },
        8,
      );
    });

    it('k = 0 and empty outputs', () => {
      runCase({ m: 3, n: 4, k: 0, transA: false, transB: false, batch: 2, alpha: 1, beta: 1, bias: true }, 9);
      runCase(
        { m: 3, n: 4, k: 0, transA: false, transB: false, batch: 1, alpha: 1, beta: 0, bias: false },
        10,
      );
      runCase(
        { m: 0, n: 4, k: 5, transA: false, transB: false, batch: 1, alpha: 1, beta: 0, bias: false },
        11,
      );
    });

    it('ViT-sized problems (Linear forward/backward, attention)', () => {
      // x [520, 256] @ W^T [256 -> 512] + b; dW = dY^T X; dX = dY W; q @ k^T batched over heads.
      runCase(
        { m: 520, n: 512, k: 256, transA: false, transB: true, batch: 1, alpha: 1, beta: 0, bias: true },
        20,
      );
      runCase(
        { m: 512, n: 256, k: 520, transA: true, transB: false, batch: 1, alpha: 1, beta: 1, bias: false },
        21,
      );
      runCase(
        { m: 520, n: 256, k: 512, transA: false, transB: false, batch: 1, alpha: 1, beta: 0, bias: false },
        22,
      );
      runCase(
        { m: 65, n: 65, k: 64, transA: false, transB: true, batch: 32, alpha: 0.125, beta: 0, bias: false },
        23,
      );
    });

    it('caches one primitive per problem', () => {
      const addon = loadNativeAddon();
      assert.ok(addon);
      runCase(
        { m: 19, n: 23, k: 29, transA: false, transB: false, batch: 1, alpha: 1, beta: 0, bias: false },
        30,
      );
      const size = addon.matmulCacheSize();
      for (let i = 0; i < 3; i++)
        runCase(
          { m: 19, n: 23, k: 29, transA: false, transB: false, batch: 1, alpha: 1, beta: 0, bias: false },
          31 + i,
        );
      assert.equal(addon.matmulCacheSize(), size);
    });
  });

  describe('element-wise', () => {
    const domains: Record<UnaryOp, [number, number]> = {
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
    const sizes = [1, 7, 255, 256, 1001, 70001];

    it('unary forward, every op', () => {
      let seed = 1;
      for (const op of Object.keys(domains) as UnaryOp[])
        for (const n of sizes) {
          const [lo, hi] = domains[op];
          const x = rand(n, seed++, lo, hi);
          if (op === 'relu' || op === 'abs') x[0] = 0;
          const yJ = new Float32Array(n);
          const yN = new Float32Array(n);
          js.unary(op, x, yJ);
          N().unary(op, x, yN);
          close(yN, yJ, 2e-6, 1e-6, `unary ${op} n=${n}`);
        }
    });

    it('unary forward in place', () => {
      for (const op of ['exp', 'gelu', 'sqrt', 'neg'] as UnaryOp[]) {
        const x = rand(5000, 3, 0.1, 2);
        const expect = new Float32Array(x.length);
        js.unary(op, x, expect);
        N().unary(op, x, x);
        close(x, expect, 2e-6, 1e-6, `in-place ${op}`);
      }
    });

    it('unary backward, every op', () => {
      let seed = 500;
      for (const op of Object.keys(domains) as UnaryOp[])
        for (const n of sizes) {
          const [lo, hi] = domains[op];
          const x = rand(n, seed++, lo, hi);
          if (op === 'relu' || op === 'abs') x[0] = 0;
          const y = new Float32Array(n);
          js.unary(op, x, y);
          const dy = rand(n, seed++);
          const dJ = new Float32Array(n);
          const dN = new Float32Array(n);
          js.unaryBackward(op, x, y, dy, dJ);
          N().unaryBackward(op, x, y, dy, dN);
          close(dN, dJ, 1e-5, 1e-6, `unaryBackward ${op} n=${n}`);
        }
    });

    it('affine and pow', () => {
      for (const n of [1, 9, 40000]) {
        const x = rand(n, n, 0.05, 3);
        for (const [al, be] of [
          [2, 0.5],
          [-1, 0],
          [0.1, -3],
        ]) {
          const yJ = new Float32Array(n);
          const yN = new Float32Array(n);
          js.affine(x, al, be, yJ);
          N().affine(x, al, be, yN);
          close(yN, yJ, 1e-6, 1e-6, `affine ${al} ${be}`);
        }
        for (const p of [0, 1, 2, 3, 0.5, -0.5, -1, 1.7, -2.3]) {
          const yJ = new Float32Array(n);
          const yN = new Float32Array(n);
          js.pow(x, p, yJ);
          N().pow(x, p, yN);
          close(yN, yJ, 1e-6, 1e-7, `pow ${p}`);
        }
      }
    });
  });

  describe('binary', () => {
    const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min'];
    function check(
      op: BinaryOp,
      aShape: number[],
      bShape: number[],
      seed: number,
      aStrides?: number[],
    ): void {
      const rank = Math.max(aShape.length, bShape.length);
      const pa = [...new Array<number>(rank - aShape.length).fill(1), ...aShape];
      const pb = [...new Array<number>(rank - bShape.length).fill(1), ...bShape];
      const out = pa.map((d, i) => (d === 1 ? pb[i] : d));
      const total = out.reduce((x, y) => x * y, 1);
      const aLen = Math.max(
        1,
        aShape.reduce((x, y) => x * y, 1),
      );
      const a = { data: rand(aLen, seed, 0.5, 2), strides: aStrides ?? broadcastStrides(aShape, out) };
      const b = {
        data: rand(
          Math.max(
            1,
            bShape.reduce((x, y) => x * y, 1),
          ),
          seed + 1,
          0.5,
          2,
        ),
        strides: broadcastStrides(bShape, out),
      };
      const yJ = new Float32Array(total);
      const yN = new Float32Array(total);
      js.binary(op, a, b, yJ, out);
      N().binary(op, a, b, yN, out);
      close(yN, yJ, 1e-6, 1e-7, `binary ${op} ${JSON.stringify(aShape)} ${JSON.stringify(bShape)}`);
    }

    it('same shape, scalar, row, column, middle and outer broadcasts', () => {
      const cases: [number[], number[]][] = [
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
      ];
      let seed = 1;
      for (const op of ops) for (const [sa, sb] of cases) check(op, sa, sb, seed++);
    });

    it('rank 0, empty, and a transposed (non-contiguous) operand', () => {
      for (const op of ops) {
        check(op, [], [], 3);
        check(op, [0, 4], [4], 4);
        // a is stored [6, 5] and read as its transpose [5, 6].
        check(op, [5, 6], [6], 5, [1, 5]);
        check(op, [300, 200], [300, 200], 6, [1, 300]);
      }
    });
  });

  describe('reductions', () => {
    const dims: [number, number, number][] = [
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
    it('reduceSum over [outer, r, inner]', () => {
      let seed = 1;
      for (const [o, r, i] of dims) {
        const x = rand(o * r * i, seed++);
        const yJ = new Float32Array(o * i);
        const yN = new Float32Array(o * i).fill(7);
        js.reduceSum(x, yJ, o, r, i);
        N().reduceSum(x, yN, o, r, i);
        close(yN, yJ, 1e-6, 1e-6, `reduceSum ${o},${r},${i}`);
      }
    });

    it('reduceMax with and without argmax, NaN propagation and ties', () => {
      let seed = 50;
      for (const [o, r, i] of dims) {
        if (r === 0) continue;
        const x = rand(o * r * i, seed++);
        for (let t = 0; t < x.length; t += 97) x[t] = 0.5; // ties
        if (x.length > 10) {
          x[3] = NaN;
          x[x.length - 2] = NaN;
        }
        const yJ = new Float32Array(o * i);
        const yN = new Float32Array(o * i);
        const aJ = new Int32Array(o * i);
        const aN = new Int32Array(o * i);
        js.reduceMax(x, yJ, o, r, i, aJ);
        N().reduceMax(x, yN, o, r, i, aN);
        exact(yN, yJ, `reduceMax ${o},${r},${i}`);
        exact(aN, aJ, `argmax ${o},${r},${i}`);
        const y2 = new Float32Array(o * i);
        N().reduceMax(x, y2, o, r, i);
        exact(y2, yJ, `reduceMax (no argmax) ${o},${r},${i}`);
      }
    });

    it('sumSquares in double precision', () => {
      for (const n of [0, 1, 17, 1000003]) {
        const x = rand(n, n + 1, -3, 3);
        const a = N().sumSquares(x);
        const e = js.sumSquares(x);
        assert.ok(Math.abs(a - e) <= 1e-12 * Math.max(1, e), `sumSquares n=${n}: ${a} vs ${e}`);
      }
    });
  });

  describe('stridedCopy', () => {
    function check(
      srcLen: number,
      srcOffset: number,
      srcStrides: number[],
      dstLen: number,
      dstOffset: number,
      dstStrides: number[],
      shape: number[],
      accumulate: boolean,
      seed: number,
    ): void {
      const src = rand(srcLen, seed);
      const d0 = rand(dstLen, seed + 1);
      const dJ = d0.slice();
      const dN = d0.slice();
      js.stridedCopy(src, srcOffset, srcStrides, dJ, dstOffset, dstStrides, shape, accumulate);
      N().stridedCopy(src, srcOffset, srcStrides, dN, dstOffset, dstStrides, shape, accumulate);
      close(
        dN,
        dJ,
        1e-6,
        1e-7,
        `stridedCopy ${JSON.stringify({ srcStrides, dstStrides, shape, accumulate })}`,
      );
    }

    it('contiguous, permutes, slices, broadcasts, flips, accumulation', () => {
      for (const acc of [false, true]) {
        // contiguous
        check(100000, 0, [1], 100000, 0, [1], [100000], acc, 1);
        check(12, 0, [4, 1], 12, 0, [4, 1], [3, 4], acc, 2);
        // [B, N, 3, H, hd] -> [3, B, H, N, hd] (qkv split)
        const [B, T, H, hd] = [4, 65, 4, 16];
        const D = H * hd;
        const srcS = [T * 3 * D, 3 * D, D, hd, 1];
        const dstS = [H * T * hd, hd, B * H * T * hd, T * hd, 1]; // [3, B, H, T, hd] walked as [B, T, 3, H, hd]
        check(B * T * 3 * D, 0, srcS, 3 * B * H * T * hd, 0, dstS, [B, T, 3, H, hd], acc, 3);
        // 2-D transpose
        check(300 * 200, 0, [1, 300], 300 * 200, 0, [200, 1], [300, 200], acc, 4);
        // slice with offsets (columns 5..15 of a [40, 30] into a [40, 10])
        check(1200, 5, [30, 1], 400, 0, [10, 1], [40, 10], acc, 5);
        // concat: write into the second half of [8, 2, 7]
        check(56, 0, [7, 1], 112, 7, [14, 1], [8, 7], acc, 6);
        // broadcast expand [1, 256] -> [520, 256]
        check(256, 0, [0, 1], 520 * 256, 0, [256, 1], [520, 256], acc, 7);
        // flip (negative stride)
        check(50, 49, [-1], 50, 0, [1], [50], acc, 8);
        // rank 0 and one element
        check(3, 2, [], 4, 1, [], [], acc, 9);
        check(1, 0, [1], 1, 0, [1], [1], acc, 10);
        // unit axes and rank 8
        check(
          2 * 3 * 2 * 2,
          0,
          [12, 4, 2, 1, 0, 0, 0, 0],
          48,
          0,
          [1, 2, 6, 24, 0, 0, 0, 0],
          [2, 3, 2, 2, 1, 1, 1, 1],
          acc,
          11,
        );
      }
      // gradient of expand: destination stride 0 accumulates in order
      check(520 * 256, 0, [256, 1], 256, 0, [0, 1], [520, 256], true, 12);
      check(520 * 256, 0, [256, 1], 256, 0, [0, 1], [520, 256], false, 13);
    });
  });

  describe('softmax', () => {
    const shapes: [number, number][] = [
      [1, 1],
      [3, 7],
      [1000, 65],
      [33, 1000],
      [4, 10],
    ];
    it('forward and backward, softmax and log-softmax', () => {
      let seed = 1;
      for (const log of [false, true])
        for (const [rows, cols] of shapes) {
          const n = rows * cols;
          const x = rand(n, seed++, -8, 8);
          const yJ = new Float32Array(n);
          const yN = new Float32Array(n);
          js.softmax(x, yJ, rows, cols, log);
          N().softmax(x, yN, rows, cols, log);
          close(yN, yJ, 1e-5, 1e-6, `softmax log=${log} ${rows}x${cols}`);
          const dy = rand(n, seed++);
          const dJ = new Float32Array(n);
          const dN = new Float32Array(n);
          js.softmaxBackward(yJ, dy, dJ, rows, cols, log);
          N().softmaxBackward(yJ, dy, dN, rows, cols, log);
          close(dN, dJ, 1e-5, 1e-5, `softmaxBackward log=${log} ${rows}x${cols}`);
        }
    });
  });

  describe('layerNorm', () => {
    const shapes: [number, number][] = [
      [1, 1],
      [3, 7],
      [65, 256],
      [1040, 256],
      [7, 1000],
      [130, 65],
    ];
    it('forward: affine or not, with and without the LaPE addend', () => {
      let seed = 1;
      for (const [rows, cols] of shapes)
        for (const affine of [true, false])
          for (const withAddend of [false, true]) {
            const n = rows * cols;
            const x = rand(n, seed++, -2, 3);
            const gamma = affine ? rand(cols, seed++, 0.5, 1.5) : null;
            const beta = affine ? rand(cols, seed++) : null;
            const addRows = Math.min(rows, 65);
            const addend = withAddend ? { data: rand(addRows * cols, seed++), rows: addRows } : undefined;
            const out = () => ({
              y: new Float32Array(n),
              mean: new Float32Array(rows),
              rstd: new Float32Array(rows),
            });
            const J = out();
            const M = out();
            js.layerNorm(x, gamma, beta, J.y, J.mean, J.rstd, rows, cols, 1e-6, addend);
            N().layerNorm(x, gamma, beta, M.y, M.mean, M.rstd, rows, cols, 1e-6, addend);
            const what = `layerNorm ${rows}x${cols} affine=${affine} addend=${withAddend}`;
            close(M.y, J.y, 1e-5, 1e-5, what);
            close(M.mean, J.mean, 1e-5, 1e-6, `${what} mean`);
            close(M.rstd, J.rstd, 1e-5, 1e-5, `${what} rstd`);
          }
      // gamma without beta and beta without gamma
      const x = rand(3 * 50, 9);
      for (const [g, b] of [
        [rand(50, 10), null],
        [null, rand(50, 11)],
      ]) {
        const J = { y: new Float32Array(150), mean: new Float32Array(3), rstd: new Float32Array(3) };
        const M = { y: new Float32Array(150), mean: new Float32Array(3), rstd: new Float32Array(3) };
        js.layerNorm(x, g, b, J.y, J.mean, J.rstd, 3, 50, 1e-5);
        N().layerNorm(x, g, b, M.y, M.mean, M.rstd, 3, 50, 1e-5);
        close(M.y, J.y, 1e-5, 1e-5, 'layerNorm partial affine');
      }
    });

    it('backward: dx, dgamma, dbeta', () => {
      let seed = 100;
      for (const [rows, cols] of shapes)
        for (const affine of [true, false])
          for (const wantParams of [true, false]) {
            const n = rows * cols;
            const x = rand(n, seed++, -2, 3);
            const gamma = affine ? rand(cols, seed++, 0.5, 1.5) : null;
            const y = new Float32Array(n);
            const mean = new Float32Array(rows);
            const rstd = new Float32Array(rows);
            js.layerNorm(x, gamma, null, y, mean, rstd, rows, cols, 1e-5);
            const dy = rand(n, seed++);
            const res = () => ({
              dx: new Float32Array(n),
              dg: wantParams ? new Float32Array(cols).fill(9) : null,
              db: wantParams ? new Float32Array(cols).fill(9) : null,
            });
            const J = res();
            const M = res();
            js.layerNormBackward(x, gamma, mean, rstd, dy, J.dx, J.dg, J.db, rows, cols);
            N().layerNormBackward(x, gamma, mean, rstd, dy, M.dx, M.dg, M.db, rows, cols);
            const what = `layerNormBackward ${rows}x${cols} affine=${affine}`;
            close(M.dx, J.dx, 1e-4, 2e-5, `${what} dx`);
            if (J.dg && M.dg) close(M.dg, J.dg, 1e-5, 1e-4, `${what} dgamma`);
            if (J.db && M.db) close(M.db, J.db, 1e-5, 1e-4, `${what} dbeta`);
          }
    });
  });

  describe('dropoutMask', () => {
    it('is bit-exact with the portable backend', () => {
      for (const seed of [0, 1, 12345, 0x7fffffff, 0xffffffff, 2 ** 32 + 5, -7])
        for (const p of [0, 0.1, 0.5, 1 / 3, 0.999, 1, 1e-9])
          for (const n of [1, 17, 100003]) {
            const mJ = new Float32Array(n);
            const mN = new Float32Array(n).fill(3);
            js.dropoutMask(seed, p, mJ);
            N().dropoutMask(seed, p, mN);
            exact(mN, mJ, `dropoutMask seed=${seed} p=${p} n=${n}`);
          }
    });
  });

  describe('convolution helpers', () => {
    const geoms: [number, number, number, number, number, number, number][] = [
      // c, h, w, kh, kw, stride, pad
      [3, 32, 32, 4, 4, 4, 0],
      [3, 8, 8, 3, 3, 1, 1],
      [2, 7, 5, 3, 2, 2, 1],
      [1, 1, 1, 1, 1, 1, 0],
      [2, 5, 5, 3, 3, 2, 2],
      [4, 6, 9, 1, 1, 1, 0],
    ];
    it('im2col and col2im', () => {
      let seed = 1;
      for (const [c, h, w, kh, kw, stride, pad] of geoms) {
        const outH = Math.floor((h + 2 * pad - kh) / stride) + 1;
        const outW = Math.floor((w + 2 * pad - kw) / stride) + 1;
        const x = rand(c * h * w, seed++);
        const nCols = c * kh * kw * outH * outW;
        const cJ = new Float32Array(nCols);
        const cN = new Float32Array(nCols).fill(5);
        js.im2col(x, cJ, c, h, w, kh, kw, stride, pad, outH, outW);
        N().im2col(x, cN, c, h, w, kh, kw, stride, pad, outH, outW);
        exact(cN, cJ, `im2col ${[c, h, w, kh, kw, stride, pad]}`);
        const cols = rand(nCols, seed++);
        const dJ = rand(c * h * w, seed);
        const dN = dJ.slice();
        js.col2im(cols, dJ, c, h, w, kh, kw, stride, pad, outH, outW);
        N().col2im(cols, dN, c, h, w, kh, kw, stride, pad, outH, outW);
        close(dN, dJ, 1e-6, 1e-6, `col2im ${[c, h, w, kh, kw, stride, pad]}`);
      }
    });

    it('maxPool2d with argmax', () => {
      const cases: [number, number, number, number, number, number][] = [
        [4, 8, 8, 3, 2, 1],
        [2, 7, 9, 3, 2, 1],
        [1, 1, 1, 1, 1, 0],
        [3, 5, 5, 2, 2, 0],
        [64, 32, 32, 3, 2, 1],
      ];
      let seed = 1;
      for (const [planes, h, w, k, stride, pad] of cases) {
        const outH = Math.floor((h + 2 * pad - k) / stride) + 1;
        const outW = Math.floor((w + 2 * pad - k) / stride) + 1;
        const x = rand(planes * h * w, seed++);
        for (let i = 0; i < x.length; i += 11) x[i] = 0.25; // ties
        const o = planes * outH * outW;
        const yJ = new Float32Array(o);
        const yN = new Float32Array(o);
        const aJ = new Int32Array(o);
        const aN = new Int32Array(o);
        js.maxPool2d(x, yJ, aJ, planes, h, w, k, stride, pad, outH, outW);
        N().maxPool2d(x, yN, aN, planes, h, w, k, stride, pad, outH, outW);
        exact(yN, yJ, `maxPool2d ${[planes, h, w, k, stride, pad]}`);
        exact(aN, aJ, `maxPool2d argmax ${[planes, h, w, k, stride, pad]}`);
      }
    });
  });

  describe('gather / scatter-add rows', () => {
    it('with repeated indices, narrow and wide rows', () => {
      for (const [rows, width, count] of [
        [1, 1, 1],
        [10, 3, 25],
        [225, 4, 4225],
        [100, 256, 5000],
      ]) {
        const x = rand(rows * width, width);
        const idx = new Int32Array(count);
        for (let i = 0; i < count; i++) idx[i] = (i * 7919 + 3) % rows;
        const gJ = new Float32Array(count * width);
        const gN = new Float32Array(count * width);
        js.gatherRows(x, idx, gJ, width);
        N().gatherRows(x, idx, gN, width);
        exact(gN, gJ, `gatherRows ${rows} ${width}`);
        const dy = rand(count * width, count);
        const dJ = rand(rows * width, 5);
        const dN = dJ.slice();
        js.scatterAddRows(dy, idx, dJ, width);
        N().scatterAddRows(dy, idx, dN, width);
        close(dN, dJ, 1e-6, 1e-6, `scatterAddRows ${rows} ${width}`);
      }
    });
  });

  describe('optimizers', () => {
    it('adamw', () => {
      for (const n of [1, 33, 100000])
        for (const [wd, step] of [
          [0, 1],
          [0.05, 1],
          [0.05, 10],
          [0.1, 1000],
        ]) {
          const p0 = rand(n, n + step);
          const g = rand(n, n + step + 1, -0.1, 0.1);
          const m0 = rand(n, 3, -0.01, 0.01);
          const v0 = rand(n, 4, 0, 1e-4);
          const J = { p: p0.slice(), m: m0.slice(), v: v0.slice() };
          const M = { p: p0.slice(), m: m0.slice(), v: v0.slice() };
          js.adamw(J.p, g, J.m, J.v, 1e-3, 0.9, 0.999, 1e-8, wd, step);
          N().adamw(M.p, g, M.m, M.v, 1e-3, 0.9, 0.999, 1e-8, wd, step);
          close(M.p, J.p, 1e-6, 1e-6, `adamw p n=${n} wd=${wd} step=${step}`);
          close(M.m, J.m, 1e-6, 1e-9, 'adamw m');
          close(M.v, J.v, 1e-6, 1e-12, 'adamw v');
        }
    });

    it('sgd: plain, momentum, dampening, nesterov, first step', () => {
      for (const n of [1, 33, 100000])
        for (const [mom, damp, wd, nesterov, first] of [
          [0, 0, 0, false, false],
          [0, 0, 1e-4, false, true],
          [0.9, 0, 0, false, true],
          [0.9, 0, 5e-4, false, false],
          [0.9, 0.1, 5e-4, false, false],
          [0.9, 0, 5e-4, true, false],
          [0.9, 0, 5e-4, true, true],
        ] as [number, number, number, boolean, boolean][]) {
          const p0 = rand(n, n);
          const g = rand(n, n + 1);
          const b0 = rand(n, n + 2);
          const J = { p: p0.slice(), b: b0.slice() };
          const M = { p: p0.slice(), b: b0.slice() };
          js.sgd(J.p, g, J.b, 0.01, mom, damp, wd, nesterov, first);
          N().sgd(M.p, g, M.b, 0.01, mom, damp, wd, nesterov, first);
          const what = `sgd ${[n, mom, damp, wd, nesterov, first]}`;
          close(M.p, J.p, 1e-6, 1e-7, what);
          close(M.b, J.b, 1e-6, 1e-7, `${what} buf`);
        }
    });
  });

  describe('bad input', () => {
    it('the wrapper rejects short buffers with a RangeError', () => {
      const f = new Float32Array(4);
      assert.throws(
        () =>
          N().matmul({
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
          }),
        RangeError,
      );
      assert.throws(() => N().unary('exp', f, new Float32Array(5)), RangeError);
      assert.throws(() => N().softmax(f, f, 2, 3, false), RangeError);
      assert.throws(() => N().layerNorm(f, null, null, f, f, f, 2, 4, 1e-5), RangeError);
      assert.throws(
        () => N().binary('add', { data: f, strides: [1] }, { data: f, strides: [1] }, f, [5]),
        RangeError,
      );
      assert.throws(() => N().stridedCopy(f, 2, [1], f, 0, [1], [3], false), RangeError);
    });

    it('the addon itself throws (does not crash) on short or wrong buffers', () => {
      const addon = loadNativeAddon();
      assert.ok(addon);
      const f = new Float32Array(4);
      assert.throws(
        () => addon.matmul(f, f, f, 4, 4, 4, false, false, 1, 0, 0, 0, 1, 0, null),
        /needs at least/,
      );
      assert.throws(
        () => addon.matmul(f, f, f, 2, 2, 2, false, false, 3, 4, 4, 4, 1, 0, null),
        /needs at least/,
      );
      assert.throws(() => addon.softmax(f, f, 3, 3, false), /needs at least/);
      assert.throws(() => addon.layerNorm(f, null, null, f, f, f, 1, 4, 1e-5, f, 2), /needs at least/);
      assert.throws(() => addon.unary(1, new Float32Array(2), f), /needs at least/);
      assert.throws(() => addon.unary(99, f, f), /unknown op/);
      assert.throws(() => addon.binary(0, f, f, f, new Float64Array([1, 4, 2, 1])), /too short/);
      assert.throws(() => addon.stridedCopy(f, f, new Float64Array([1, 0, 3, 2, 1, 1]), false), /too short/);
      assert.throws(
        () => addon.gatherRows(f, new Int32Array([0, 5]), new Float32Array(2), 1),
        /index out of range/,
      );
      assert.throws(() => addon.scatterAddRows(f, new Int32Array([-1]), f, 1), /index out of range/);
      assert.throws(() => addon.im2col(f, f, 1, 2, 2, 3, 3, 1, 1, 2, 2), /needs at least/);
      assert.throws(() => addon.maxPool2d(f, f, new Int32Array(1), 1, 2, 2, 2, 1, 0, 1, 2), /needs at least/);
      assert.throws(
        () => addon.adamw(f, new Float32Array(3), f, f, 1, 0.9, 0.99, 1e-8, 0, 1),
        /needs at least/,
      );
      assert.throws(() => addon.reduceSum(f, f, 1, 5, 1), /needs at least/);
      assert.throws(() => addon.dropoutMask(-1, 0.5, f), /uint32/);
      // Wrong types.
      assert.throws(() => addon.unary(1, [1, 2] as unknown as Float32Array, f), /Float32Array/);
      assert.throws(
        () => addon.gatherRows(f, new Float32Array(1) as unknown as Int32Array, f, 1),
        /Int32Array/,
      );
      assert.throws(
        () => addon.matmul(f, f, f, -1, 1, 1, false, false, 1, 0, 0, 0, 1, 0, null),
        /non-negative integer/,
      );
      assert.throws(
        () => addon.matmul(f, f, f, 1.5, 1, 1, false, false, 1, 0, 0, 0, 1, 0, null),
        /non-negative integer/,
      );
    });
  });
});
