/**
 * `npm run bench`: lape's speed side by side with PyTorch in the same run and environment, written to
 * `docs/bench/<date>-<host>.json` (schema and workflow: docs/bench/README.md; `npm run bench:table`
 * renders the README's speed section from it).
 *
 * Rows (ROWS below; PyTorch's twin of a row has the same id in scripts/bench_torch.py):
 *   sgemm           1024^3 float32 matmul, GFLOP/s (best of N)
 *   encoder         forward + backward of 7 pre-norm encoder layers (65 tokens, dim 256, 4 heads, MLP 512,
 *                   batch 128), ms (median)
 *   vit_lite_LaPE   ViT-Lite-7/4 training step (batch 128: forward, cross-entropy, backward, AdamW), LaPE
 *   vit_lite_basic  and basic join, ms (median)
 *   vit_lite_amp_step  the LaPE step under bfloat16 autocast (PyTorch: torch.autocast('cpu', bfloat16))
 *   deit_tiny       DeiT-Tiny 224 inference, batch 64, no grad, images/s
 *   deit_tiny_amp_infer  the same under bfloat16 autocast
 *   ort_deit_tiny   the same model exported by lape to ONNX, in onnxruntime-node (scripts/bench/ort.ts);
 *                   lape only
 *   data_loader     Fashion-MNIST training images/s with the lape_fmnist model fed by the augmenting loader
 *                   (2 workers, RandAugment-free DeiT small-image transform + mixup/cutmix); lape only
 *   data_memory     the same loop fed from memory; lape only
 *
 * Each group of rows runs in its own process so its peak RSS is its own. PyTorch (scripts/bench_torch.py
 * under /usr/bin/python3) is measured at 1 thread and at one thread per core; each row is compared with
 * PyTorch's faster setting. Environment variables are left as they are and recorded.
 * Flags: --quick (fewer iterations), --only a,b (groups: sgemm, encoder, vit_lite, vit_lite_amp,
 * deit_tiny, deit_tiny_amp, ort_deit_tiny, data, data_memory), --out FILE (default
 * docs/bench/<date>-<host>.json; with --quick a file in the temporary directory), --json (print the
 * record on stdout instead of the table).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, hostname, platform, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backward, noGrad } from '../src/autograd/tape.js';
import { dispatch } from '../src/backend/dispatch.js';
import { bf16Support, getBackend, numThreads } from '../src/backend/registry.js';
import { nativeInfo } from '../src/backend/native/native_backend.js';
import type { Batch } from '../src/data/batch.js';
import { createLoader } from '../src/data/loader.js';
import { openDataset } from '../src/data/datasets.js';
import { Block } from '../src/models/block.js';
import { createModel } from '../src/models/registry.js';
import type { VisionTransformer } from '../src/models/vision_transformer.js';
import { randNormal } from '../src/ops/creation.js';
import { autocast } from '../src/ops/autocast.js';
import { AdamW } from '../src/optim/adamw.js';
import { tidy } from '../src/tensor/memory.js';
import { Rng } from '../src/tensor/random.js';
import { Tensor } from '../src/tensor/tensor.js';
import { trainStep, type StepContext } from '../src/train/step.js';
import { trainTransform } from '../src/train/data.js';
import { defaultTrainConfig } from '../src/train/config.js';
import { renderSection, type BenchResult, type BenchRow, type Measurement } from './bench-report.js';
import { benchOrtDeitTiny } from './bench/ort.js';

/** A group of rows measured in one child process. */
const GROUPS = [
  'sgemm',
  'encoder',
  'vit_lite',
  'vit_lite_amp',
  'deit_tiny',
  'deit_tiny_amp',
  'ort_deit_tiny',
  'data',
  'data_memory',
] as const;
type Group = (typeof GROUPS)[number];

interface RowSpec {
  id: string;
  group: Group;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** Whether scripts/bench_torch.py measures the same work under the same id. */
  torch: boolean;
}

