import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from './rng.js';

function moments(n: number, draw: () => number): { mean: number; variance: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const v = draw();
    s += v;
    s2 += v * v;
  }
  const mean = s / n;
  return { mean, variance: s2 / n - mean * mean };
}

describe('Rng', () => {
  it('is xoshiro128** (known outputs from state [1, 2, 3, 4])', () => {
    const r = Rng.fromState([1, 2, 3, 4]);
    assert.deepEqual([r.nextUint32(), r.nextUint32(), r.nextUint32()], [11520, 0, 5927040]);
  });

  it('derives reproducible, key-sensitive streams', () => {
    const seq = (r: Rng): number[] => Array.from({ length: 5 }, () => r.nextUint32());
    assert.deepEqual(seq(Rng.derive(1, 2, 3)), seq(Rng.derive(1, 2, 3)));
    assert.notDeepEqual(seq(Rng.derive(1, 2, 3)), seq(Rng.derive(1, 2, 4)));
    assert.notDeepEqual(seq(Rng.derive(1, 2)), seq(Rng.derive(1, 2, 0)));
    assert.notDeepEqual(seq(Rng.derive(2 ** 40)), seq(Rng.derive(0)), 'high bits of a key count');
    assert.throws(() => Rng.derive(-1), RangeError);
  });

  it('resumes exactly from state()', () => {
    const a = Rng.derive(7);
    a.uniform();
    const b = Rng.fromState(a.state());
    assert.deepEqual([a.uniform(), a.normal(), a.int(10)], [b.uniform(), b.normal(), b.int(10)]);
  });

  it('draws uniform, integer, normal, gamma and beta variates with the right moments', () => {
    const r = Rng.derive(42);
    const u = moments(200_000, () => r.uniform());
    assert.ok(Math.abs(u.mean - 0.5) < 0.005 && Math.abs(u.variance - 1 / 12) < 0.002, JSON.stringify(u));
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[r.int(6)]++;
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400, String(counts));
    assert.equal(r.int(1), 0);
    assert.throws(() => r.int(0), RangeError);
    for (let i = 0; i < 1000; i++) {
      const v = r.intInclusive(3, 5);
      assert.ok(v >= 3 && v <= 5);
    }
    const n = moments(200_000, () => r.normal());
    assert.ok(Math.abs(n.mean) < 0.01 && Math.abs(n.variance - 1) < 0.02, JSON.stringify(n));
    const g = moments(100_000, () => r.gamma(0.5));
    assert.ok(Math.abs(g.mean - 0.5) < 0.02 && Math.abs(g.variance - 0.5) < 0.04, JSON.stringify(g));
    // Beta(0.8, 0.8): mean 1/2, variance ab / ((a+b)^2 (a+b+1)) = 0.0962.
    const b = moments(100_000, () => r.beta(0.8, 0.8));
    assert.ok(
      Math.abs(b.mean - 0.5) < 0.01 && Math.abs(b.variance - 0.64 / (2.56 * 2.6)) < 0.003,
      JSON.stringify(b),
    );
  });

  it('shuffles into a permutation', () => {
    const a = Rng.derive(3).shuffle(Int32Array.from({ length: 100 }, (_, i) => i));
    assert.deepEqual(
      [...a].sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.notDeepEqual(
      [...a],
      Array.from({ length: 100 }, (_, i) => i),
    );
  });
});
