import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEIT_REPEATED_AUGMENTATION, batchCount, epochLength, epochOrder } from './sampler.js';

describe('samplers', () => {
  it('sequential order is the identity', () => {
    assert.deepEqual([...epochOrder(5, { kind: 'sequential' }, 1, 0)], [0, 1, 2, 3, 4]);
  });

  it('shuffled order is a permutation fixed by (seed, epoch)', () => {
    const a = epochOrder(100, { kind: 'shuffle' }, 7, 3);
    assert.deepEqual(
      [...a].sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.deepEqual(a, epochOrder(100, { kind: 'shuffle' }, 7, 3));
    assert.notDeepEqual(a, epochOrder(100, { kind: 'shuffle' }, 7, 4));
    assert.notDeepEqual(a, epochOrder(100, { kind: 'shuffle' }, 8, 3));
  });

  it("repeated augmentation repeats each index 3 times and keeps floor(N / 256) * 256 (DeiT's RASampler)", () => {
    const cfg = { kind: 'repeated-augmentation', shuffle: true, ra: DEIT_REPEATED_AUGMENTATION } as const;
    const order = epochOrder(1000, cfg, 1, 0);
    assert.equal(order.length, 768);
    assert.equal(epochLength(1000, cfg), 768);
    for (let p = 0; p < 768; p += 3) assert.ok(order[p] === order[p + 1] && order[p] === order[p + 2]);
    assert.equal(new Set(order).size, 256);
    const plain = epochOrder(
      10,
      { kind: 'repeated-augmentation', shuffle: false, ra: { repeats: 2, multipleOf: 4 } },
      0,
      0,
    );
    assert.deepEqual([...plain], [0, 0, 1, 1, 2, 2, 3, 3]);
  });

  it('counts batches with and without dropLast', () => {
    assert.equal(batchCount(10, 4, true), 2);
    assert.equal(batchCount(10, 4, false), 3);
    assert.equal(batchCount(8, 4, false), 2);
  });
});
