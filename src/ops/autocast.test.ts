/**
 * Autocast semantics on every backend: GEMM-class ops multiply bfloat16-rounded operands with float32
 * accumulation (checked against float64 references built from the rounded operands), results that
 * only feed GEMMs come out in bfloat16 when asked, gradients stay float32, and the scope nests.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { backward, noGrad } from '../autograd/tape.js';
import { roundToBf16 } from '../tensor/bf16.js';
import { tidy } from '../tensor/memory.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { assertClose, describeBackends, param, randTensor } from '../../test/util.js';
import { attention } from './attention.js';
import { add, mul } from './binary.js';
import { autocast, gemmDType } from './autocast.js';
import { conv2d } from './conv2d.js';
import { addDropPath } from './dropout.js';
import { layerNorm } from './layer_norm.js';
import { linear } from './linear.js';
import { matmul } from './matmul.js';
import { sum } from './reduce.js';
import { gelu } from './unary.js';

const r = roundToBf16;

/** Row-major [m, k] @ [k, n] in float64 over bfloat16-rounded operands (b given as [n, k] when bT). */
function refGemm(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
  bT: boolean,
): number[] {
  const out = new Array<number>(m * n).fill(0);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += r(a[i * k + p]) * r(bT ? b[j * k + p] : b[p * n + j]);
      out[i * n + j] = s;
    }
  return out;
}

const transpose = (a: ArrayLike<number>, rows: number, cols: number): number[] =>
  Array.from({ length: rows * cols }, (_, i) => a[(i % rows) * cols + Math.floor(i / rows)]);

/** Asserts a bfloat16 result is the float result rounded once (within one bfloat16 step). */
function assertRoundedFrom(actual: Tensor, exact: ArrayLike<number>, what: string): void {
  assert.equal(actual.dtype, 'bfloat16', `${what} is bfloat16`);
  const got = actual.toArray();
  for (let i = 0; i < got.length; i++) {
    const step = Math.abs(exact[i]) * 2 ** -7 + 1e-30;
    assert.ok(Math.abs(got[i] - exact[i]) <= step, `${what}[${i}]: ${got[i]} vs ${exact[i]}`);
  }
}

