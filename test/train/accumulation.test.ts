/**
 * Gradient accumulation (--accum-iter N): N micro-batches of B give the step one batch of N x B gives.
 * The loader produces the micro-batches as exact pieces of the big batch (same order, augmentation and
 * mixup), and the step draws the big batch's dropout/drop-path masks row by row; the parameters after
 * the step (plain SGD: the update is the gradient) agree within float rounding. With and without mixup, drop path and dropout, on every backend.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Batch } from '../../src/data/batch.js';
import { createLoader } from '../../src/data/loader.js';
import { DEIT_MIXUP } from '../../src/data/mixup.js';
import { MemorySource } from '../../src/data/source.js';
import { IMAGENET_STATS } from '../../src/data/stats.js';
import { deitTrainTransform } from '../../src/data/transforms/pipeline.js';
import { createModel } from '../../src/models/registry.js';
import { Sgd } from '../../src/optim/sgd.js';
import { trainStep, type StepContext } from '../../src/train/step.js';
import { Rng } from '../../src/tensor/random.js';
import { assertClose, describeBackends } from '../util.js';

const N = 3;
const B = 4;

function source(): MemorySource {
  const rng = new Rng(5);
  const n = 40;
  const images = Uint8Array.from({ length: n * 20 * 20 * 3 }, () => rng.int(256));
  return new MemorySource({
    kind: 'memory',
    images,
    labels: Int32Array.from({ length: n }, (_, i) => i % 10),
    height: 20,
    width: 20,
    channels: 3,
    classNames: Array.from({ length: 10 }, (_, i) => `c${i}`),
  });
}

async function batches(
  mixup: boolean,
  mode: 'batch' | 'pair' | 'elem',
  accumulation: number,
  size: number,
): Promise<Batch[]> {
  const loader = await createLoader({
    source: source(),
    transform: deitTrainTransform({ size: 16, channels: 3, normalize: IMAGENET_STATS, reprob: 0.5 }),
    batchSize: size,
    shuffle: true,
    seed: 11,
    epoch: 2,
    workers: 0,
    dropLast: true,
    mixup: mixup ? { ...DEIT_MIXUP, mode } : null,
    labelSmoothing: 0.1,
    accumulation,
  });
  const out: Batch[] = [];
  for await (const b of loader) out.push(b);
  return out;
}

function concat(parts: Batch[]): Batch {
  const cat = <T extends Float32Array | Int32Array>(arrays: T[], make: (n: number) => T): T => {
    const out = make(arrays.reduce((n, a) => n + a.length, 0));
    let o = 0;
    for (const a of arrays) {
      out.set(a, o);
      o += a.length;
    }
    return out;
  };
  return {
    images: cat(
      parts.map((p) => p.images),
      (n) => new Float32Array(n),
    ),
    labels: cat(
      parts.map((p) => p.labels),
      (n) => new Int32Array(n),
    ),
    targets: parts[0].targets
      ? cat(
          parts.map((p) => p.targets as Float32Array),
          (n) => new Float32Array(n),
        )
      : null,
    size: parts.reduce((n, p) => n + p.size, 0),
  };
}

function context(dropPath: number, drop: number): StepContext {
  const model = createModel(
    'lape_tiny',
    { join: 'LaPE', dropPathRate: dropPath, attnDropRate: drop, dropRate: drop },
    { seed: 4 },
  );
  model.train();
  return {
    model,
    // Plain SGD with lr 1: the update is the gradient itself (an adaptive optimizer would blow rounding
    // noise in near-zero gradients, such as the key bias's, up to +-lr).
    optimizer: new Sgd([{ params: model.parameters() }], { lr: 1 }),
    criterion: { kind: 'soft-target' },
    distillation: { kind: 'none' },
    teacher: null,
    clipGrad: null,
    ema: null,
    amp: false,
  };
}

describeBackends('gradient accumulation', () => {
  for (const mixup of [false, true]) {
    for (const [dropPath, drop] of [
      [0, 0],
      [0.3, 0.1],
    ]) {
      it(`${N} micro-batches of ${B} = one batch of ${N * B} (mixup ${mixup}, drop path ${dropPath}, dropout ${drop})`, async () => {
        const whole = await batches(mixup, 'batch', 1, N * B);
        const micro = await batches(mixup, 'batch', N, B);
        assert.equal(micro.length, N * whole.length, 'the epoch keeps whole accumulation steps only');
        // The loader: micro-batches are exact pieces of the big batch (augmentation and mixing).
        const joined = concat(micro.slice(0, N));
        assert.deepEqual(joined.labels, whole[0].labels);
        assert.ok(
          joined.images.every((v, i) => Object.is(v, whole[0].images[i])),
          'images bit for bit',
        );
        assert.deepEqual(joined.targets, whole[0].targets);
        // The step: the same update, and the same random stream after it.
        const a = context(dropPath, drop);
        const b = context(dropPath, drop);
        const la = trainStep(a, { ...whole[0], targets: whole[0].targets ?? smooth(whole[0]) });
        const lb = trainStep(
          b,
          micro.slice(0, N).map((m) => ({ ...m, targets: m.targets ?? smooth(m) })),
        );
        assert.ok(Math.abs(la - lb) < 1e-5, `loss ${la} vs ${lb}`);
        const pa = a.model.namedParameters();
        const pb = new Map(b.model.namedParameters());
        for (const [name, p] of pa) assertClose((pb.get(name) as typeof p).data, p.data, 1e-6, 1e-5, name);
        assert.deepEqual(b.model.rng.state(), a.model.rng.state());
        a.optimizer.dispose();
        b.optimizer.dispose();
        a.model.dispose();
        b.model.dispose();
      });
    }
  }

  it('pair and elem mixing: micro-batches are exact pieces of the big batch', async () => {
    for (const mode of ['pair', 'elem'] as const) {
      const whole = await batches(true, mode, 1, N * B);
      const micro = await batches(true, mode, N, B);
      const joined = concat(micro.slice(N, 2 * N));
      assert.ok(
        joined.images.every((v, i) => Object.is(v, whole[1].images[i])),
        `${mode}: images`,
      );
      assert.deepEqual(joined.targets, whole[1].targets, `${mode}: targets`);
    }
  });
});

/** Smoothed one-hot targets (the loader gives them whenever smoothing or mixup is on). */
function smooth(b: Batch): Float32Array {
  const t = new Float32Array(b.size * 10).fill(0.01);
  b.labels.forEach((y, i) => (t[i * 10 + y] = 0.91));
  return t;
}
