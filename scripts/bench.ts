/**
 * `npm run bench`: lape's speed side by side with PyTorch in the same run and environment.
 *
 *   sgemm      1024^3 float32 matmul, GFLOP/s (best of N)
 *   encoder    forward + backward of 7 pre-norm encoder layers (65 tokens, dim 256, 4 heads, MLP 512,
 *              batch 128), ms (median)
 *   vit_lite   ViT-Lite-7/4 training step (batch 128: forward, cross-entropy, backward, AdamW), LaPE and
 *              basic join, ms and images/s
 *   deit_tiny  DeiT-Tiny 224 inference, batch 64, no grad, images/s
 *   ort_deit_tiny  the same model exported by lape to ONNX, in onnxruntime-node (scripts/bench/ort.ts)
 *   data       Fashion-MNIST training images/s with the lape_fmnist model fed by the augmenting loader
 *              (2 workers, RandAugment-free DeiT small-image transform + mixup/cutmix)
 *   data_memory  the same loop fed from memory (lape only: PyTorch has no equivalent here)
 *
 * Each benchmark runs in its own process so its peak RSS is its own. The PyTorch side is
 * scripts/bench_torch.py under /usr/bin/python3 (skipped with a note when torch is missing).
 * Flags: --json (one object), --quick (fewer iterations), --only a,b.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backward, noGrad } from '../src/autograd/tape.js';
import { dispatch } from '../src/backend/dispatch.js';
import { getBackend, numThreads } from '../src/backend/registry.js';
import { nativeInfo } from '../src/backend/native/native_backend.js';
import type { Batch } from '../src/data/batch.js';
import { createLoader } from '../src/data/loader.js';
import { openDataset } from '../src/data/datasets.js';
import { Block } from '../src/models/block.js';
import { createModel } from '../src/models/registry.js';
import type { VisionTransformer } from '../src/models/vision_transformer.js';
import { randNormal } from '../src/ops/creation.js';
import { AdamW } from '../src/optim/adamw.js';
import { tidy } from '../src/tensor/memory.js';
import { Rng } from '../src/tensor/random.js';
import { Tensor } from '../src/tensor/tensor.js';
import { trainStep, type StepContext } from '../src/train/step.js';
import { trainTransform } from '../src/train/data.js';
import { benchOrtDeitTiny } from './bench/ort.js';
import { defaultTrainConfig } from '../src/train/config.js';

type Result = Record<string, number | string | boolean>;
const BENCHES = [
  'sgemm',
  'encoder',
  'vit_lite',
  'deit_tiny',
  'ort_deit_tiny',
  'data',
  'data_memory',
] as const;
type BenchName = (typeof BENCHES)[number];

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const json = argv.includes('--json');
const onlyArg = argv[argv.indexOf('--only') + 1];
const only = (argv.includes('--only') ? onlyArg.split(',') : [...BENCHES]) as BenchName[];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs fn `warmup` times, then `iters` timed times; returns milliseconds per call. */
function timed(fn: () => void, warmup: number, iters: number): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return out;
}

const heavy = quick ? { warmup: 1, iters: 1 } : { warmup: 1, iters: 5 };

function benchSgemm(): Result {
  const n = 1024;
  const a = randNormal([n, n]);
  const b = randNormal([n, n]);
  const c = Tensor.empty([n, n]);
  const call = (): void => dispatch.matmul({ a, b, c, m: n, n, k: n });
  const times = timed(call, 3, quick ? 5 : 20);
  return { sgemm_gflops: (2 * n ** 3) / (Math.min(...times) / 1e3) / 1e9 };
}