describeBackends('autocast', () => {
  it('is off by default, on inside autocast(), off again inside autocast({ enabled: false })', () => {
    assert.equal(gemmDType(), 'float32');
    autocast(() => {
      assert.equal(gemmDType(), 'bfloat16');
      autocast(() => assert.equal(gemmDType(), 'float32'), { enabled: false });
      assert.equal(gemmDType(), 'bfloat16');
    });
    assert.equal(gemmDType(), 'float32');
    assert.throws(
      () =>
        autocast(() => {
          throw new Error('inside');
        }),
      /inside/,
    );
    assert.equal(gemmDType(), 'float32', 'restored after a throw');
  });

  it('linear multiplies bfloat16-rounded x, W and dy in float32; y, dx, dW, db stay float32', () => {
    const rng = new Rng(3);
    const [rows, k, n] = [7, 33, 9];
    tidy(() => {
      const x = param(randTensor([rows, k], rng, 2));
      const w = param(randTensor([n, k], rng));
      const b = param(randTensor([n], rng));
      const y = autocast(() => linear(x, w, b));
      assert.equal(y.dtype, 'float32');
      const ref = refGemm(x.data, w.data, rows, n, k, true).map((v, i) => v + b.data[i % n]);
      assertClose(y.data, ref, 1e-5, 1e-5, 'y');
      const dy = randTensor([rows, n], rng);
      backward(y, dy);
      assertClose((x.grad as Tensor).data, refGemm(dy.data, w.data, rows, k, n, false), 1e-5, 1e-5, 'dx');
      const dyT = transpose(dy.data, rows, n);
      assertClose((w.grad as Tensor).data, refGemm(dyT, x.data, n, k, rows, false), 1e-5, 1e-5, 'dW');
      const db = Array.from({ length: n }, (_, j) =>
        dy
          .toArray()
          .filter((_, i) => i % n === j)
          .reduce((s, v) => s + v, 0),
      );
      assertClose((b.grad as Tensor).data, db, 1e-5, 1e-5, 'db (from the float32 dy)');
    });
  });

  it('ops asked for a GEMM operand return it in bfloat16 under autocast, float32 outside', () => {
    const rng = new Rng(4);
    tidy(() => {
      const x = randTensor([5, 16], rng, 2);
      const w = randTensor([8, 16], rng);
      const gamma = randTensor([16], rng, 0.5, 1);
      const beta = randTensor([16], rng);
      const opts = { feedsGemm: true };
      assert.equal(linear(x, w, null, opts).dtype, 'float32', 'outside autocast');
      assert.equal(layerNorm(x, gamma, beta, 1e-6, null, opts).dtype, 'float32');
      autocast(() => {
        assertRoundedFrom(linear(x, w, null, opts), refGemm(x.data, w.data, 5, 8, 16, true), 'linear');
        const ln = layerNorm(x, gamma, beta, 1e-6, null, opts);
        const lnF32 = autocast(() => layerNorm(x, gamma, beta, 1e-6), { enabled: false });
        assertRoundedFrom(ln, lnF32.data, 'layerNorm');
        assertRoundedFrom(gelu(x, opts), gelu(x).data, 'gelu');
      });
    });
  });

  it('a bfloat16 activation passes float32 gradients back, equal to the float32 path', () => {
    const rng = new Rng(5);
    tidy(() => {
      const x = param(randTensor([6, 12], rng, 2));
      const gamma = param(randTensor([12], rng, 0.5, 1));
      const dy = randTensor([6, 12], rng);
      const grads = (opts?: { feedsGemm: boolean }): number[][] => {
        x.grad = null;
        gamma.grad = null;
        autocast(() => backward(gelu(layerNorm(x, gamma, null, 1e-6), opts), dy));
        return [(x.grad as unknown as Tensor).toArray(), (gamma.grad as unknown as Tensor).toArray()];
      };
      const [a, b] = [grads(), grads({ feedsGemm: true })];
      assert.deepEqual(b, a);
    });
  });

  it('batched matmul rounds both operands and the incoming gradient', () => {
    const rng = new Rng(6);
    tidy(() => {
      const a = param(randTensor([2, 5, 7], rng));
      const b = param(randTensor([7, 3], rng));
      const y = autocast(() => matmul(a, b));
      const ref = [0, 1].flatMap((i) =>
        refGemm(a.data.subarray(i * 35, (i + 1) * 35), b.data, 5, 3, 7, false),
      );
      assertClose(y.data, ref, 1e-5, 1e-5, 'matmul');
      const dy = randTensor([2, 5, 3], rng);
      backward(y, dy);
      // dB = Σ_batch aᵀ dy over rounded operands.
      const want = new Array<number>(21).fill(0);
      for (let i = 0; i < 2; i++) {
        const g = refGemm(
          transpose(a.data.subarray(i * 35, (i + 1) * 35), 5, 7),
          dy.data.subarray(i * 15, (i + 1) * 15),
          7,
          3,
          5,
          false,
        );
        g.forEach((v, j) => (want[j] += v));
      }
      assertClose((b.grad as Tensor).data, want, 1e-5, 1e-5, 'dB');
    });
  });

  it('attention multiplies rounded q, k, v and probabilities; softmax stays float32', () => {
    const rng = new Rng(7);
    const [bsz, m, heads, hd] = [2, 5, 2, 4];
    const d = heads * hd;
    const scale = hd ** -0.5;
    tidy(() => {
      const qkv = randTensor([bsz, m, 3 * d], rng, 2);
      const at = (bi: number, t: number, part: number, h: number, c: number): number =>
        qkv.data[((bi * m + t) * 3 + part) * d + h * hd + c];
      const ref = new Array<number>(bsz * m * d).fill(0);
      for (let bi = 0; bi < bsz; bi++)
        for (let h = 0; h < heads; h++)
          for (let i = 0; i < m; i++) {
            const logits = Array.from({ length: m }, (_, j) => {
              let s = 0;
              for (let c = 0; c < hd; c++) s += r(at(bi, i, 0, h, c)) * r(at(bi, j, 1, h, c));
              return Math.fround(scale * s);
            });
            const mx = Math.max(...logits);
            const e = logits.map((l) => Math.exp(l - mx));
            const z = e.reduce((s, v) => s + v, 0);
            const p = e.map((v) => r(Math.fround(v / z)));
            for (let c = 0; c < hd; c++) {
              let s = 0;
              for (let j = 0; j < m; j++) s += p[j] * r(at(bi, j, 2, h, c));
              ref[(bi * m + i) * d + h * hd + c] = s;
            }
          }
      const out = noGrad(() => autocast(() => attention(qkv, { heads, scale })));
      assertClose(out.data, ref, 1e-4, 1e-5, 'context');
      const half = noGrad(() => autocast(() => attention(qkv, { heads, scale, feedsGemm: true })));
      assertRoundedFrom(half, ref, 'bfloat16 context');
    });
  });

  it('gradients pass between bfloat16 GEMMs in bfloat16; other ops and leaves get float32', () => {
    tidy(() => {
      const run = (amp: boolean): { grads: number[][]; seen: string[] } => {
        const rng = new Rng(12);
        const x = param(randTensor([3, 5, 8], rng, 1));
        const [w1, b1] = [param(randTensor([16, 8], rng, 0.3)), param(randTensor([16], rng, 0.1))];
        const [w2, b2] = [param(randTensor([8, 16], rng, 0.3)), param(randTensor([8], rng, 0.1))];
        const w3 = param(randTensor([4, 8], rng, 0.3));
        const seen: string[] = [];
        autocast(
          () => {
            // LN -> fc1 -> GELU -> fc2, and the LN output also feeds a second linear (two bfloat16
            // gradients meet at the LN output and are summed in float32).
            const h = layerNorm(x, null, null, 1e-6, null, { feedsGemm: true });
            const a = gelu(linear(h, w1, b1), { feedsGemm: true });
            // fc2's output enters a residual add with drop-path, whose kernel hands fc2 a bfloat16 gradient.
            const fc2 = linear(a, w2, b2);
            const r = addDropPath(x, fc2, 0.3, true, new Rng(2));
            const y = add(sum(r), sum(linear(h, w3)));
            for (const t of [h, a, a.gradFn?.inputs[0], fc2]) {
              const fn = t?.gradFn as { name: string; backward: (dy: Tensor) => readonly (Tensor | null)[] };
              const inner = fn.backward;
              fn.backward = (dy) => {
                seen.push(`${fn.name}:${dy.dtype}`);
                return inner(dy);
              };
            }
            backward(y);
          },
          { enabled: amp },
        );
        const leaves = [x, w1, b1, w2, b2, w3];
        for (const t of leaves)
          assert.equal((t.grad as Tensor).dtype, 'float32', 'leaf gradients are float32');
        return { grads: leaves.map((t) => (t.grad as Tensor).toArray()), seen: seen.sort() };
      };
      const [f32, bf16] = [run(false), run(true)];
      assert.deepEqual(f32.seen, ['gelu:float32', 'layerNorm:float32', 'linear:float32', 'linear:float32']);
      // fc2 passes GELU a bfloat16 gradient, GELU passes fc1 one; the LN output's two are summed in float32.
      assert.deepEqual(bf16.seen, [
        'gelu:bfloat16',
        'layerNorm:float32',
        'linear:bfloat16',
        'linear:bfloat16',
      ]);
      f32.grads.forEach((g, i) => assertClose(bf16.grads[i], g, 3e-2, 3e-2, `gradient ${i}`));
      assert.notDeepEqual(bf16.grads, f32.grads, 'autocast changed the arithmetic');
    });
  });

  it('attention and conv2d gradients under autocast stay within bfloat16 error of float32', () => {
    tidy(() => {
      const run = (amp: boolean): number[][] => {
        const rng = new Rng(8); // the same inputs for both runs
        const qkv = param(randTensor([2, 6, 24], rng, 1));
        const img = param(randTensor([2, 3, 8, 8], rng, 1));
        const w = param(randTensor([4, 3, 3, 3], rng, 0.3));
        const qkv2 = param(randTensor([2, 6, 24], rng, 1));
        const weights = randTensor([2, 6, 8], rng, 1);
        autocast(
          () => {
            const a = attention(qkv, { heads: 2, scale: 0.35 });
            const c = conv2d(img, w, null, { stride: 2, padding: 1 });
            // Dropout on the probabilities, fused into the softmax kernel both ways (same mask in both runs).
            const dropped = attention(qkv2, { heads: 2, scale: 0.35, dropout: { p: 0.3, rng: new Rng(4) } });
            backward(sum(a));
            backward(sum(c));
            backward(sum(mul(dropped, weights)));
          },
          { enabled: amp },
        );
        return [qkv, img, w, qkv2].map((t) => (t.grad as Tensor).toArray());
      };
      const [f32, bf16] = [run(false), run(true)];
      f32.forEach((g, i) => assertClose(bf16[i], g, 3e-2, 3e-2, `gradient ${i}`));
      assert.notDeepEqual(bf16, f32, 'autocast changed the arithmetic');
    });
  });
});
