/**
 * Every TypeScript program in examples/ runs as a user would run it (`node --import tsx examples/X.ts`,
 * importing 'lape'), and prints what the library computes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { classifyImages, loadCheckpoint, positionSimilarity } from '../../src/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (f: string): string => join(root, 'test/fixtures/models', f);

function example(name: string, ...args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'examples', name), ...args], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `examples/${name} failed:\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

const jsonLines = (s: string): Record<string, unknown>[] =>
  s
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** 16x16 RGB PNGs with different patterns. */
async function pngs(n: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'lape-example-img-'));
  const files: string[] = [];
  for (let k = 0; k < n; k++) {
    const px = Buffer.alloc(16 * 16 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * (7 + 13 * k) + k * 50) % 256;
    const f = join(dir, `img${k}.png`);
    await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
      .png()
      .toFile(f);
    files.push(f);
  }
  return files;
}

describe('examples/', () => {
  it('train.ts trains on Fashion-MNIST-format data, evaluates, and saves a checkpoint that loads back', () => {
    const { stdout } = example('train.ts'); // no data folder: a synthetic set in Fashion-MNIST's format
    const m = /test top-1 ([\d.]+)%/.exec(stdout);
    assert.ok(m, stdout);
    // 10 classes: chance is 10%; three short epochs reach 40% on this machine.
    assert.ok(Number(m[1]) > 25, `top-1 ${m[1]}% after training`);
    const saved = /saved (\S+\.pth)/.exec(stdout);
    assert.ok(saved && existsSync(saved[1]), stdout);
    // The checkpoint records its model: it loads with no model name or flags.
    const { model, name } = loadCheckpoint(saved[1]);
    assert.equal(name, 'lape_fmnist');
    assert.equal(model.config.join, 'LaPE');
    assert.equal(model.config.embedDim, 32);
    model.dispose();
  });

  it('predict.ts classifies images with a PyTorch checkpoint, as classifyImages does', async () => {
    const images = await pngs(2);
    const { stdout } = example(
      'predict.ts',
      fixture('tiny_learnable_LaPE.pth'),
      'lape_tiny',
      'LaPE',
      ...images,
    );
    const lines = jsonLines(stdout) as { image: string; top: { index: number; probability: number }[] }[];
    assert.equal(lines.length, 2);
    const { model } = loadCheckpoint(fixture('tiny_learnable_LaPE.pth'), {
      model: 'lape_tiny',
      overrides: { join: 'LaPE' },
    });
    const { top } = await classifyImages(model, images);
    model.dispose();
    lines.forEach((l, i) => {
      assert.equal(l.image, images[i]);
      assert.deepEqual(
        l.top.map((c) => c.index),
        top[i].map((c) => c.index),
      );
      l.top.forEach((c, j) => assert.ok(Math.abs(c.probability - top[i][j].probability) < 1e-6));
    });
  });

  it('similarity.ts writes the similarity maps as PNGs and prints their per-layer means', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lape-example-sim-'));
    const ckpt = fixture('tiny_learnable_LaPE-shared.pth');
    const { stdout } = example('similarity.ts', ckpt, dir, 'lape_tiny', 'LaPE-shared');
    const files = readdirSync(dir).sort();
    for (const f of ['last_layer.png', 'layer00_overall.png', 'layer01_token.png', 'overview.png'])
      assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
    const meta = await sharp(join(dir, 'last_layer.png')).metadata();
    assert.equal(meta.format, 'png');
    assert.ok((meta.width ?? 0) > 100);
    const { model } = loadCheckpoint(ckpt, { model: 'lape_tiny', overrides: { join: 'LaPE-shared' } });
    const sim = positionSimilarity(model);
    model.dispose();
    const printed = jsonLines(stdout) as { layer: number; meanOffDiagonal: number }[];
    assert.equal(printed.length, sim.layers.length);
    const p = sim.grid.h * sim.grid.w;
    printed.forEach((l, i) => {
      let sum = 0;
      for (let a = 0; a < p; a++)
        for (let b = 0; b < p; b++) if (a !== b) sum += sim.layers[i].similarity[a * p + b];
      assert.ok(Math.abs(l.meanOffDiagonal - sum / (p * (p - 1))) < 1e-9);
    });
  });

  it('export_onnx.ts exports a checkpoint and onnxruntime-node agrees with lape within 1e-4', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'lape-example-onnx-')), 'model.onnx');
    const { stdout } = example(
      'export_onnx.ts',
      fixture('tiny_learnable_unshare.pth'),
      out,
      'lape_tiny',
      'unshare',
    );
    assert.ok(existsSync(out));
    const [r] = jsonLines(stdout) as { shape: number[]; maxAbsDiff: number }[];
    assert.deepEqual(r.shape, [4, 10]);
    assert.ok(r.maxAbsDiff < 1e-4, `max |difference| ${r.maxAbsDiff}`);
  });
});