/** The table, in order. A new row: its spec here, its measurement in its group's function below. */
const ROWS: readonly RowSpec[] = [
  { id: 'sgemm', group: 'sgemm', label: 'sgemm 1024^3', unit: 'GFLOP/s', better: 'higher', torch: true },
  {
    id: 'encoder',
    group: 'encoder',
    label: '7-layer encoder fwd+bwd (B128)',
    unit: 'ms',
    better: 'lower',
    torch: true,
  },
  {
    id: 'vit_lite_LaPE',
    group: 'vit_lite',
    label: 'ViT-Lite-7/4 LaPE train step (B128)',
    unit: 'ms',
    better: 'lower',
    torch: true,
  },
  {
    id: 'vit_lite_basic',
    group: 'vit_lite',
    label: 'ViT-Lite-7/4 basic train step (B128)',
    unit: 'ms',
    better: 'lower',
    torch: true,
  },
  {
    id: 'vit_lite_amp_step',
    group: 'vit_lite_amp',
    label: 'ViT-Lite-7/4 LaPE train step, bf16 autocast (B128)',
    unit: 'ms',
    better: 'lower',
    torch: true,
  },
  {
    id: 'deit_tiny',
    group: 'deit_tiny',
    label: 'DeiT-Tiny inference (B64)',
    unit: 'img/s',
    better: 'higher',
    torch: true,
  },
  {
    id: 'deit_tiny_amp_infer',
    group: 'deit_tiny_amp',
    label: 'DeiT-Tiny inference, bf16 autocast (B64)',
    unit: 'img/s',
    better: 'higher',
    torch: true,
  },
  {
    id: 'ort_deit_tiny',
    group: 'ort_deit_tiny',
    label: "DeiT-Tiny in onnxruntime-node, lape's ONNX export (B64)",
    unit: 'img/s',
    better: 'higher',
    torch: false,
  },
  {
    id: 'data_loader',
    group: 'data',
    label: 'Fashion-MNIST training, augmenting loader',
    unit: 'img/s',
    better: 'higher',
    torch: false,
  },
  {
    id: 'data_memory',
    group: 'data_memory',
    label: 'Fashion-MNIST training, from memory',
    unit: 'img/s',
    better: 'higher',
    torch: false,
  },
];

/** A group's measurements by row id (the child adds its peak RSS). */
type GroupResult = Record<string, Measurement>;

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined =>
  argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined;
const quick = argv.includes('--quick');
const json = argv.includes('--json');
const only = (flag('--only')?.split(',') ?? [...GROUPS]) as Group[];
for (const g of only)
  if (!GROUPS.includes(g))
    throw new Error(`--only: unknown benchmark '${g}'; choose from ${GROUPS.join(', ')}`);
const root = fileURLToPath(new URL('..', import.meta.url));

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

function benchSgemm(): GroupResult {
  const n = 1024;
  const a = randNormal([n, n]);
  const b = randNormal([n, n]);
  const c = Tensor.empty([n, n]);
  const call = (): void => dispatch.matmul({ a, b, c, m: n, n, k: n });
  const times = timed(call, 3, quick ? 5 : 20);
  return { sgemm: { value: (2 * n ** 3) / (Math.min(...times) / 1e3) / 1e9, iters: times.length } };
}

function benchEncoder(): GroupResult {
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
          peNorm: null,
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
  return { encoder: { value: median(timed(step, heavy.warmup, heavy.iters)), iters: heavy.iters } };
}

/** A training step with plain cross-entropy: no distillation, clipping or EMA. */
function plainStepContext(
  model: VisionTransformer,
  optimizer: AdamW,
  smoothing: number,
  amp = false,
): StepContext {
  return {
    model,
    optimizer,
    criterion: { kind: 'cross-entropy', smoothing },
    distillation: { kind: 'none' },
    teacher: null,
    clipGrad: null,
    ema: null,
    amp,
  };
}

/** The data benches' model: the Fashion-MNIST LaPE ViT with AdamW, as in the README recipe. */
function fmnistStepContext(): StepContext {
  const model = createModel('lape_fmnist', { join: 'LaPE' }, { seed: 0 });
  return plainStepContext(model, new AdamW([{ params: model.parameters() }], { lr: 1e-3 }), 0.1);
}

