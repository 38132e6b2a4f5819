/**
 * `npm run bench:viz`: time `lape visualize` on a 12-layer DeiT-Tiny checkpoint (14x14 grid), end to
 * end: reading the .pth, building the model, computing every layer's maps, writing PNGs, .npy and
 * report.html. Prints the seconds per phase (the target is well under 10 s); a script, not a test.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFromCheckpoint } from '../src/checkpoint/load_model.js';
import { readCheckpointFile } from '../src/checkpoint/read.js';
import { writePth } from '../src/io/pth.js';
import { createModel } from '../src/models/registry.js';
import { exportWeights } from '../src/models/weights.js';
import { visualizationData } from '../src/viz/from_model.js';
import { writeVisualization } from '../src/viz/write.js';

const dir = mkdtempSync(join(tmpdir(), 'lape-bench-viz-'));
for (const [join_, rpe] of [
  ['LaPE', 'none'],
  ['basic', 'LN'],
] as const) {
  const ckpt = join(dir, `deit_tiny_${join_}.pth`);
  const model = createModel('deit_tiny_patch16_224', { join: join_, rpe }, { seed: 0 });
  writePth(ckpt, new Map([['model', exportWeights(model)]]));
  model.dispose();

  const t0 = performance.now();
  const { model: loaded, resolved } = modelFromCheckpoint(readCheckpointFile(ckpt), {
    model: 'deit_tiny_patch16_224',
    overrides: { join: join_, rpe },
  });
  const name = resolved.name;
  const t1 = performance.now();
  const data = visualizationData(loaded, { title: ckpt, modelName: name });
  const t2 = performance.now();
  const files = await writeVisualization(join(dir, `out_${join_}`), data);
  const t3 = performance.now();
  const s = (a: number, b: number): string => ((b - a) / 1000).toFixed(2);
  process.stdout.write(
    `deit_tiny_patch16_224 join ${join_}, rpe ${rpe}: load ${s(t0, t1)} s, maps ${s(t1, t2)} s, write ${files.length} files ${s(t2, t3)} s, total ${s(t0, t3)} s\n`,
  );
}
