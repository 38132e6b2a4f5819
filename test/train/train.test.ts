/**
 * The training loop end to end on a tiny real image folder: it learns, resume is bit-exact (after a
 * whole epoch and after an interrupt inside one, in float32 and in mixed precision), divergence stops
 * cleanly, and checkpoints load in the same model again.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { PyObject, type PyValue } from '../../src/io/pickle.js';
import { readPth, readStateDict } from '../../src/io/pth.js';
import { bf16Support } from '../../src/backend/registry.js';
import { train, DivergedError } from '../../src/train/train.js';
import { makeImageFolder, tinyConfig } from './helpers.js';

const quiet = { progress: false, log: () => {} };
const weightsOf = (file: string): Map<string, number[]> =>
  new Map(
    [...readStateDict(file).stateDict].map(([k, t]) => [k, Array.from(t.data as ArrayLike<number>, Number)]),
  );

describe('train', () => {
  let data = '';
  before(async () => {
    data = await makeImageFolder();
  });

  it('writes checkpoints and a JSON log per epoch, and learns the classes', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lape-run-'));
    const easy = {
      epochs: 12,
      mixup: { mixup: 0, cutmix: 0, prob: 1, switchProb: 0.5 },
      augment: {
        autoAugment: null,
        colorJitter: 0,
        reprob: 0,
        remode: 'pixel',
        recount: 1,
        repeatedAug: false,
        hflip: 0,
        cropPadding: 4,
        interpolation: 'bicubic',
      },
      criterion: { kind: 'cross-entropy', smoothing: 0 },
    } as const;
    const r = await train(tinyConfig(data, out, easy), quiet);
    assert.equal(r.outcome, 'completed');
    for (const f of ['checkpoint.pth', 'best_checkpoint.pth', 'log.txt', 'config.json'])
      assert.ok(existsSync(join(out, f)), f);
    const lines = readFileSync(join(out, 'log.txt'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    assert.equal(lines.length, 12);
    for (const k of [
      'train_lr',
      'train_loss',
      'test_loss',
      'test_acc1',
      'test_acc5',
      'epoch',
      'n_parameters',
    ])
      assert.ok(k in lines[0], k);
    assert.ok(
      lines[11].train_loss < 0.9 * lines[0].train_loss,
      `loss ${lines[0].train_loss} -> ${lines[11].train_loss}`,
    );
    // Three classes: chance is 33%.
    assert.ok((r.final?.acc1 ?? 0) > 50, `acc1 ${r.final?.acc1}`);
  });

  it('resumes bit-exactly from an epoch checkpoint and from an interrupt inside an epoch', async () => {
    const full = mkdtempSync(join(tmpdir(), 'lape-full-'));
    await train(tinyConfig(data, full), quiet);

    const first = mkdtempSync(join(tmpdir(), 'lape-part-'));
    await train(tinyConfig(data, first, { epochs: 1 }), quiet);
    const resumed = mkdtempSync(join(tmpdir(), 'lape-resumed-'));
    await train(tinyConfig(data, resumed, { resume: join(first, 'checkpoint.pth') }), quiet);
    assert.deepEqual(weightsOf(join(resumed, 'checkpoint.pth')), weightsOf(join(full, 'checkpoint.pth')));

    // Interrupt after the second step of epoch 2, then resume.
    const cut = mkdtempSync(join(tmpdir(), 'lape-cut-'));
    const controller = new AbortController();
    let steps = 0;
    const r = await train(tinyConfig(data, cut), {
      ...quiet,
      signal: controller.signal,
      onStep: () => {
        if (++steps === 6) controller.abort();
      },
    });
    assert.equal(r.outcome, 'interrupted');
    const cont = mkdtempSync(join(tmpdir(), 'lape-cont-'));
    await train(tinyConfig(data, cont, { resume: join(cut, 'checkpoint.pth') }), quiet);
    assert.deepEqual(weightsOf(join(cont, 'checkpoint.pth')), weightsOf(join(full, 'checkpoint.pth')));
  });

  it(
    'mixed precision: an amp run resumes bit-exactly, is not float32, and records amp in its args',
    { skip: !bf16Support().native && 'no bfloat16 hardware here (--amp runs in float32)' },
    async () => {
      const amp = { amp: true };
      const full = mkdtempSync(join(tmpdir(), 'lape-amp-full-'));
      await train(tinyConfig(data, full, amp), quiet);
      const first = mkdtempSync(join(tmpdir(), 'lape-amp-part-'));
      await train(tinyConfig(data, first, { ...amp, epochs: 1 }), quiet);
      const resumed = mkdtempSync(join(tmpdir(), 'lape-amp-resumed-'));
      await train(tinyConfig(data, resumed, { ...amp, resume: join(first, 'checkpoint.pth') }), quiet);
      const ampWeights = weightsOf(join(full, 'checkpoint.pth'));
      assert.deepEqual(weightsOf(join(resumed, 'checkpoint.pth')), ampWeights);
      const fp32 = mkdtempSync(join(tmpdir(), 'lape-fp32-'));
      await train(tinyConfig(data, fp32), quiet);
      assert.notDeepEqual(
        ampWeights,
        weightsOf(join(fp32, 'checkpoint.pth')),
        'autocast changed the arithmetic',
      );
      const args = (readPth(join(full, 'checkpoint.pth')) as Map<string, PyValue>).get('args');
      assert.ok(args instanceof PyObject);
      assert.equal(args.attrs.amp, true);
    },
  );

  it('stops on a NaN loss and leaves the last good checkpoint intact', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lape-nan-'));
    await train(tinyConfig(data, out, { epochs: 1 }), quiet);
    const before = readFileSync(join(out, 'checkpoint.pth'));
    const cfg = tinyConfig(data, out, {
      epochs: 3,
      resume: join(out, 'checkpoint.pth'),
      optimizer: { kind: 'adamw', lr: Infinity, weightDecay: 0.05, eps: 1e-8, betas: [0.9, 0.999] },
    });
    await assert.rejects(
      train(cfg, quiet),
      (e: unknown) => e instanceof DivergedError && /loss is (NaN|Infinity)/.test(e.message),
    );
    assert.deepEqual(readFileSync(join(out, 'checkpoint.pth')), before);
  });
});