function vitLiteStep(join: 'LaPE' | 'basic', amp = false): number {
  const model = createModel('vit_lite_7_4', { join, numClasses: 10 }, { seed: 0 });
  const { decay, noDecay } = model.weightDecayGroups();
  const optimizer = new AdamW(
    [
      { params: noDecay.map(([, p]) => p), weightDecay: 0 },
      { params: decay.map(([, p]) => p), weightDecay: 0.05 },
    ],
    { lr: 5e-4 },
  );
  const ctx = plainStepContext(model, optimizer, 0, amp);
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

function benchVitLite(): GroupResult {
  return {
    vit_lite_LaPE: { value: vitLiteStep('LaPE'), iters: heavy.iters },
    vit_lite_basic: { value: vitLiteStep('basic'), iters: heavy.iters },
  };
}

function benchVitLiteAmp(): GroupResult {
  if (!bf16Support().native)
    throw new Error('no bfloat16 hardware here: the autocast rows need AVX512_BF16 or AMX');
  return { vit_lite_amp_step: { value: vitLiteStep('LaPE', true), iters: heavy.iters } };
}

function deitTinyInference(amp: boolean): { value: number; iters: number } {
  const model = createModel('deit_tiny_patch16_224', {}, { seed: 0 }).eval();
  const x = randNormal([64, 3, 224, 224]).keep();
  const iters = quick ? 1 : 5;
  const infer = (): void => noGrad(() => tidy(() => autocast(() => void model.forward(x), { enabled: amp })));
  return { value: (64 * 1000) / median(timed(infer, 1, iters)), iters };
}

function benchDeitTiny(): GroupResult {
  return { deit_tiny: deitTinyInference(false) };
}

function benchDeitTinyAmp(): GroupResult {
  if (!bf16Support().native)
    throw new Error('no bfloat16 hardware here: the autocast rows need AVX512_BF16 or AMX');
  return { deit_tiny_amp_infer: deitTinyInference(true) };
}

async function benchData(): Promise<GroupResult> {
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
  return { data_loader: { value: fed, iters: steps } };
}

/** The same loop fed from memory: one batch of the loader's shape, copied per step as the loader's are. */
function benchDataMemory(): GroupResult {
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
  return { data_memory: { value: (128 * 1000) / ms, iters: steps } };
}

async function child(name: Group): Promise<void> {
  const runs: Record<Group, () => GroupResult | Promise<GroupResult>> = {
    sgemm: benchSgemm,
    encoder: benchEncoder,
    vit_lite: benchVitLite,
    vit_lite_amp: benchVitLiteAmp,
    deit_tiny: benchDeitTiny,
    deit_tiny_amp: benchDeitTinyAmp,
    ort_deit_tiny: async () => {
      const r = await benchOrtDeitTiny({ iters: quick ? 1 : 5 });
      return { ort_deit_tiny: { value: r.ort_deit_tiny_infer_ips, iters: quick ? 1 : 5 } };
    },
    data: benchData,
    data_memory: benchDataMemory,
  };
  const r = await runs[name]();
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  for (const m of Object.values(r)) m.rssMiB = rssMiB;
  process.stdout.write(`${JSON.stringify(r)}\n`, () => process.exit(0));
}

/** The last JSON line a child printed, or null. */
function lastJson(stdout: string | null): unknown {
  const line = (stdout ?? '')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  return line ? JSON.parse(line) : null;
}

function runChild(name: Group): GroupResult | string {
  const self = fileURLToPath(import.meta.url);
  const p = spawnSync(
    process.execPath,
    ['--import', 'tsx', self, '--child', name, ...(quick ? ['--quick'] : [])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const r = lastJson(p.stdout);
  return p.status === 0 && r ? (r as GroupResult) : `lape ${name}: exit code ${p.status}`;
}

interface TorchResult {
  version: string | null;
  defaultThreads: number | null;
  blas: BenchResult['versions']['blas'];
  runs: Record<string, Record<string, Measurement>>;
  errors: Record<string, Record<string, string>>;
}

function runTorch(threads: number[]): TorchResult | string {
  const groups = [...new Set(ROWS.filter((r) => r.torch && only.includes(r.group)).map((r) => r.group))];
  if (groups.length === 0) return 'no PyTorch rows selected';
  const script = fileURLToPath(new URL('./bench_torch.py', import.meta.url));
  const p = spawnSync(
    '/usr/bin/python3',
    [script, '--only', groups.join(','), '--threads', threads.join(','), ...(quick ? ['--quick'] : [])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const r = lastJson(p.stdout);
  if (p.status !== 0 || !r)
    return `PyTorch side unavailable (/usr/bin/python3 with torch; exit ${p.status ?? p.error?.message})`;
  return r as TorchResult;
}

/** CPU extensions that decide which kernels run (from /proc/cpuinfo; empty elsewhere). */
function isaFlags(): string[] {
  const wanted = ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni'];
  wanted.push('avx512_bf16', 'avx512_fp16', 'avx_vnni', 'amx_tile', 'amx_bf16', 'amx_int8', 'sve', 'asimd');
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => /^(flags|Features)\s*:/.test(l));
    const have = new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
    return wanted.filter((f) => have.has(f));
  } catch {
    return [];
  }
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux: fall through
  }
  return cpus()[0]?.model.trim() ?? 'unknown';
}

function gitDescribe(): string | null {
  const p = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: root, encoding: 'utf8' });
  return p.status === 0 ? p.stdout.trim() : null;
}

