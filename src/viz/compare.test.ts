import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { syntheticReport } from '../../test/viz/fixtures.js';
import { colorOf } from './colormap.js';
import { comparisonRows, writeComparison } from './compare.js';
import { layoutGrid } from './heatmap.js';
import { readReportPayload } from './report.js';
import { tokenMap } from './similarity.js';

test('writeComparison writes the two figures and the HTML, rows A and B per layer', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lape-viz-compare-'));
  try {
    const a = syntheticReport({ h: 4, w: 4, layers: 3, join: 'LaPE', seed: 1 });
    const b = syntheticReport({ h: 4, w: 4, layers: 3, join: 'basic', seed: 2 });
    const written = await writeComparison(dir, a, b, { token: 5 });
    assert.deepEqual((await readdir(dir)).sort(), [
      'compare.html',
      'compare_overall.png',
      'compare_token.png',
    ]);
    assert.equal(written.length, 3);

    // Rebuild the token figure's layout and check one cell of row B, layer 2.
    const labels: [string, string] = ['learnable / LaPE', 'learnable / basic'];
    const rows = comparisonRows(a, b, labels, (_d, l, label) => ({
      values: tokenMap(l.similarity, 16, 5),
      rows: 4,
      cols: 4,
      title: `${label} · layer ${l.index}`,
      colormap: { kind: 'viridis' },
      marker: { row: 1, col: 1 },
    }));
    assert.equal(rows.columns, 3);
    assert.equal(rows.panels.length, 6);
    const png = await readFile(join(dir, 'compare_token.png'));
    const { data: px, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const G = layoutGrid(
      rows.panels,
      3,
      `PE similarity of token 5 (1, 1) · top: ${labels[0]}, bottom: ${labels[1]}`,
    );
    assert.deepEqual([info.width, info.height], [G.width, G.height]);
    const slot = G.panels[5];
    assert.ok(slot);
    const values = tokenMap(b.layers[2].similarity, 16, 5);
    const k = 15;
    const x = slot.x + slot.layout.mapX + (k % 4) * slot.layout.cell + 3;
    const y = slot.y + slot.layout.mapY + Math.floor(k / 4) * slot.layout.cell + 3;
    const o = (y * info.width + x) * info.channels;
    const want = colorOf(values[k], slot.layout.vmin, slot.layout.vmax, { kind: 'viridis' });
    assert.deepEqual([px[o], px[o + 1], px[o + 2]], [...want]);

    const payload = readReportPayload(await readFile(join(dir, 'compare.html'), 'utf8'));
    assert.deepEqual(
      payload.runs.map((r) => r.label),
      labels,
    );
    assert.equal(payload.token, 5);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('comparisonRows aligns layers by index and leaves gaps', () => {
  const a = syntheticReport({ h: 2, w: 2, layers: 3 });
  const b = { ...syntheticReport({ h: 2, w: 2, layers: 3 }) };
  b.layers = [b.layers[0], { ...b.layers[2], index: 4 }];
  const rows = comparisonRows(a, b, ['A', 'B'], (_d, l, label) => ({
    values: l.similarity,
    rows: 4,
    cols: 4,
    title: `${label} ${l.index}`,
    colormap: { kind: 'viridis' },
  }));
  assert.equal(rows.columns, 4); // indices 0, 1, 2, 4
  assert.deepEqual(
    rows.panels.map((p) => p?.title ?? null),
    ['A 0', 'A 1', 'A 2', null, 'B 0', null, null, 'B 4'],
  );
});

test('writeComparison refuses different grids and bad tokens', async () => {
  const a = syntheticReport({ h: 3, w: 3, layers: 1 });
  const b = syntheticReport({ h: 4, w: 4, layers: 1 });
  await assert.rejects(writeComparison(join(tmpdir(), 'lape-never'), a, b), /different grids/);
  await assert.rejects(writeComparison(join(tmpdir(), 'lape-never'), a, a, { token: 9 }), /token 9 outside/);
});
