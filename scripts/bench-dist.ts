/**
 * `npm run bench:dist`: data parallelism on one machine. The ViT-Lite-7/4 LaPE training step (AdamW,
 * synthetic CIFAR-sized batch) on
 *
 *   1 process x R threads, global batch G          (the usual single process)
 *   R ranks x 1 thread each (mpirun), batch G / R  (lape train --nproc-per-node R)
 *
 * with R = the machine's cores (default), reporting images/s over the global batch, and for the ranks
 * the time each step spends in the gradient all-reduce (including waiting for the slower rank): the
 * most that overlapping communication with the backward pass could save.
 *
 * Flags: --quick (batch 16, few steps: checks that it runs), --batch G (default 128), --ranks R,
 * --json. Run it on a quiet machine: the numbers mean nothing while other processes share the cores.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { DataParallel } from '../src/dist/data_parallel.js';
import { mpirunArgs } from '../src/dist/launcher.js';
import { applyRankThreads } from '../src/dist/threads.js';
import { World } from '../src/dist/world.js';
import { createModel } from '../src/models/registry.js';
import { AdamW } from '../src/optim/adamw.js';
import { Rng } from '../src/tensor/random.js';
import { trainStep, type StepContext } from '../src/train/step.js';

type Result = Record<string, number | string>;

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined =>
  argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined;
const quick = argv.includes('--quick');
const json = argv.includes('--json');
const globalBatch = Number(flag('--batch') ?? (quick ? 16 : 128));
const ranks = Number(flag('--ranks') ?? os.availableParallelism());
const warmup = quick ? 1 : 3;
const iters = quick ? 3 : 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Times `iters` training steps of batch `batch` (after `warmup`), with `dp` when one of several ranks. */
function timeSteps(batch: number, dp: DataParallel | null): { stepMs: number; allreduceMs: number } {
  const model = createModel('vit_lite_7_4', { join: 'LaPE', numClasses: 10 }, { seed: 0 });
  const { decay, noDecay } = model.weightDecayGroups();
  const optimizer = new AdamW(
    [
      { params: noDecay.map(([, p]) => p), weightDecay: 0 },
      { params: decay.map(([, p]) => p), weightDecay: 0.05 },
    ],
    { lr: 5e-4 },
  );
  const ctx: StepContext = {
    model,
    optimizer,
    criterion: { kind: 'cross-entropy', smoothing: 0.1 },
    distillation: { kind: 'none' },
    teacher: null,
    clipGrad: null,
    ema: null,
    amp: false,
    dataParallel: dp,
  };
  const rng = new Rng(1 + (dp?.rank ?? 0));
  const images = rng.fillNormal(new Float32Array(batch * 3 * 32 * 32));
  const labels = Int32Array.from({ length: batch }, () => rng.int(10));
  const step = (): void =>
    void trainStep(ctx, { images: Float32Array.from(images), labels, targets: null, size: batch });
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  const reduce: number[] = [];
  for (let i = 0; i < iters; i++) {
    const before = dp?.gradients.stats.seconds ?? 0;
    // Start together, so that one rank's set-up does not count as the other's all-reduce wait.
    dp?.world.barrier();
    const t = performance.now();
    step();
    times.push(performance.now() - t);
    reduce.push(((dp?.gradients.stats.seconds ?? 0) - before) * 1000);
  }
  model.dispose();
  optimizer.dispose();
  return { stepMs: median(times), allreduceMs: median(reduce) };
}

function childSingle(): void {
  const { stepMs } = timeSteps(globalBatch, null);
  process.stdout.write(
    `${JSON.stringify({ single_step_ms: stepMs, single_ips: (globalBatch * 1000) / stepMs })}\n`,
  );
}

function childRank(): void {
  const world = World.init('bench:dist');
  applyRankThreads(world.localSize);
  const dp = new DataParallel(world);
  const { stepMs, allreduceMs } = timeSteps(globalBatch / world.size, dp);
  // The slowest rank sets the pace.
  const worst = Float64Array.of(stepMs, allreduceMs);
  world.allreduce(worst, 'max');
  if (dp.isLead) {
    const bytes = dp.gradients.stats.bytes / Math.max(1, dp.gradients.stats.calls);
    process.stdout.write(
      `${JSON.stringify({
        ranks_step_ms: worst[0],
        ranks_ips: (globalBatch * 1000) / worst[0],
        ranks_allreduce_ms: worst[1],
        allreduce_mb: (bytes * dp.gradients.stats.calls) / (warmup + iters) / 1e6,
        mpi: world.library,
      })}\n`,
    );
  }
  world.finalize();
}

function runChild(command: string, args: string[], env: NodeJS.ProcessEnv): Result {
  const p = spawnSync(command, args, {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = p.stdout
    ?.split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (p.status !== 0 || !line) throw new Error(`${command} ${args.join(' ')} failed (exit ${p.status})`);
  return JSON.parse(line) as Result;
}

function main(): void {
  if (!(Number.isInteger(ranks) && ranks >= 2))
    throw new Error(`--ranks must be an integer >= 2, got ${ranks}`);
  if (globalBatch % ranks !== 0)
    throw new Error(`--batch ${globalBatch} must be a multiple of --ranks ${ranks}`);
  const self = fileURLToPath(import.meta.url);
  const node = [process.execPath, '--import', 'tsx', self];
  const extra = [...(quick ? ['--quick'] : []), '--batch', String(globalBatch), '--ranks', String(ranks)];
  const single = runChild(node[0], [...node.slice(1), '--child', 'single', ...extra], {
    LAPE_NUM_THREADS: String(ranks),
    OMP_NUM_THREADS: String(ranks),
  });
  const command = [...node, '--child', 'rank', ...extra];
  const multi = runChild('mpirun', mpirunArgs({ nprocPerNode: ranks, hosts: null, command }), {
    LAPE_NUM_THREADS: '1',
    OMP_NUM_THREADS: '1',
  });
  const r: Result = {
    machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores`,
    global_batch: globalBatch,
    ranks,
    quick: String(quick),
    ...single,
    ...multi,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const n = (k: string): number => r[k] as number;
  const lines = [
    `ViT-Lite-7/4 LaPE train step, global batch ${globalBatch}, on ${r.machine}${quick ? ' (--quick: not a measurement)' : ''}`,
    `| configuration | images/s | step (ms) | all-reduce (ms/step) |`,
    `| --- | --- | --- | --- |`,
    `| 1 process x ${ranks} threads, batch ${globalBatch} | ${n('single_ips').toFixed(1)} | ${n('single_step_ms').toFixed(1)} | - |`,
    `| ${ranks} ranks x 1 thread, batch ${globalBatch / ranks} each (${r.mpi}) | ${n('ranks_ips').toFixed(1)} | ${n('ranks_step_ms').toFixed(1)} | ${n('ranks_allreduce_ms').toFixed(1)} (${((100 * n('ranks_allreduce_ms')) / n('ranks_step_ms')).toFixed(1)}%, ${n('allreduce_mb').toFixed(1)} MB) |`,
    `ranks / single: ${(n('ranks_ips') / n('single_ips')).toFixed(2)}x`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (argv.includes('--child')) {
  if (flag('--child') === 'single') childSingle();
  else childRank();
} else main();
