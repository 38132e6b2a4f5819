import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { syntheticReport } from '../../test/viz/fixtures.js';
import { colorOf } from './colormap.js';
import { layoutHeatmap } from './heatmap.js';
import { readReportPayload } from './report.js';
import { tokenMap } from './similarity.js';
import {
  encodeNpyF32,
  layerName,
  runLimited,
  tokenLabel,
  visualizationPanels,
  writeVisualization,
} from './write.js';

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lape-viz-write-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function numpyUnavailable(): string | undefined {
  if (!existsSync('/usr/bin/python3')) return '/usr/bin/python3 not found';
  const r = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'numpy is not importable by /usr/bin/python3';
}

test('writeVisualization writes the predictable file set', async () => {
  await withTempDir(async (dir) => {
    const data = syntheticReport({ h: 4, w: 5, layers: 3, rpe: true, heads: 2, logEpochs: 5 });
    const written = await writeVisualization(dir, data);
    const names = (await readdir(dir)).sort();
    assert.deepEqual(names, written.map((p) => basename(p)).sort());
    const expected = ['overview.png', 'report.html', 'rpe_overview.png', 'similarity.npy'];
    for (let l = 0; l < 3; l++) {
      expected.push(`layer0${l}_overall.png`, `layer0${l}_token.png`);
      for (let hd = 0; hd < 2; hd++)
        expected.push(`layer0${l}_head${hd}_rpe.png`, `layer0${l}_head${hd}_rpe_token.png`);
    }
    assert.deepEqual(names, expected.sort());
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    assert.equal(readReportPayload(html).runs[0].layers.length, 3);
  });
});

test('token PNGs show the selected token row with the marker and the known colours', async () => {
  await withTempDir(async (dir) => {
    const data = syntheticReport({ h: 5, w: 5, layers: 2 });
    await writeVisualization(dir, data, { token: 7, npy: false, html: false });
    const png = await readFile(join(dir, 'layer01_token.png'));
    const { data: px, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const values = tokenMap(data.layers[1].similarity, 25, 7);
    const spec = visualizationPanels(data, { token: 7 }).find((p) => p.file === 'layer01_token.png')?.spec;
    assert.ok(spec);
    assert.deepEqual(Array.from(spec.values), Array.from(values));
    assert.deepEqual(spec.marker, { row: 1, col: 2 });
    const L = layoutHeatmap(spec);
    assert.deepEqual([info.width, info.height], [L.width, L.height]);
    for (const k of [0, 12, 24]) {
      const cx = L.mapX + (k % 5) * L.cell + (L.cell >> 1);
      const cy = L.mapY + Math.floor(k / 5) * L.cell + (L.cell >> 1);
      const o = (cy * info.width + cx) * info.channels;
      assert.deepEqual(
        [px[o], px[o + 1], px[o + 2]],
        [...colorOf(values[k], L.vmin, L.vmax, { kind: 'viridis' })],
      );
    }
    // Black ring two pixels outside token 7's cell (row 1, col 2).
    const o = ((L.mapY + L.cell + 4) * info.width + L.mapX + 2 * L.cell - 2) * info.channels;
    assert.deepEqual([px[o], px[o + 1], px[o + 2]], [0, 0, 0]);
    assert.deepEqual((await readdir(dir)).sort(), [
      'layer00_overall.png',
      'layer00_token.png',
      'layer01_overall.png',
      'layer01_token.png',
      'overview.png',
    ]);
  });
});

test('similarity.npy holds [layers, P, P] float32 in layer order', { skip: numpyUnavailable() }, async () => {
  await withTempDir(async (dir) => {
    const data = syntheticReport({ h: 3, w: 4, layers: 3 });
    await writeVisualization(dir, data, { png: false, html: false });
    const script = [
      'import sys, json, numpy as np',
      'a = np.load(sys.argv[1])',
      'print(json.dumps({"dtype": str(a.dtype), "shape": list(a.shape), "v": [float(a[2, 5, 7]), float(a[0, 11, 0])]}))',
    ].join('\n');
    const r = spawnSync('/usr/bin/python3', ['-c', script, join(dir, 'similarity.npy')], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { dtype: string; shape: number[]; v: number[] };
    assert.equal(got.dtype, 'float32');
    assert.deepEqual(got.shape, [3, 12, 12]);
    assert.deepEqual(got.v, [data.layers[2].similarity[5 * 12 + 7], data.layers[0].similarity[11 * 12]]);
  });
});

test('encodeNpyF32: aligned header, 1-D shapes, shape checks', () => {
  const b = encodeNpyF32([3], Float32Array.from([1, 2, 3]));
  assert.equal(b.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  const hlen = b.readUInt16LE(8);
  assert.equal((10 + hlen) % 64, 0);
  const header = b.subarray(10, 10 + hlen).toString('latin1');
  assert.match(header, /'shape': \(3,\)/);
  assert.ok(header.endsWith('\n'));
  assert.equal(b.readFloatLE(10 + hlen + 8), 3);
  assert.throws(() => encodeNpyF32([2, 2], new Float32Array(3)), /does not hold/);
});

test('RPE-only runs get RPE maps, no similarity files; bad tokens fail before writing', async () => {
  await withTempDir(async (dir) => {
    const data = { ...syntheticReport({ h: 3, w: 3, layers: 2, rpe: true, heads: 1 }), layers: [] };
    const written = (await writeVisualization(dir, data, { html: false })).map((p) => basename(p)).sort();
    assert.deepEqual(written, [
      'layer00_head0_rpe.png',
      'layer00_head0_rpe_token.png',
      'layer01_head0_rpe.png',
      'layer01_head0_rpe_token.png',
      'rpe_overview.png',
    ]);
    const sub = join(dir, 'bad');
    await assert.rejects(writeVisualization(sub, data, { token: 9 }), /token 9 outside/);
    assert.equal(existsSync(sub), false);
  });
});

test('panel helpers: names, titles and fixed ranges', () => {
  assert.equal(layerName(3), 'layer03');
  assert.equal(layerName(12), 'layer12');
  assert.equal(tokenLabel(7, 5), 'token 7 (1, 2)');
  const data = syntheticReport({ h: 2, w: 2, layers: 1 });
  const panels = visualizationPanels(data, { token: 3, similarityRange: [-1, 1] });
  assert.deepEqual(
    panels.map((p) => [p.file, p.spec.title, p.spec.vmin, p.spec.vmax]),
    [
      ['layer00_overall.png', 'layer 0 · overall', -1, 1],
      ['layer00_token.png', 'layer 0 · token 3 (1, 1)', -1, 1],
    ],
  );
});

test('runLimited bounds concurrency and propagates failures', async () => {
  let active = 0;
  let peak = 0;
  const jobs = Array.from({ length: 10 }, () => async () => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, 2));
    active--;
  });
  await runLimited(jobs, 3);
  assert.equal(peak, 3);
  await assert.rejects(runLimited([async () => Promise.reject(new Error('boom'))], 2), /boom/);
});
