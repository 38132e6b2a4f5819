/**
 * `lape` as a user coming from the reference runs it: every main.py flag in `lape train --help` (both
 * spellings accepted), moot flags said once, unknown schedulers/optimizers listing the valid ones, the
 * small fixes of issue 14 §8, and grey image folders with --in-chans 1 and --mean/--std (issue 16).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { MAIN_PY_FLAGS } from '../../src/cli/reference_flags.js';
import { IMAGENET_GREY_STATS } from '../../src/data/stats.js';
import { toFloat32 } from '../../src/io/host_tensor.js';
import { readNpy } from '../../src/io/npy.js';
import { readPth, readStateDict } from '../../src/io/pth.js';
import { PyObject } from '../../src/io/pickle.js';
import { assertClose } from '../util.js';
import { makeImageFolder } from '../train/helpers.js';
import { assertCleanError, lape, tinyTrainArgs } from '../cli/run_lape.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** `classes` folders of `perClass` grey 16x16 PNGs (one channel in the file). */
async function greyFolder(classes = 2, perClass = 6): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'lape-grey-'));
  for (const split of ['train', 'val']) {
    for (let c = 0; c < classes; c++) {
      mkdirSync(join(dir, split, `cls${c}`), { recursive: true });
      for (let i = 0; i < perClass; i++) {
        const px = Buffer.alloc(16 * 16);
        for (let p = 0; p < px.length; p++) px[p] = ((c === 0 ? p % 16 : p >> 4) * 15 + i * 11) % 256;
        await sharp(px, { raw: { width: 16, height: 16, channels: 1 } })
          .png()
          .toFile(join(dir, split, `cls${c}`, `g${i}.png`));
      }
    }
  }
  return dir;
}

describe('every main.py flag, both spellings', () => {
  it('lape train --help lists every flag of the official main.py', () => {
    const r = lape('train', '--help');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(MAIN_PY_FLAGS.length, 75);
    const missing = MAIN_PY_FLAGS.filter((f) => !new RegExp(`${f}(?![\\w-])`).test(r.stdout));
    assert.deepEqual(missing, []);
  });

  it('no help text says "(default) (default: ...)"', () => {
    for (const cmd of ['train', 'eval', 'predict', 'visualize', 'compare-pe']) {
      const r = lape(cmd, '--help');
      assert.doesNotMatch(r.stdout, /\(default\)\s+\(default:/, cmd);
    }
  });

  it('reference spellings run, moot flags say once what they do, --sched/--opt are checked', async () => {
    const data = await makeImageFolder(3, 4);
    const out = mkdtempSync(join(tmpdir(), 'lape-spell-'));
    const r = lape(
      'train',
      '--model',
      'lape_tiny',
      '--data-set',
      'IMNET',
      '--data-path',
      data,
      '--epochs',
      '2',
      '--batch-size',
      '4',
      '--no-repeated-aug',
      '--num_workers',
      '0',
      '--output_dir',
      out,
      '--no-progress',
      '--start_epoch',
      '1',
      '--sched',
      'step',
      '--decay-epochs',
      '1',
      '--dr',
      '0.5',
      '--opt',
      'momentum',
      '--device',
      'cuda',
      '--pin-mem',
      '--world_size',
      '2',
      '--ThreeAugment',
      '--mixup-mode',
      'pair',
      '--cutmix-minmax',
      '0.2',
      '0.8',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.match(/note: --device cuda/g)?.length, 1);
    assert.match(r.stderr, /note: --pin-mem/);
    assert.match(r.stderr, /note: --world_size 2/);
    assert.doesNotMatch(r.stderr, /epoch 1: /, '--start_epoch 1 starts at the second epoch');
    assert.match(r.stderr, /epoch 2: train loss/);
    const args = (readPth(join(out, 'checkpoint.pth')) as Map<string, unknown>).get('args') as PyObject;
    assert.equal(args.attrs.sched, 'step');
    assert.equal(args.attrs.opt, 'momentum');
    assert.equal(args.attrs.ThreeAugment, true);
    assert.equal(args.attrs.mixup_mode, 'pair');
    assertCleanError(
      lape(...tinyTrainArgs(data, out, 1, '--sched', 'cyclic')),
      /--sched: unknown scheduler 'cyclic'; valid: cosine, tanh, step, multistep, plateau, poly/,
    );
    assertCleanError(
      lape(...tinyTrainArgs(data, out, 1, '--opt', 'adafactor')),
      /--opt: unknown optimizer 'adafactor'; valid: adamw, adam, sgd, nesterov, momentum, lamb/,
    );
  });
});

describe('issue 14 §8', () => {
  it('repeated augmentation on a small dataset names the rule and --no-repeated-aug', async () => {
    const data = await makeImageFolder(2, 3);
    const out = mkdtempSync(join(tmpdir(), 'lape-ra-'));
    const args = tinyTrainArgs(data, out, 1).filter((a) => a !== '--no-repeated-aug');
    assertCleanError(
      lape(...args),
      /floor\(6 \/ 256\) \* 256 = 0 of the 6 images per epoch.*--no-repeated-aug/,
    );
  });

  it('train honours --nb-classes, and predict prints class names', async () => {
    const data = await makeImageFolder(3, 4);
    const out = mkdtempSync(join(tmpdir(), 'lape-nb-'));
    const t = lape(...tinyTrainArgs(data, out, 1, '--nb-classes', '5'));
    assert.equal(t.status, 0, t.stderr);
    assert.deepEqual(readStateDict(join(out, 'checkpoint.pth')).stateDict.get('head.weight')?.shape, [5, 32]);
    assertCleanError(
      lape(...tinyTrainArgs(data, out, 1, '--nb-classes', '2')),
      /--nb-classes 2 is fewer than the 3 classes/,
    );
    const t3 = lape(...tinyTrainArgs(data, out, 1));
    assert.equal(t3.status, 0, t3.stderr);
    const p = lape(
      'predict',
      '--resume',
      join(out, 'checkpoint.pth'),
      '--input',
      join(data, 'val/class1/img0.png'),
      '--output',
      join(out, 'p.npy'),
    );
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /img0\.png {2}class\d \(\d\): \d+\.\d%/);
  });
});

