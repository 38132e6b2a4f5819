/**
 * Compute a checkpoint's per-layer position-embedding similarity maps (what `lape visualize` draws) and
 * save them as PNGs.
 *
 *   node --import tsx examples/similarity.ts CHECKPOINT.pth OUT_DIR [MODEL JOIN]
 *
 * MODEL and JOIN are needed for reference checkpoints that do not record them (lape's own do).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint, positionSimilarity, renderHeatmap, writeVisualization, type JoinKind } from 'lape';
import { writeFile } from 'node:fs/promises';

const [checkpoint, outDir, modelName, joinKind] = process.argv.slice(2);
if (!checkpoint || !outDir) {
  console.error('usage: examples/similarity.ts CHECKPOINT.pth OUT_DIR [MODEL JOIN]');
  process.exit(2);
}
const { model, name } = loadCheckpoint(checkpoint, {
  model: modelName,
  overrides: joinKind ? { join: joinKind as JoinKind } : {},
});

// layers[i].similarity: cosine similarity of every pair of patches in the PE layer i's attention sees.
const sim = positionSimilarity(model, { title: checkpoint, modelName: name });
const p = sim.grid.h * sim.grid.w;
for (const layer of sim.layers) {
  const s = layer.similarity;
  let sum = 0;
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) if (i !== j) sum += s[i * p + j];
  console.log(JSON.stringify({ layer: layer.index, meanOffDiagonal: sum / (p * (p - 1)) }));
}

// One PNG of the last layer's map, drawn directly...
mkdirSync(outDir, { recursive: true });
const last = sim.layers[sim.layers.length - 1];
const png = await renderHeatmap({
  values: last.similarity,
  rows: p,
  cols: p,
  title: `layer ${last.index}: PE cosine similarity`,
  colormap: { kind: 'viridis' },
});
await writeFile(join(outDir, 'last_layer.png'), png);
// ...and every figure `lape visualize` writes (per-layer PNGs and the overview), without the HTML report.
const files = await writeVisualization(outDir, sim, { html: false, npy: false });
console.log(`wrote ${files.length + 1} PNGs to ${outDir}`);
model.dispose();
