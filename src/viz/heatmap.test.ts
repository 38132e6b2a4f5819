import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { colorOf, colormapLut, LUT_SIZE, type ColormapSpec } from './colormap.js';
import { layoutGrid, layoutHeatmap, renderGrid, renderHeatmap, type HeatmapSpec } from './heatmap.js';

interface Decoded {
  width: number;
  height: number;
  channels: number;
  data: Buffer;
}

async function decode(png: Buffer): Promise<Decoded> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data };
}

function pixel(img: Decoded, x: number, y: number): number[] {
  const o = (y * img.width + x) * img.channels;
  return [img.data[o], img.data[o + 1], img.data[o + 2]];
}

const VIRIDIS: ColormapSpec = { kind: 'viridis' };
const DIVERGING: ColormapSpec = { kind: 'diverging' };

test('renderHeatmap: PNG size matches the layout and cells carry their colour-map colours', async () => {
  const rows = 3;
  const cols = 4;
  const values = Float32Array.from({ length: rows * cols }, (_, i) => i / 11); // 0..1
  const spec: HeatmapSpec = { values, rows, cols, title: 'layer 3 · overall', colormap: VIRIDIS };
  const L = layoutHeatmap(spec);
  assert.equal(L.cell, 96, 'longer side (4 cells) scaled to ~384 px');
  const png = await renderHeatmap(spec);
  assert.deepEqual([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
  const img = await decode(png);
  assert.equal(img.width, L.width);
  assert.equal(img.height, L.height);
  assert.equal(img.channels, 3, 'opaque RGB output');
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const want = colorOf(values[i * cols + j], 0, values[rows * cols - 1], VIRIDIS);
      // Explicit types: TS cannot infer these through the assertion calls in this loop (TS7022).
      const cx: number = L.mapX + j * L.cell + (L.cell >> 1);
      const cy: number = L.mapY + i * L.cell + (L.cell >> 1);
      assert.deepEqual(pixel(img, cx, cy), [...want], `cell (${i}, ${j})`);
      // Nearest-neighbour upscaling: the cell's corners have the same colour as its centre.
      assert.deepEqual(pixel(img, L.mapX + j * L.cell, L.mapY + i * L.cell), [...want]);
      assert.deepEqual(pixel(img, L.mapX + (j + 1) * L.cell - 1, L.mapY + (i + 1) * L.cell - 1), [...want]);
    }
  }
  // Colour bar: top row shows the maximum, bottom row the minimum.
  const lut = colormapLut(VIRIDIS);
  const top = pixel(img, L.barX + (L.barWidth >> 1), L.barY);
  const bottom = pixel(img, L.barX + (L.barWidth >> 1), L.barY + L.barHeight - 1);
  const last = 3 * (LUT_SIZE - 1);
  assert.deepEqual(top, [lut[last], lut[last + 1], lut[last + 2]]);
  assert.deepEqual(bottom, [lut[0], lut[1], lut[2]]);
  assert.deepEqual(
    L.ticks.map((t) => t.label),
    ['1', '0.5', '0'],
  );
  // Text was rendered: the title area is no longer uniformly white.
  let dark = 0;
  for (let y = 0; y < L.mapY; y++) {
    for (let x = 0; x < img.width; x++) if (pixel(img, x, y)[0] < 128) dark++;
  }
  assert.ok(dark > 50, `title text drawn (${dark} dark pixels)`);
});