/** Variables that change kernel choices or thread counts; recorded, never set. */
const ENV_VARS = [
  'OMP_NUM_THREADS',
  'OPENBLAS_NUM_THREADS',
  'OPENBLAS_CORETYPE',
  'OPENBLAS_L2_SIZE',
  'MKL_NUM_THREADS',
  'DNNL_MAX_CPU_ISA',
  'ONEDNN_MAX_CPU_ISA',
  'LAPE_BACKEND',
  'LAPE_NUM_THREADS',
];

function defaultOut(date: string): string {
  const host = hostname().replace(/[^A-Za-z0-9_.-]/g, '_');
  const name = `${date.slice(0, 10)}-${host}.json`;
  return quick ? join(tmpdir(), `lape-bench-quick-${name}`) : join(root, 'docs', 'bench', name);
}

async function main(): Promise<void> {
  if (argv.includes('--child')) {
    await child(flag('--child') as Group);
    return;
  }
  const cores = availableParallelism();
  const info = nativeInfo();
  const errors: string[] = [];
  const measured = new Map<string, Measurement>();
  for (const group of only) {
    process.stderr.write(`lape: ${group}...\n`);
    const r = runChild(group);
    if (typeof r === 'string') errors.push(r);
    else for (const [id, m] of Object.entries(r)) measured.set(id, m);
  }
  const threads = [...new Set([1, cores])];
  process.stderr.write(`PyTorch: scripts/bench_torch.py at ${threads.join(' and ')} thread(s)...\n`);
  const torch = runTorch(threads);
  if (typeof torch === 'string') errors.push(torch);
  else
    for (const [t, failed] of Object.entries(torch.errors))
      for (const [id, e] of Object.entries(failed)) errors.push(`PyTorch ${id} at ${t} thread(s): ${e}`);

  const rows: BenchRow[] = ROWS.filter((r) => only.includes(r.group)).map((spec) => ({
    id: spec.id,
    label: spec.label,
    unit: spec.unit,
    better: spec.better,
    lape: measured.get(spec.id) ?? null,
    torch:
      spec.torch && typeof torch !== 'string'
        ? Object.fromEntries(
            Object.entries(torch.runs).flatMap(([t, byId]) => (byId[spec.id] ? [[t, byId[spec.id]]] : [])),
          )
        : null,
  }));
  const date = new Date().toISOString();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const result: BenchResult = {
    schema: 1,
    date,
    quick,
    command: ['npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' '),
    machine: {
      host: hostname(),
      cpu: cpuModel(),
      cores,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      isa: isaFlags(),
      os: `${platform()} ${release()}`,
    },
    versions: {
      node: process.version,
      lape: pkg.version,
      commit: gitDescribe(),
      oneDNN: info.available ? info.info.dnnlVersion : null,
      torch: typeof torch === 'string' ? null : torch.version,
      blas: typeof torch === 'string' ? null : torch.blas,
    },
    env: Object.fromEntries(ENV_VARS.map((k) => [k, process.env[k] ?? null])),
    lape: { backend: getBackend().name, threads: numThreads() },
    torch: typeof torch === 'string' ? null : { threads, defaultThreads: torch.defaultThreads },
    rows,
    errors,
  };
  const out = flag('--out') ?? defaultOut(date);
  if (!existsSync(dirname(out))) mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  const shown = relative(root, out).startsWith('..') ? out : relative(root, out);
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`${renderSection({ file: shown, result })}\n`);
  process.stderr.write(
    `wrote ${shown}${quick ? ' (--quick: not for the README)' : '; `npm run bench:table` puts it in README.md'}\n`,
  );
}

await main();