function benchEncoder(): Result {
  const rng = new Rng(0);
  const blocks = Array.from(
    { length: 7 },
    () =>
      new Block(
        {
          dim: 256,
          numHeads: 4,
          qkvBias: true,
          attnDrop: 0,
          projDrop: 0,
          rpe: null,
          mlpHidden: 512,
          dropPath: 0,
          normEps: 1e-6,
          style: 'prenorm',
          peNorm: false,
        },
        rng,
      ),
  );
  const x = randNormal([128, 65, 256]).keep();
  x.requiresGrad = true;
  const gy = randNormal([128, 65, 256]).keep();
  const params = blocks.flatMap((b) => b.parameters());
  const step = (): void => {
    for (const p of [...params, x]) {
      p.grad?.dispose();
      p.grad = null;
    }
    tidy(() => {
      let y = x;
      for (const b of blocks) y = b.forward(y, null);
      backward(y, gy);
    });
  };
  return { encoder_ms: median(timed(step, heavy.warmup, heavy.iters)) };
}

/** A training step with plain cross-entropy: no distillation, clipping or EMA. */
function plainStepContext(model: VisionTransformer, optimizer: AdamW, smoothing: number): StepContext {
  return {
    model,
    optimizer,
    criterion: { kind: 'cross-entropy', smoothing },
    distillation: { kind: 'none' },
    teacher: null,
    clipGrad: null,
    ema: null,
  };
}

/** The data benches' model: the Fashion-MNIST LaPE ViT with AdamW, as in the README recipe. */
function fmnistStepContext(): StepContext {
  const model = createModel('lape_fmnist', { join: 'LaPE' }, { seed: 0 });
  return plainStepContext(model, new AdamW([{ params: model.parameters() }], { lr: 1e-3 }), 0.1);
}

function vitLiteStep(join: 'LaPE' | 'basic'): number {
  const model = createModel('vit_lite_7_4', { join, numClasses: 10 }, { seed: 0 });
  const { decay, noDecay } = model.weightDecayGroups();
  const optimizer = new AdamW(
    [
      { params: noDecay.map(([, p]) => p), weightDecay: 0 },
      { params: decay.map(([, p]) => p), weightDecay: 0.05 },
    ],
    { lr: 5e-4 },
  );
  const ctx = plainStepContext(model, optimizer, 0);
  const rng = new Rng(1);
  const images = rng.fillNormal(new Float32Array(128 * 3 * 32 * 32));
  const labels = Int32Array.from({ length: 128 }, () => rng.int(10));
  const ms = median(
    timed(
      () => void trainStep(ctx, { images: Float32Array.from(images), labels, targets: null, size: 128 }),
      heavy.warmup,
      heavy.iters,
    ),
  );
  model.dispose();
  return ms;
}

function benchVitLite(): Result {
  const lape = vitLiteStep('LaPE');
  const basic = vitLiteStep('basic');
  return { vit_lite_step_ms: lape, vit_lite_ips: (128 * 1000) / lape, vit_lite_step_basic_ms: basic };
}

function benchDeitTiny(): Result {
  const model = createModel('deit_tiny_patch16_224', {}, { seed: 0 }).eval();
  const x = randNormal([64, 3, 224, 224]).keep();
  const ms = median(timed(() => noGrad(() => tidy(() => void model.forward(x))), 1, quick ? 1 : 5));
  return { deit_tiny_infer_ips: (64 * 1000) / ms };
}

async function benchData(): Promise<Result> {
  const cfg = defaultTrainConfig();
  cfg.data.kind = 'fashion-mnist';
  const source = await openDataset({ kind: 'fashion-mnist', split: 'train' });
  const ctx = fmnistStepContext();
  const steps = quick ? 10 : 40;
  const loader = await createLoader({
    source,
    transform: trainTransform(cfg, 28, 1),
    batchSize: 128,
    shuffle: true,
    seed: 0,
    workers: 2,
    dropLast: true,
    mixup: {
      mixupAlpha: 0.8,
      cutmixAlpha: 1,
      cutmixMinMax: null,
      prob: 1,
      switchProb: 0.5,
      mode: 'batch',
      correctLam: true,
      labelSmoothing: 0.1,
    },
  });
  // Drive the iterator by hand and leave the epoch unfinished: the child process exits right after.
  const it = loader.iterate(0);
  const next = async (): Promise<Batch> => {
    const r = await it.next();
    if (r.done) throw new Error('data bench: the epoch ended early');
    return r.value;
  };
  for (let i = 0; i < 2; i++) trainStep(ctx, await next()); // warmup
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) trainStep(ctx, await next());
  const fed = (steps * 128 * 1000) / (performance.now() - t0);
  return { data_loader_ips: fed };
}

