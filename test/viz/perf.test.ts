/**
 * Rendering budget: every map of a DeiT-sized run (12 layers, 14 x 14 grid, P = 196) must render
 * well under 10 s. Timings are reported as test diagnostics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cosineSimilarityMatrix } from '../../src/viz/similarity.js';
import { writeVisualization } from '../../src/viz/write.js';
import { syntheticPe, syntheticReport } from './fixtures.js';

const BUDGET_MS = 10_000;

test('similarity of 12 layers x 196 patches x D=768', (t) => {
  const pes = Array.from({ length: 12 }, (_, l) => syntheticPe(14, 14, 768, l));
  const t0 = performance.now();
  for (const pe of pes) cosineSimilarityMatrix(pe, 196, 768);
  const ms = performance.now() - t0;
  t.diagnostic(`cosineSimilarityMatrix x12 (196 x 768): ${ms.toFixed(0)} ms`);
  assert.ok(ms < BUDGET_MS);
});

for (const heads of [0, 12]) {
  test(`writeVisualization, 12 layers, 14x14 grid${heads ? `, RPE 12 layers x ${heads} heads` : ''}`, async (t) => {
    const data = syntheticReport({ h: 14, w: 14, layers: 12, d: 64, rpe: heads > 0, heads, logEpochs: 300 });
    const dir = await mkdtemp(join(tmpdir(), 'lape-viz-perf-'));
    try {
      const t0 = performance.now();
      const files = await writeVisualization(dir, data);
      const ms = performance.now() - t0;
      t.diagnostic(`${files.length} files (PNGs, overview, npy, report.html) in ${ms.toFixed(0)} ms`);
      assert.ok(ms < BUDGET_MS, `took ${ms.toFixed(0)} ms`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
