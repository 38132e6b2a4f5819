import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  cosineSimilarityMatrix,
  dropPrefixTokens,
  layerSimilarities,
  patchCell,
  patchIndex,
  tokenMap,
} from './similarity.js';

const PYTHON = '/usr/bin/python3';

/** Why the PyTorch comparison cannot run here, or undefined when it can. */
function torchUnavailable(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0
    ? undefined
    : `PyTorch is not importable by ${PYTHON}: ${r.stderr.trim().split('\n').pop()}`;
}

/** Small deterministic PRNG (mulberry32) so failures are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPe(n: number, d: number, seed: number): Float32Array {
  const r = rng(seed);
  const pe = new Float32Array(n * d);
  for (let i = 0; i < pe.length; i++) pe[i] = (r() - 0.5) * 2;
  // Edge rows: all zeros (the eps clamp makes it similar to nothing), a norm below eps, and a large
  // LayerNorm-like scale.
  pe.fill(0, 2 * d, 3 * d);
  for (let k = 0; k < d; k++) pe[3 * d + k] = k % 2 ? 1e-10 : -1e-10;
  for (let k = 0; k < d; k++) pe[4 * d + k] *= 40;
  return pe;
}

// PyTorch statement of the reference computation. float32 is what the reference runs in; float64
// checks our float64 accumulation more tightly.
const TORCH_SCRIPT = `
import json, sys, torch
import torch.nn.functional as F
req = json.load(sys.stdin)
out = {}
for name, dt in (("f32", torch.float32), ("f64", torch.float64)):
    x = torch.tensor(req["pe"], dtype=torch.float32).to(dt).reshape(req["n"], req["d"])
    x = F.normalize(x, dim=-1, eps=1e-8)
    out[name] = (x @ x.T).reshape(-1).tolist()
json.dump(out, sys.stdout)
`;

const reason = torchUnavailable();

test('cosineSimilarityMatrix matches PyTorch F.normalize(eps=1e-8) @ .T', { skip: reason }, () => {
  const n = 20;
  const d = 48;
  const pe = randomPe(n, d, 1234);
  const r = spawnSync(PYTHON, ['-c', TORCH_SCRIPT], {
    input: JSON.stringify({ n, d, pe: Array.from(pe) }),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(r.status, 0, r.stderr);
  const ref = JSON.parse(r.stdout) as { f32: number[]; f64: number[] };
  const sim = cosineSimilarityMatrix(pe, n, d);
  assert.equal(sim.length, n * n);
  let maxErr32 = 0;
  let maxErr64 = 0;
  for (let i = 0; i < n * n; i++) {
    maxErr32 = Math.max(maxErr32, Math.abs(sim[i] - ref.f32[i]));
    maxErr64 = Math.max(maxErr64, Math.abs(sim[i] - ref.f64[i]));
  }
  assert.ok(maxErr32 <= 1e-5, `max |ours - torch f32| = ${maxErr32}`);
  // Our result is float64-accurate up to the final float32 rounding.
  assert.ok(maxErr64 <= 1e-7, `max |ours - torch f64| = ${maxErr64}`);
});

test('cosineSimilarityMatrix: unit diagonal, symmetry, zero rows, orthogonality', () => {
  const pe = new Float32Array([1, 0, 0, 0, 3, 0, 0, 0, 0, -2, 0, 0]); // n = 4, d = 3
  const sim = cosineSimilarityMatrix(pe, 4, 3);
  assert.deepEqual(Array.from(sim), [1, 0, 0, -1, 0, 1, 0, 0, 0, 0, 0, 0, -1, 0, 0, 1]);
  const r = randomPe(9, 5, 7);
  const s = cosineSimilarityMatrix(r, 9, 5);
  for (let i = 0; i < 9; i++) {
    for (let j = 0; j < 9; j++) assert.equal(s[i * 9 + j], s[j * 9 + i]);
  }
});

test('cosineSimilarityMatrix validates its dimensions', () => {
  assert.throws(() => cosineSimilarityMatrix(new Float32Array(5), 2, 3), /expected n\*d/);
  assert.throws(() => cosineSimilarityMatrix(new Float32Array(0), 0, 3), /invalid dimensions/);
});

test('tokenMap copies one row and checks the token', () => {
  const sim = Float32Array.from({ length: 9 }, (_, i) => i);
  const row = tokenMap(sim, 3, 1);
  assert.deepEqual(Array.from(row), [3, 4, 5]);
  row[0] = 99;
  assert.equal(sim[3], 3, 'returned row is a copy');
  assert.throws(() => tokenMap(sim, 3, 3), /out of range/);
  assert.throws(() => tokenMap(sim, 3, 1.5), /out of range/);
  assert.throws(() => tokenMap(sim, 4, 0), /expected n\*n/);
});

test('dropPrefixTokens removes class/distillation rows; patch index helpers are row-major', () => {
  const pe = Float32Array.from({ length: 12 }, (_, i) => i); // 4 tokens x d=3, 1 prefix
  assert.deepEqual(Array.from(dropPrefixTokens(pe, 4, 3, 1)), [3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(Array.from(dropPrefixTokens(pe, 4, 3, 0)), Array.from(pe));
  assert.throws(() => dropPrefixTokens(pe, 4, 3, 5), /prefix/);
  assert.equal(patchIndex(2, 3, 5), 13);
  assert.deepEqual(patchCell(13, 5), { row: 2, col: 3 });
});

test('layerSimilarities drops the prefix tokens of each layer before comparing', () => {
  const d = 4;
  const patches = randomPe(6, d, 3);
  const withCls = new Float32Array(7 * d);
  withCls.set([9, 9, 9, 9]); // class token slot: must not appear in the result
  withCls.set(patches, d);
  const [l0, l5] = layerSimilarities(
    [
      { index: 0, pe: withCls },
      { index: 5, pe: withCls },
    ],
    7,
    d,
    1,
  );
  assert.equal(l5.index, 5);
  assert.deepEqual(l0.similarity, cosineSimilarityMatrix(patches, 6, d));
});