/** The same loop fed from memory: one batch of the loader's shape, copied per step as the loader's are. */
function benchDataMemory(): Result {
  const ctx = fmnistStepContext();
  const rng = new Rng(3);
  const images = rng.fillNormal(new Float32Array(128 * 28 * 28));
  const labels = Int32Array.from({ length: 128 }, () => rng.int(10));
  const targets = new Float32Array(128 * 10).fill(0.01);
  labels.forEach((y, i) => (targets[i * 10 + y] = 0.91));
  const steps = quick ? 10 : 40;
  const ms = median(
    timed(
      () => void trainStep(ctx, { images: Float32Array.from(images), labels, targets, size: 128 }),
      2,
      steps,
    ),
  );
  return { data_memory_ips: (128 * 1000) / ms };
}

async function child(name: BenchName): Promise<void> {
  const runs: Record<BenchName, () => Result | Promise<Result>> = {
    sgemm: benchSgemm,
    encoder: benchEncoder,
    vit_lite: benchVitLite,
    deit_tiny: benchDeitTiny,
    ort_deit_tiny: () => benchOrtDeitTiny({ iters: quick ? 1 : 5 }),
    data: benchData,
    data_memory: benchDataMemory,
  };
  const r = await runs[name]();
  r[`${name}_rss_mb`] = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify(r)}\n`, () => process.exit(0));
}

function runChild(name: BenchName): Result {
  const self = fileURLToPath(import.meta.url);
  const p = spawnSync(
    process.execPath,
    ['--import', 'tsx', self, '--child', name, ...(quick ? ['--quick'] : [])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = p.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (p.status !== 0 || !line) return { [`${name}_error`]: `exit code ${p.status}` };
  return JSON.parse(line) as Result;
}

function runTorch(): Result {
  const torchNames = only.filter((n) => n !== 'data' && n !== 'data_memory' && n !== 'ort_deit_tiny');
  if (torchNames.length === 0) return {};
  const script = fileURLToPath(new URL('./bench_torch.py', import.meta.url));
  const p = spawnSync(
    '/usr/bin/python3',
    [script, '--only', torchNames.join(','), ...(quick ? ['--quick'] : [])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = p.stdout
    ?.split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (p.status !== 0 || !line)
    return {
      torch_error: `PyTorch side unavailable (/usr/bin/python3 with torch; exit ${p.status ?? p.error?.message})`,
    };
  return JSON.parse(line) as Result;
}

function table(r: Result): string {
  const num = (k: string): number | undefined => (typeof r[k] === 'number' ? (r[k] as number) : undefined);
  const rows: [string, string, string, string, string][] = [
    ['benchmark', 'lape', 'PyTorch', 'speed-up', 'peak RSS lape / torch (MiB)'],
  ];
  const add = (
    label: string,
    ours: string,
    theirs: string,
    higherBetter: boolean,
    rss: string,
    unit: string,
  ): void => {
    const a = num(ours);
    const b = num(theirs);
    const ratio = a !== undefined && b !== undefined ? (higherBetter ? a / b : b / a) : undefined;
    const rssA = num(`${rss}_rss_mb`);
    const rssB = num(`torch_${rss}_rss_mb`);
    rows.push([
      label,
      a !== undefined ? `${a.toFixed(1)} ${unit}` : '-',
      b !== undefined ? `${b.toFixed(1)} ${unit}` : '-',
      ratio !== undefined ? `${ratio.toFixed(2)}x` : '-',
      `${rssA?.toFixed(0) ?? '-'} / ${rssB?.toFixed(0) ?? '-'}`,
    ]);
  };
  add('sgemm 1024^3', 'sgemm_gflops', 'torch_sgemm_gflops', true, 'sgemm', 'GFLOP/s');
  add('7-layer encoder fwd+bwd (B128)', 'encoder_ms', 'torch_encoder_ms', false, 'encoder', 'ms');
  add(
    'ViT-Lite-7/4 LaPE train step (B128)',
    'vit_lite_step_ms',
    'torch_vit_lite_step_ms',
    false,
    'vit_lite',
    'ms',
  );
  add(
    'ViT-Lite-7/4 basic train step (B128)',
    'vit_lite_step_basic_ms',
    'torch_vit_lite_step_basic_ms',
    false,
    'vit_lite',
    'ms',
  );
  add(
    'DeiT-Tiny inference (B64)',
    'deit_tiny_infer_ips',
    'torch_deit_tiny_infer_ips',
    true,
    'deit_tiny',
    'img/s',
  );
  add(
    'DeiT-Tiny in onnxruntime-node, lape export (B64)',
    'ort_deit_tiny_infer_ips',
    'torch_deit_tiny_infer_ips',
    true,
    'ort_deit_tiny',
    'img/s',
  );
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((c, i) => c.padEnd(w[i])).join('  '));
  const lape = num('vit_lite_step_ms');
  const basic = num('vit_lite_step_basic_ms');
  if (lape !== undefined && basic !== undefined)
    lines.push(`LaPE overhead over basic (ViT-Lite step): ${(100 * (lape / basic - 1)).toFixed(1)}%`);
  const tl = num('torch_vit_lite_step_ms');
  const tb = num('torch_vit_lite_step_basic_ms');
  if (tl !== undefined && tb !== undefined)
    lines.push(`PyTorch's LaPE overhead over basic: ${(100 * (tl / tb - 1)).toFixed(1)}%`);
  const ortIps = num('ort_deit_tiny_infer_ips');
  const lapeIps = num('deit_tiny_infer_ips');
  if (ortIps !== undefined && lapeIps !== undefined)
    lines.push(
      `DeiT-Tiny inference: lape ${lapeIps.toFixed(1)} img/s, onnxruntime-node ${r.ort_version} on lape's export ${ortIps.toFixed(1)} img/s (${r.ort_threads} threads; lape/onnxruntime ${(lapeIps / ortIps).toFixed(2)}x)`,
    );
  const fed = num('data_loader_ips');
  const mem = num('data_memory_ips');
  if (fed !== undefined && mem !== undefined) {
    lines.push(
      `training fed by the augmenting loader: ${fed.toFixed(0)} img/s vs from memory ${mem.toFixed(0)} img/s (${((100 * fed) / mem).toFixed(0)}%)`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (argv.includes('--child')) {
    await child(argv[argv.indexOf('--child') + 1] as BenchName);
    return;
  }
  const info = nativeInfo();
  const result: Result = {
    backend: getBackend().name,
    lape_threads: numThreads(),
    dnnl: info.available ? info.info.dnnlVersion : '',
    quick,
  };
  for (const name of only) {
    if (!BENCHES.includes(name))
      throw new Error(`--only: unknown benchmark '${name}'; choose from ${BENCHES.join(', ')}`);
    process.stderr.write(`lape: ${name}...\n`);
    Object.assign(result, runChild(name));
  }
  process.stderr.write('PyTorch: running scripts/bench_torch.py...\n');
  Object.assign(result, runTorch());
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else
    process.stdout.write(
      `lape: backend ${result.backend} (oneDNN ${result.dnnl || 'n/a'}, ${result.lape_threads} threads); PyTorch ${result.torch_version ?? 'n/a'} (${result.threads ?? '?'} threads, BLAS ${result.torch_blas ?? '?'})\n${table(result)}\n`,
    );
}

await main();
