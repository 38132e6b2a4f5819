/**
 * The `lape` command line end to end (spawned as a user would run it): predict against PyTorch's
 * logits, visualize against PyTorch's similarity computation, eval's JSON, and one clear line (no
 * stack) for bad input.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { toFloat32 } from '../../src/io/host_tensor.js';
import { readNpy } from '../../src/io/npy.js';
import { readStateDict } from '../../src/io/pth.js';
import { assertClose } from '../util.js';
import { makeImageFolder } from '../train/helpers.js';
import { assertCleanError, lape, lapeWithEnv, tinyTrainArgs } from './run_lape.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (f: string): string => join(root, 'test/fixtures/models', f);
const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

describe('lape CLI', () => {
  it('models lists every variant with parameters and GFLOPs', () => {
    const r = lape('models', '--json');
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { name: string; params: number; gflops: number }[];
    const tiny = rows.find((x) => x.name === 'deit_tiny_patch16_224');
    assert.ok(
      tiny && tiny.params === 5_722_024 && tiny.gflops > 2.4 && tiny.gflops < 2.6,
      JSON.stringify(tiny),
    );
    assert.ok(rows.some((x) => x.name === 'cct_7_3x1') && rows.some((x) => x.name === 'vit_lite_7_4'));
  });

  it('predict writes the logits PyTorch computed for a PyTorch checkpoint', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'lape-predict-')), 'logits.npy');
    const r = lape(
      'predict',
      '--resume',
      fixture('tiny_learnable_LaPE.pth'),
      '--model',
      'lape_tiny',
      '--pe',
      'learnable',
      '--join-type',
      'LaPE',
      '--input',
      fixture('tiny_learnable_LaPE.input.npy'),
      '--output',
      out,
    );
    assert.equal(r.status, 0, r.stderr);
    assertClose(
      toFloat32(readNpy(out)),
      toFloat32(readNpy(fixture('tiny_learnable_LaPE.logits.npy'))),
      1e-4,
      0,
      'logits',
    );
  });

  it('eval prints one JSON object with acc1, acc5, loss and images; --threads sets the kernel threads', async () => {
    const data = await makeImageFolder(3, 4);
    const run = mkdtempSync(join(tmpdir(), 'lape-evalrun-'));
    const t = lape(...tinyTrainArgs(data, run, 1, '--threads', '1'));
    assert.equal(t.status, 0, t.stderr);
    assert.match(
      t.stderr,
      /^engine: (native \(oneDNN \d+\.\d+\.\d+, \w+\)|js \(portable TypeScript kernels\)), 1 thread$/m,
    );
    const r = lape(
      'eval',
      '--resume',
      join(run, 'checkpoint.pth'),
      '--model',
      'lape_tiny',
      '--data-set',
      'image-folder',
      '--data-path',
      data,
      '--json',
      '--num-workers',
      '0',
    );
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout) as Record<string, number>;
    assert.deepEqual(Object.keys(res).sort(), ['acc1', 'acc5', 'images', 'loss']);
    assert.equal(res.images, 12);
    assert.ok(res.acc5 >= res.acc1 && res.loss > 0);
  });

  for (const name of [
    'tiny_learnable_LaPE',
    'tiny_learnable_basic',
    'tiny_2D_sin_share',
    'tiny_learnable_LaPE-shared',
  ]) {
    it(
      `visualize ${name}: similarity.npy equals PyTorch's computation on the checkpoint`,
      { skip: !hasTorch && 'needs /usr/bin/python3 with torch' },
      () => {
        const dir = mkdtempSync(join(tmpdir(), 'lape-viz-'));
        const [, pe, join_] = /^tiny_(learnable|1D_sin|2D_sin)_(.*)$/.exec(name) as RegExpExecArray;
        const r = lape(
          'visualize',
          '--ckpt-path',
          fixture(`${name}.pth`),
          '--save-dir',
          dir,
          '--model',
          'lape_tiny',
          '--pe',
          pe,
          '--join-type',
          join_,
        );
        assert.equal(r.status, 0, r.stderr);
        for (const f of [
          'layer00_overall.png',
          'layer01_token.png',
          'overview.png',
          'report.html',
          'similarity.npy',
        ])
          assert.ok(existsSync(join(dir, f)), f);
        // The visualizer's definition, stated independently in PyTorch: basic/share see norm1(pe),
        // LaPE the progressive pe_norm chain, LaPE-shared each layer's pe_norm(pe); class slot dropped.
        const script = `
import sys, torch, numpy as np
sd = torch.load(sys.argv[1], map_location='cpu')['model']
join = sys.argv[2]
pe = sd['pos_embed'].reshape(-1, 32).double()
out, p = [], pe
for l in range(2):
    if join in ('basic', 'share'):
        q = torch.nn.functional.layer_norm(pe, (32,), sd[f'blocks.{l}.norm1.weight'].double(), sd[f'blocks.{l}.norm1.bias'].double(), 1e-6)
    else:
        src = p if join == 'LaPE' else pe
        q = torch.nn.functional.layer_norm(src, (32,), sd[f'blocks.{l}.pe_norm.weight'].double(), sd[f'blocks.{l}.pe_norm.bias'].double(), 1e-6)
        p = q
    x = q[1:]
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)
    out.append((x @ x.T).numpy())
np.save(sys.argv[3], np.stack(out).astype(np.float32))
`;
        const want = join(dir, 'torch.npy');
        const py = spawnSync(python, ['-c', script, fixture(`${name}.pth`), join_, want], {
          encoding: 'utf8',
        });
        assert.equal(py.status, 0, py.stderr);
        const ours = readNpy(join(dir, 'similarity.npy'));
        assert.deepEqual(ours.shape, [2, 16, 16]);
        assertClose(toFloat32(ours), toFloat32(readNpy(want)), 1e-5, 0, 'similarity');
      },
    );
  }

  it('visualize draws RPE biases for a 2-D RPE checkpoint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lape-viz-rpe-'));
    const r = lape(
      'visualize',
      '--ckpt-path',
      fixture('tiny_2D_RPE_LN.pth'),
      '--save-dir',
      dir,
      '--model',
      'lape_tiny',
      '--pe',
      '2D_RPE',
      '--join-type',
      'LN',
      '--token',
      '5',
    );
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['layer00_head0_rpe.png', 'layer01_head1_rpe_token.png', 'report.html'])
      assert.ok(existsSync(join(dir, f)), f);
  });

  it('Ctrl-C stops training with a resumable checkpoint', async () => {
    const data = await makeImageFolder(3, 4);
    const run = mkdtempSync(join(tmpdir(), 'lape-sigint-'));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'scripts/lape-dev.ts'), ...tinyTrainArgs(data, run, 500)],
      { cwd: root },
    );
    let stderr = '';
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/epoch 2: train loss/.test(stderr)) resolve();
      });
    });
    child.kill('SIGINT');
    assert.equal(await exit, 130, stderr);
    assert.match(stderr, /interrupted: saved a resumable checkpoint \(epoch \d+, batch \d+\)/);
    const r = lape(...tinyTrainArgs(data, run, 3, '--resume', join(run, 'checkpoint.pth')));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /resumed from .*checkpoint\.pth: \d+ epochs done/);
  });

  it('--amp without bfloat16 hardware: one warning, then exactly the float32 run', async () => {
    const data = await makeImageFolder(2, 4);
    // oneDNN hides AVX512_BF16 and AMX under this setting, as on a CPU without them.
    const noBf16 = { ONEDNN_MAX_CPU_ISA: 'AVX512_CORE' };
    const [plain, amp] = [
      mkdtempSync(join(tmpdir(), 'lape-noamp-')),
      mkdtempSync(join(tmpdir(), 'lape-amp-')),
    ];
    const a = lapeWithEnv(noBf16, ...tinyTrainArgs(data, plain, 1));
    const b = lapeWithEnv(noBf16, ...tinyTrainArgs(data, amp, 1, '--amp'));
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    const warnings = b.stderr.split('\n').filter((l) => l.includes('--amp'));
    assert.equal(warnings.length, 1, b.stderr);
    assert.match(warnings[0], /--amp: no bfloat16 hardware \(.*\); running in float32/);
    assert.doesNotMatch(b.stderr, /precision: bfloat16/);
    const weights = (f: string): number[] =>
      [...readStateDict(f).stateDict.values()].flatMap((t) =>
        Array.from(t.data as ArrayLike<number>, Number),
      );
    assert.deepEqual(weights(join(amp, 'checkpoint.pth')), weights(join(plain, 'checkpoint.pth')));
  });

  it('bad input gets one clear line naming the problem', () => {
    const ckpt = fixture('tiny_learnable_LaPE.pth');
    assertCleanError(
      lape('predict', '--resume', ckpt, '--model', 'nope', '--input', 'x.npy', '--output', 'y.npy'),
      /unknown model 'nope'; available:/,
    );
    assertCleanError(
      lape(
        'predict',
        '--resume',
        ckpt,
        '--model',
        'lape_tiny',
        '--join-type',
        'basic',
        '--input',
        fixture('tiny_learnable_LaPE.input.npy'),
        '--output',
        join(tmpdir(), 'y.npy'),
      ),
      /tiny_learnable_LaPE\.pth does not hold the requested model: it has per-block PE LayerNorms \(join LaPE\) \(blocks\.0\.pe_norm\.weight.*--join-type/,
    );
    assertCleanError(
      lape(
        'visualize',
        '--ckpt-path',
        ckpt,
        '--save-dir',
        tmpdir(),
        '--model',
        'lape_tiny',
        '--join-type',
        'LaPE',
        '--token',
        '16',
      ),
      /--token 16 is outside the 4x4 patch grid/,
    );
    const corrupt = join(mkdtempSync(join(tmpdir(), 'lape-bad-')), 'broken.pth');
    writeFileSync(corrupt, Buffer.from('PK\u0003\u0004 this is not a checkpoint'));
    assertCleanError(
      lape('visualize', '--ckpt-path', corrupt, '--save-dir', tmpdir(), '--model', 'lape_tiny'),
      /broken\.pth/,
    );
    assertCleanError(
      lape('train', '--model', 'lape_tiny', '--epochs', 'two'),
      /--epochs expects an integer >= 1, got 'two'/,
    );
    assertCleanError(lape('train', '--bogus-flag'), /unknown option '--bogus-flag'/);
    assertCleanError(lape('models', '--threads', '0'), /--threads expects an integer >= 1, got '0'/);
    assertCleanError(
      lape(
        'train',
        '--model',
        'lape_tiny',
        '--data-set',
        'image-folder',
        '--data-path',
        '/nonexistent/data',
        '--no-progress',
      ),
      /\/nonexistent\/data/,
    );
  });
});
