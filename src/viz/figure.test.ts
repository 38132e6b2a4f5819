/**
 * Figures for papers (--format svg|pdf, --dpi, --axes) and the reference's layout
 * (--reference-layout): file names, formats, colour range, token.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PDFDocument } from 'pdf-lib';
import sharp from 'sharp';
import { syntheticReport } from '../../test/viz/fixtures.js';
import { encodeFigure, figureToSvg } from './figure.js';
import { axisTicks, heatmapFigure, type HeatmapSpec } from './heatmap.js';
import { referenceToken, writeReferenceLayout } from './reference_layout.js';
import { writeVisualization } from './write.js';

const spec: HeatmapSpec = {
  values: Float32Array.from({ length: 16 }, (_, i) => i / 15),
  rows: 4,
  cols: 4,
  title: 'layer 0 · token 5 (1, 1)',
  vmin: 0,
  vmax: 1,
  colormap: { kind: 'viridis' },
  marker: { row: 1, col: 1 },
  axes: { rows: 'row', cols: 'column' },
};

describe('figure formats', () => {
  it('svg is vector: one rectangle per run of cells, text as text', () => {
    const svg = figureToSvg(heatmapFigure(spec));
    assert.match(svg, /^<\?xml/);
    assert.ok((svg.match(/<rect /g) ?? []).length >= 16, 'cells as rectangles');
    assert.match(svg, />layer 0 · token 5 \(1, 1\)</);
    assert.match(svg, />column</);
  });

  it('pdf is one vector page of the figure size, text included', async () => {
    const fig = heatmapFigure(spec);
    const pdf = await encodeFigure(fig, { format: 'pdf' });
    assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
    const doc = await PDFDocument.load(pdf);
    const { width, height } = doc.getPage(0).getSize();
    assert.deepEqual([width, height], [fig.width * 0.75, fig.height * 0.75]);
  });

  it('--dpi scales raster figures and records the resolution; jpg is JPEG', async () => {
    const fig = heatmapFigure(spec);
    const at96 = await sharp(await encodeFigure(fig, { format: 'png' })).metadata();
    const at192 = await sharp(await encodeFigure(fig, { format: 'png', dpi: 192 })).metadata();
    assert.deepEqual([at192.width, at192.height], [2 * (at96.width ?? 0), 2 * (at96.height ?? 0)]);
    assert.equal(at192.density, 192);
    const jpg = await encodeFigure(fig, { format: 'jpg' });
    assert.deepEqual([...jpg.subarray(0, 2)], [0xff, 0xd8]);
  });

  it('axis ticks: every index up to 16 cells, round steps beyond', () => {
    assert.deepEqual(axisTicks(5), [0, 1, 2, 3, 4]);
    assert.deepEqual(axisTicks(196).slice(0, 4), [0, 40, 80, 120]);
  });

  it('writeVisualization writes every figure in the format asked for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lape-fig-'));
    await writeVisualization(dir, syntheticReport({ layers: 2 }), {
      format: 'svg',
      axes: true,
      html: false,
      npy: false,
    });
    const files = readdirSync(dir);
    assert.ok(files.includes('layer00_overall.svg') && files.includes('overview.svg'), files.join(' '));
    assert.ok(files.every((f) => f.endsWith('.svg')));
  });
});

describe('--reference-layout', () => {
  it("the reference's folder, file names, JPEG, the raw PE's map, and its token 90 on 14x14", async () => {
    assert.equal(referenceToken(14, 14), 90);
    assert.equal(referenceToken(7, 7), 24);
    const data = syntheticReport({ layers: 2 });
    data.peSimilarity = data.layers[0].similarity;
    const dir = mkdtempSync(join(tmpdir(), 'lape-ref-'));
    const files = await writeReferenceLayout(dir, data, { modelName: 'deit_t_LaPE', join: 'LaPE' });
    const names = readdirSync(join(dir, 'deit_t_LaPE')).sort();
    const t = referenceToken(data.grid.h, data.grid.w);
    assert.deepEqual(
      names,
      [
        `LaPE_layer0_sim_${t}thToken.jpg`,
        'LaPE_layer0_sim_overall.jpg',
        `LaPE_layer1_sim_${t}thToken.jpg`,
        'LaPE_layer1_sim_overall.jpg',
        'PE_token_sim.jpg',
        ...(data.rpe ?? []).flatMap((l) => l.heads.map((_, hd) => `LaPE_layer${l.layer}_head${hd}.jpg`)),
      ].sort(),
    );
    assert.equal(files.length, names.length);
    const jpg = readFileSync(join(dir, 'deit_t_LaPE', 'LaPE_layer0_sim_overall.jpg'));
    assert.deepEqual([...jpg.subarray(0, 2)], [0xff, 0xd8]);
  });
});