test('renderHeatmap: explicit range, diverging map, marker and explicit cell size', async () => {
  const rows = 5;
  const cols = 5;
  const values = Float32Array.from({ length: 25 }, (_, i) => (i - 12) / 4); // -3..3
  const spec: HeatmapSpec = {
    values,
    rows,
    cols,
    vmin: -2,
    vmax: 2,
    colormap: DIVERGING,
    marker: { row: 2, col: 2 },
    cellSize: 10,
  };
  const L = layoutHeatmap(spec);
  assert.equal(L.mapY, 12, 'no title row');
  const img = await decode(await renderHeatmap(spec));
  assert.equal(img.width, L.width);
  assert.equal(img.height, L.height);
  const at = (i: number, j: number): number[] => pixel(img, L.mapX + j * 10 + 5, L.mapY + i * 10 + 5);
  assert.deepEqual(at(0, 0), [...colorOf(-3, -2, 2, DIVERGING)], 'clamped below');
  assert.deepEqual(at(4, 4), [...colorOf(3, -2, 2, DIVERGING)], 'clamped above');
  assert.deepEqual(at(1, 3), [...colorOf(values[8], -2, 2, DIVERGING)]);
  // Marked cell keeps its colour inside; the ring (black outside, white inside) surrounds it.
  assert.deepEqual(at(2, 2), [...colorOf(0, -2, 2, DIVERGING)]);
  const x0 = L.mapX + 2 * 10;
  const y0 = L.mapY + 2 * 10;
  assert.deepEqual(pixel(img, x0 - 2, y0 + 5), [0, 0, 0]);
  assert.deepEqual(pixel(img, x0 - 1, y0 + 5), [255, 255, 255]);
  assert.deepEqual(pixel(img, x0 + 5, y0 + 10 + 1), [0, 0, 0]);
});

test('renderHeatmap: the diverging default range is symmetric about zero', () => {
  const L = layoutHeatmap({ values: [-0.5, 2], rows: 1, cols: 2, colormap: DIVERGING });
  assert.deepEqual([L.vmin, L.vmax], [-2, 2]);
});

test('renderHeatmap: a constant map gets one tick label and mid-table colour', async () => {
  const spec: HeatmapSpec = { values: new Float32Array(9).fill(0.25), rows: 3, cols: 3, colormap: VIRIDIS };
  const L = layoutHeatmap(spec);
  assert.deepEqual(
    L.ticks.map((t) => t.label),
    ['0.25'],
  );
  const img = await decode(await renderHeatmap(spec));
  assert.deepEqual(pixel(img, L.mapX + 1, L.mapY + 1), [...colorOf(0.25, 0.25, 0.25, VIRIDIS)]);
});

test('renderHeatmap rejects inconsistent input', () => {
  assert.throws(
    () => layoutHeatmap({ values: [1, 2, 3], rows: 2, cols: 2, colormap: VIRIDIS }),
    /expected 2x2/,
  );
  assert.throws(
    () =>
      layoutHeatmap({
        values: [1, 2, 3, 4],
        rows: 2,
        cols: 2,
        colormap: VIRIDIS,
        marker: { row: 2, col: 0 },
      }),
    /marker/,
  );
  assert.throws(
    () => layoutHeatmap({ values: [], rows: 0, cols: 2, colormap: VIRIDIS }),
    /invalid heat map size/,
  );
});

test('renderGrid: panels are tiled in rows, null leaves an empty slot, cells keep their colours', async () => {
  const mk = (k: number): HeatmapSpec => ({
    values: Float32Array.from({ length: 16 }, (_, i) => (i * (k + 1)) % 7),
    rows: 4,
    cols: 4,
    title: `layer ${k}`,
    colormap: VIRIDIS,
  });
  const panels = [mk(0), mk(1), mk(2), null, mk(3)];
  const G = layoutGrid(panels, 3, 'overview');
  const img = await decode(await renderGrid(panels, 3, 'overview'));
  assert.equal(img.width, G.width);
  assert.equal(img.height, G.height);
  assert.equal(G.panels[3], null);
  const p4 = G.panels[4];
  const p0 = G.panels[0];
  assert.ok(p4 && p0);
  assert.equal(p4.x, G.panels[1]?.x, 'slot 4 is in the second column');
  assert.ok(p4.y > p0.y, 'slot 4 is on the second row');
  for (const [slotIndex, spec] of [
    [0, panels[0]],
    [4, panels[4]],
  ] as const) {
    const slot = G.panels[slotIndex];
    assert.ok(slot && spec);
    const L = slot.layout;
    assert.equal(L.cell, 48, 'grid panels default to ~192 px');
    for (const [i, j] of [
      [0, 0],
      [1, 2],
      [3, 3],
    ]) {
      const v = spec.values[i * 4 + j];
      const want = colorOf(v, L.vmin, L.vmax, VIRIDIS);
      const got = pixel(img, slot.x + L.mapX + j * L.cell + 20, slot.y + L.mapY + i * L.cell + 20);
      assert.deepEqual(got, [...want]);
    }
  }
});
