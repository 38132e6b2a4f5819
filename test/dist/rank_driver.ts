/**
 * One rank of the data-parallel equality test, started by mpirun: trains each case of the spec with
 * its gradients averaged over the ranks, and rank 0 writes the final weights of each case.
 *
 *   mpirun -np 2 node --import tsx test/dist/rank_driver.ts SPEC.json
 *
 * SPEC.json: { "out": folder, "cases": [{ "name": ..., "config": TrainConfig }, ...] }
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataParallel } from '../../src/dist/data_parallel.js';
import { applyRankThreads } from '../../src/dist/threads.js';
import { World } from '../../src/dist/world.js';
import type { TrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/train.js';
import { weightBytes } from './weights.js';

interface Spec {
  out: string;
  cases: { name: string; config: TrainConfig }[];
}

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Spec;
const world = World.init();
applyRankThreads(world.localSize);
const dp = new DataParallel(world);
for (const c of spec.cases) {
  const { model } = await train(c.config, { dataParallel: dp, progress: false, log: () => {} });
  if (dp.isLead) writeFileSync(join(spec.out, `${c.name}.bin`), weightBytes(model));
  model.dispose();
}
world.finalize();
