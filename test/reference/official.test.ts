/**
 * The compatibility bars of issue 14, end to end through the CLI (spawned as a user runs it):
 * checkpoints written exactly as the reference's main.py writes them (made by
 * scripts/fixtures/make_reference_checkpoint.py with PyTorch) run through `lape predict` and
 * `lape visualize` with no model flags; lape's own checkpoint has one scheduler base value per
 * optimizer parameter group and loads in PyTorch.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { toFloat32 } from '../../src/io/host_tensor.js';
import { readNpy } from '../../src/io/npy.js';
import { assertClose } from '../util.js';
import { makeImageFolder } from '../train/helpers.js';
import { lape, tinyTrainArgs } from '../cli/run_lape.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const CASES = ['deit_tiny_LaPE', 'deit_tiny_basic_5x5', 'deit_tiny_2D_sin_share'];

const npy = (p: string): Float32Array => toFloat32(readNpy(p));

describe(
  'checkpoints of the reference main.py',
  { skip: !hasTorch && 'needs /usr/bin/python3 with torch' },
  () => {
    let dir = '';
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'lape-official-'));
      const r = spawnSync(
        python,
        [join(root, 'scripts/fixtures/make_reference_checkpoint.py'), dir, ...CASES],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, r.stderr);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    for (const c of CASES) {
      it(`${c}: lape predict with no model flags gives the official model's logits (1e-4)`, () => {
        const out = join(dir, `${c}.lape.npy`);
        const r = lape(
          'predict',
          '--resume',
          join(dir, `${c}.pth`),
          '--input',
          join(dir, `${c}.input.npy`),
          '--output',
          out,
        );
        assert.equal(r.status, 0, r.stderr);
        assertClose(npy(out), npy(join(dir, `${c}.logits.npy`)), 1e-4, 0, `${c} logits`);
      });

      it(`${c}: lape visualize reproduces the per-layer PE similarity (1e-5)`, () => {
        const viz = join(dir, `${c}-viz`);
        const r = lape('visualize', '--ckpt-path', join(dir, `${c}.pth`), '--save-dir', viz);
        assert.equal(r.status, 0, r.stderr);
        assertClose(
          npy(join(viz, 'similarity.npy')),
          npy(join(dir, `${c}.sim.npy`)),
          1e-5,
          0,
          `${c} similarity`,
        );
      });
    }

    it('visualize with the model flags gives the same similarity', () => {
      const viz = join(dir, 'flags-viz');
      const r = lape(
        'visualize',
        '--ckpt-path',
        join(dir, 'deit_tiny_basic_5x5.pth'),
        '--save-dir',
        viz,
        '--model',
        'deit_tiny_patch16_224',
        '--img-size',
        '80',
        '--nb-classes',
        '7',
        '--pe',
        'learnable',
        '--join-type',
        'basic',
      );
      assert.equal(r.status, 0, r.stderr);
      assertClose(
        npy(join(viz, 'similarity.npy')),
        npy(join(dir, 'deit_tiny_basic_5x5.sim.npy')),
        1e-5,
        0,
        'similarity',
      );
    });

    it('a contradicting --join-type is reported with the keys that give it away', () => {
      const r = lape(
        'predict',
        '--resume',
        join(dir, 'deit_tiny_LaPE.pth'),
        '--join-type',
        'basic',
        '--input',
        join(dir, 'deit_tiny_LaPE.input.npy'),
        '--output',
        join(dir, 'x.npy'),
      );
      assert.notEqual(r.status, 0);
      assert.match(
        r.stderr,
        /per-block PE LayerNorms \(join LaPE\) \(blocks\.0\.pe_norm\.weight, blocks\.1\.pe_norm\.weight, … \(12 keys\)\)/,
      );
      assert.match(r.stderr, /--join-type/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });

    it('lape train resumes the official checkpoint: its optimizer state, scheduler and epoch', async () => {
      const data = await makeImageFolder(10, 2);
      const out = join(dir, 'resumed');
      // input 64 (the checkpoint's): images are resized; epochs 4: the checkpoint finished epoch 2.
      const r = lape(
        'train',
        '--resume',
        join(dir, 'deit_tiny_LaPE.pth'),
        '--data-set',
        'image-folder',
        '--data-path',
        data,
        '--epochs',
        '4',
        '--batch-size',
        '4',
        '--no-repeated-aug',
        '--num_workers',
        '0',
        '--output_dir',
        out,
        '--no-progress',
        '--mixup',
        '0',
        '--cutmix',
        '0',
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /resumed from .*deit_tiny_LaPE\.pth: 3 epochs done/);
      assert.match(r.stderr, /epoch 4: train loss/);
      assert.doesNotMatch(r.stderr, /epoch 3: /);
    });
  },
);

describe(
  "lape's own checkpoint in PyTorch",
  { skip: !hasTorch && 'needs /usr/bin/python3 with torch' },
  () => {
    it("has one scheduler base value per optimizer parameter group, and timm's scheduler fields", async () => {
      const data = await makeImageFolder(3, 4);
      const out = mkdtempSync(join(tmpdir(), 'lape-own-'));
      const t = lape(...tinyTrainArgs(data, out, 1));
      assert.equal(t.status, 0, t.stderr);
      const script = `
import sys, torch
c = torch.load(sys.argv[1], map_location='cpu')
s, o = c['lr_scheduler'], c['optimizer']
assert len(s['base_values']) == len(o['param_groups']) == 2, (s['base_values'], len(o['param_groups']))
for k in ['param_group_field', '_initial_param_group_field', 'base_values', 'metric', 'noise_range_t', 'noise_pct', 'noise_type', 'noise_std', 'noise_seed', 't_initial', 't_mul', 'lr_min', 'decay_rate', 'cycle_limit', 'warmup_t', 'warmup_lr_init', 'warmup_prefix', 't_in_epochs', 'warmup_steps']:
    assert k in s, k
assert all('initial_lr' in g for g in o['param_groups'])
a = c['args']
print(a.model, a.pe, a.join_type, a.input_size, a.nb_classes, a.sched, a.opt)
`;
      const py = spawnSync(python, ['-c', script, join(out, 'checkpoint.pth')], { encoding: 'utf8' });
      assert.equal(py.status, 0, py.stderr);
      assert.equal(py.stdout.trim(), 'lape_tiny learnable basic 16 3 cosine adamw');
      // eval and predict read the model from it: no model flags.
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
    });
  },
);
