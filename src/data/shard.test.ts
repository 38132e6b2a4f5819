/**
 * Data parallelism on the data side: N ranks of batch B see, augment and mix exactly what one process
 * of batch N * B (mixing in N groups) does, bit for bit, and the samplers shard as torch's
 * DistributedSampler and DeiT's RASampler do.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Batch } from './batch.js';
import { createLoader } from './loader.js';
import { DEIT_MIXUP } from './mixup.js';
import { Rng } from '../tensor/random.js';
import {
  type SamplerConfig,
  type Shard,
  DEIT_REPEATED_AUGMENTATION,
  epochLength,
  epochOrder,
} from './sampler.js';
import { MemorySource, sharedBytes, sharedInt32 } from './source.js';
import { FASHION_MNIST_STATS } from './stats.js';
import { deitTrainTransform } from './transforms/pipeline.js';

function syntheticSource(n: number): MemorySource {
  const r = Rng.derive(77);
  const images = sharedBytes(n * 144);
  for (let i = 0; i < images.length; i++) images[i] = r.int(256);
  const labels = sharedInt32(n);
  for (let i = 0; i < n; i++) labels[i] = (i * 7) % 10;
  const classNames = Array.from({ length: 10 }, (_, i) => `c${i}`);
  return new MemorySource({ kind: 'memory', images, labels, height: 12, width: 12, channels: 1, classNames });
}

const shard = (rank: number, replicas: number, pad = true): Shard => ({ rank, replicas, pad });

async function batches(opts: Parameters<typeof createLoader>[0], epoch: number): Promise<Batch[]> {
  const loader = await createLoader(opts);
  const out: Batch[] = [];
  for await (const b of loader.iterate(epoch)) out.push(b);
  return out;
}

describe('data-parallel sharding', () => {
  it('the ranks of a shuffled epoch split every global batch: rank r holds its positions r, r + N, ...', () => {
    const cfg: SamplerConfig = { kind: 'shuffle' };
    const global = epochOrder(48, cfg, 5, 2);
    for (const n of [2, 3, 4]) {
      for (let r = 0; r < n; r++) {
        const mine = epochOrder(48, cfg, 5, 2, shard(r, n));
        assert.equal(mine.length, 48 / n);
        mine.forEach((idx, j) => assert.equal(idx, global[j * n + r], `rank ${r}/${n} position ${j}`));
      }
    }
  });

  it("pads the epoch with its first samples for training (torch's DistributedSampler) and never for evaluation", () => {
    const cfg: SamplerConfig = { kind: 'sequential' };
    // 10 samples on 4 ranks: padded to 12 = [0..9, 0, 1], rank r takes positions r, r+4, r+8.
    assert.deepEqual([...epochOrder(10, cfg, 0, 0, shard(1, 4))], [1, 5, 9]);
    assert.deepEqual([...epochOrder(10, cfg, 0, 0, shard(3, 4))], [3, 7, 1]);
    assert.equal(epochLength(10, cfg, shard(3, 4)), 3);
    // Evaluation: 3, 3, 2, 2 samples, every image exactly once.
    const seen = [0, 1, 2, 3].flatMap((r) => [...epochOrder(10, cfg, 0, 0, shard(r, 4, false))]);
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.deepEqual(
      [0, 1, 2, 3].map((r) => epochLength(10, cfg, shard(r, 4, false))),
      [3, 3, 2, 2],
    );
    // More ranks than samples: torch repeats the order as often as needed.
    assert.deepEqual([...epochOrder(2, cfg, 0, 0, shard(4, 5))], [0]);
  });

  it("repeated augmentation: rank r takes every N-th repeated index and floor(floor(n/256)*256/N) of them (DeiT's RASampler)", () => {
    const cfg: SamplerConfig = {
      kind: 'repeated-augmentation',
      shuffle: true,
      ra: DEIT_REPEATED_AUGMENTATION,
    };
    const n = 1000;
    const whole = epochOrder(n, cfg, 1, 4);
    assert.equal(whole.length, 768);
    for (const replicas of [2, 3]) {
      const per = Math.floor(768 / replicas);
      for (let r = 0; r < replicas; r++) {
        const mine = epochOrder(n, cfg, 1, 4, shard(r, replicas));
        assert.equal(mine.length, per);
        mine.forEach((idx, j) => assert.equal(idx, whole[j * replicas + r]));
      }
    }
    // The three copies of an image land on different ranks when there are 3.
    const ranks = [0, 1, 2].map((r) => epochOrder(n, cfg, 1, 4, shard(r, 3)));
    for (let j = 0; j < 10; j++) assert.ok(ranks[0][j] === ranks[1][j] && ranks[1][j] === ranks[2][j]);
  });

  it('2 ranks x batch 4 load, augment and mix exactly the rows of 1 process x batch 8 mixing in 2 groups', async () => {
    const source = syntheticSource(40);
    const base = {
      source,
      transform: deitTrainTransform({ size: 12, channels: 1, normalize: FASHION_MNIST_STATS }),
      shuffle: true,
      seed: 9,
      workers: 0,
      dropLast: true,
      mixup: { ...DEIT_MIXUP, prob: 1 },
    } as const;
    const epoch = 3;
    const single = await batches({ ...base, batchSize: 8, mixupGroups: 2 }, epoch);
    const ranks = await Promise.all(
      [0, 1].map((r) => batches({ ...base, batchSize: 4, shard: shard(r, 2) }, epoch)),
    );
    assert.equal(single.length, 5);
    const pixels = 144;
    for (let b = 0; b < single.length; b++) {
      for (let r = 0; r < 2; r++) {
        const mine = ranks[r][b];
        assert.equal(mine.size, 4);
        for (let k = 0; k < 4; k++) {
          const row = k * 2 + r;
          assert.equal(mine.labels[k], single[b].labels[row], `batch ${b} rank ${r} sample ${k} label`);
          assert.deepEqual(
            mine.images.subarray(k * pixels, (k + 1) * pixels),
            single[b].images.subarray(row * pixels, (row + 1) * pixels),
            `batch ${b} rank ${r} sample ${k} pixels`,
          );
          assert.deepEqual(
            mine.targets?.subarray(k * 10, (k + 1) * 10),
            single[b].targets?.subarray(row * 10, (row + 1) * 10),
            `batch ${b} rank ${r} sample ${k} soft target`,
          );
        }
      }
    }
    // The groups really are mixed: a soft target holds two classes somewhere.
    assert.ok(single.some((s) => s.targets?.some((v) => v > 0.1 && v < 0.8)));
  });

  it('one mixing group is the plain batch mixing (single-process runs are unchanged)', async () => {
    const base = {
      source: syntheticSource(16),
      transform: deitTrainTransform({ size: 12, channels: 1, normalize: FASHION_MNIST_STATS }),
      batchSize: 8,
      shuffle: true,
      seed: 2,
      workers: 0,
      mixup: DEIT_MIXUP,
    } as const;
    const a = await batches(base, 0);
    const b = await batches({ ...base, mixupGroups: 1, shard: shard(0, 1) }, 0);
    assert.deepEqual(a, b);
  });
});
