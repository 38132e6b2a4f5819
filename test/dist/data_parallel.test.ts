/**
 * Data-parallel training end to end on Open MPI (2 ranks on this machine): 2 ranks x batch B reach the
 * weights of 1 process x batch 2B after 6 steps, for the basic and LaPE joins, with and without drop
 * path / dropout, augmentation and mixup (the single process mixing in 2 groups as the 2 ranks do),
 * and with gradient accumulation on both sides (2 ranks x 2 micro-batches of 2 against 1 process x 2
 * micro-batches of 4).
 *
 * Tolerance: the runs differ only in the order float32 sums are taken (one process sums 8 samples'
 * gradient terms inside each GEMM, two ranks sum 4 each and MPI adds the two partial sums), a few
 * ulps per gradient element; through 6 SGD steps that stays below 1e-7 (measured: 1.5e-8), while any
 * semantic difference (a dropout mask, a mixing pair, the lr scaling, a missing 1/N) moves weights by
 * 1e-2. Adam is the exception for one tensor: the key bias has an exactly-zero gradient (softmax
 * ignores a per-row constant), so its float32 gradient is pure rounding noise, which Adam's
 * normalisation g / sqrt(v) turns into steps of up to lr in either direction: that slice is only
 * bounded by 2 lr per step, the rest of the AdamW run is held to the same 1e-6.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { mpirunArgs } from '../../src/dist/launcher.js';
import { createModel } from '../../src/models/registry.js';
import { loadMpi } from '../../src/dist/mpi.js';
import { defaultTrainConfig, type TrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/train.js';
import { makeImageFolder } from '../train/helpers.js';
import { weightBytes } from './weights.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const hasOpenMpi = spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status === 0;

const TOLERANCE = 1e-6;
const STEPS = 6; // 24 images, global batch 8, 2 epochs
const ADAMW_LR = (0.5 * 8) / 512; // --lr 0.5 scaled by the global batch

const CASES = [
  'basic-plain',
  'basic-regularized',
  'lape-plain',
  'lape-regularized',
  'lape-adamw',
  'lape-regularized-accum',
] as const;
type Case = (typeof CASES)[number];

/**
 * `samples`: samples per optimizer step of one process. The accumulation case takes them as 2
 * micro-batches (--accum-iter 2), so its ranks hold micro-batches of 2 and the single process 4.
 */
function config(data: string, name: Case, samples: number): TrainConfig {
  const d = defaultTrainConfig();
  const regularized = name.includes('regularized');
  const accumIter = name.endsWith('accum') ? 2 : 1;
  const batchSize = samples / accumIter;
  const join = name.startsWith('lape') ? 'LaPE' : 'basic';
  return {
    ...d,
    model: 'lape_tiny',
    modelOverrides: regularized
      ? { join, dropPathRate: 0.2, dropRate: 0.1, attnDropRate: 0.1 }
      : { join, dropPathRate: 0 },
    seed: 3,
    data: { kind: 'image-folder', path: data, skipBadImages: false, workers: 0 },
    batchSize,
    accumIter,
    epochs: 2,
    // --lr is scaled by the global batch (DeiT): both sides must land on the same lr.
    optimizer:
      name === 'lape-adamw'
        ? { kind: 'adamw', lr: 0.5, weightDecay: 0.05, eps: 1e-8, betas: [0.9, 0.999] }
        : { kind: 'sgd', lr: 2, weightDecay: 0.05, momentum: 0.9 },
    schedule: { warmupEpochs: 0, warmupLr: 1e-6, minLr: 1e-5 },
    clipGrad: regularized ? 5 : null,
    // Regularized: RandAugment, random erasing, padded random crop, flips, mixup and cutmix.
    mixup: regularized ? d.mixup : { mixup: 0, cutmix: 0, prob: 1, switchProb: 0.5 },
    augment: regularized
      ? { ...d.augment, repeatedAug: false }
      : {
          ...d.augment,
          autoAugment: null,
          colorJitter: 0,
          reprob: 0,
          cropPadding: 0,
          hflip: 0,
          repeatedAug: false,
        },
    ema: { decay: 0.9 },
    evalEachEpoch: false,
  };
}

/** Largest |a - b| per state-dict tensor, the key third of a qkv bias reported on its own. */
function differences(names: [string, number][], a: Float32Array, b: Float32Array): Map<string, number> {
  const out = new Map<string, number>();
  const note = (key: string, from: number, to: number): void => {
    let m = 0;
    for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    out.set(key, m);
  };
  let at = 0;
  for (const [name, size] of names) {
    if (name.endsWith('attn.qkv.bias')) {
      const third = size / 3;
      note(`${name}[q]`, at, at + third);
      note(`${name}[k]`, at + third, at + 2 * third);
      note(`${name}[v]`, at + 2 * third, at + size);
    } else note(name, at, at + size);
    at += size;
  }
  return out;
}

describe('data-parallel training on MPI', { skip: hasOpenMpi ? false : 'Open MPI is not installed' }, () => {
  let data = '';
  before(async () => {
    data = await makeImageFolder(3, 8); // 24 training images
  });

  it('the MPI binding is built (Open MPI is installed)', () => {
    assert.equal(loadMpi().reason, undefined);
  });

  it('2 ranks x batch 4 reach the weights of 1 process x batch 8 (basic/LaPE, plain/regularized, SGD/AdamW, accumulation)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lape-dp-'));
    const spec = join(out, 'spec.json');
    const cases = CASES.map((name) => ({ name, config: config(data, name, 4) }));
    writeFileSync(spec, JSON.stringify({ out, cases }));
    const command = [process.execPath, '--import', 'tsx', join(root, 'test/dist/rank_driver.ts'), spec];
    const r = spawnSync('mpirun', mpirunArgs({ nprocPerNode: 2, hosts: null, command }), {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
    });
    assert.equal(r.status, 0, `mpirun failed:\n${r.stdout}\n${r.stderr}`);
    for (const name of CASES) {
      const single = await train(config(data, name, 8), { progress: false, log: () => {}, mixupGroups: 2 });
      const tensors = [...single.model.stateDict()].filter(([, t]) => t.dtype === 'float32');
      const a = new Float32Array(weightBytes(single.model).slice().buffer);
      const b = new Float32Array(new Uint8Array(readFileSync(join(out, `${name}.bin`))).buffer);
      single.model.dispose();
      assert.equal(a.length, b.length);
      const diffs = differences(
        tensors.map(([n, t]) => [n, t.size]),
        a,
        b,
      );
      for (const [key, d] of diffs) {
        const keyBias = name === 'lape-adamw' && key.endsWith('qkv.bias[k]');
        const tol = keyBias ? 2 * ADAMW_LR * STEPS : TOLERANCE;
        assert.ok(d <= tol, `${name}: ${key} differs by ${d.toExponential(2)} (tolerance ${tol})`);
      }
      // Both runs trained: the weights moved far beyond the tolerance from where they started.
      const cfg = config(data, name, 8);
      const init = createModel(cfg.model, { ...cfg.modelOverrides, numClasses: 3 }, { seed: cfg.seed });
      const start = new Float32Array(weightBytes(init).slice().buffer);
      init.dispose();
      let moved = 0;
      for (let i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i] - start[i]));
      assert.ok(moved > 1e-2, `${name}: the weights moved by only ${moved}`);
    }
  });
});