describe('grey image folders (issue 16)', () => {
  it('--in-chans 1 trains and evaluates with one grey channel and the luma-weighted ImageNet statistics; 3 channels too', async () => {
    const data = await greyFolder();
    for (const chans of ['1', '3']) {
      const out = mkdtempSync(join(tmpdir(), `lape-grey${chans}-`));
      const t = lape(...tinyTrainArgs(data, out, 1, '--in-chans', chans));
      assert.equal(t.status, 0, t.stderr);
      const args = (readPth(join(out, 'checkpoint.pth')) as Map<string, unknown>).get('args') as PyObject;
      if (chans === '1') {
        assert.deepEqual(args.attrs.mean, IMAGENET_GREY_STATS.mean);
        assert.deepEqual(args.attrs.std, IMAGENET_GREY_STATS.std);
      } else assert.deepEqual(args.attrs.mean, [0.485, 0.456, 0.406]);
      const e = lape(
        'eval',
        '--resume',
        join(out, 'checkpoint.pth'),
        '--data-path',
        data,
        '--json',
        '--num-workers',
        '0',
      );
      assert.equal(e.status, 0, e.stderr);
      assert.equal((JSON.parse(e.stdout) as { images: number }).images, 12);
    }
  });

  it("predict on grey images feeds the model the way it was trained: its logits are the evaluation batch's", async () => {
    const data = await greyFolder();
    const out = mkdtempSync(join(tmpdir(), 'lape-greyp-'));
    const t = lape(...tinyTrainArgs(data, out, 1, '--in-chans', '1', '--mean', '0.3', '--std', '0.2'));
    assert.equal(t.status, 0, t.stderr);
    const files = readdirSync(join(data, 'val/cls1'))
      .sort()
      .map((f) => join(data, 'val/cls1', f));
    const p = lape(
      'predict',
      '--resume',
      join(out, 'checkpoint.pth'),
      '--input',
      ...files,
      '--output',
      join(out, 'p.npy'),
    );
    assert.equal(p.status, 0, p.stderr);
    // The same images as a normalized .npy batch, made here with the statistics given to train.
    const batch = join(out, 'batch.npy');
    const make = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `
        const sharp = (await import('sharp')).default;
        const { writeNpy } = await import(${JSON.stringify(join(root, 'src/io/npy.ts'))});
        const files = ${JSON.stringify(files)};
        const x = new Float32Array(files.length * 256);
        for (const [i, f] of files.entries()) {
          const { data } = await sharp(f).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
          for (let k = 0; k < 256; k++) x[i * 256 + k] = (data[k] / 255 - 0.3) / 0.2;
        }
        writeNpy(${JSON.stringify(batch)}, { dtype: 'float32', shape: [files.length, 1, 16, 16], data: x });
      `,
      ],
      { cwd: root, encoding: 'utf8' },
    );
    assert.equal(make.status, 0, make.stderr);
    const q = lape(
      'predict',
      '--resume',
      join(out, 'checkpoint.pth'),
      '--input',
      batch,
      '--output',
      join(out, 'q.npy'),
    );
    assert.equal(q.status, 0, q.stderr);
    assertClose(
      toFloat32(readNpy(join(out, 'p.npy'))),
      toFloat32(readNpy(join(out, 'q.npy'))),
      1e-5,
      0,
      'logits',
    );
  });

  it('statistics that do not fit the channel count are a clear error naming both numbers and the flags', async () => {
    const data = await greyFolder(2, 2);
    const out = mkdtempSync(join(tmpdir(), 'lape-greym-'));
    assertCleanError(
      lape(...tinyTrainArgs(data, out, 1, '--in-chans', '1', '--mean', '0.1', '0.2', '0.3')),
      /--mean has 3 values but the model takes 1 input channel \(--in-chans 1\)/,
    );
  });
});
