// Scratch profiler (not committed): time spent per kernel in a ViT-Lite train step.
import { setBackend } from '../src/backend/registry.js';
import { loadNativeAddon } from '../src/backend/native/native_backend.js';
import { KERNEL_NAMES } from '../src/backend/kernels.js';
import { createModel } from '../src/models/registry.js';
import { AdamW } from '../src/optim/adamw.js';
import { trainStep } from '../src/train/step.js';
import { autocast } from '../src/ops/autocast.js';
import { Rng } from '../src/tensor/random.js';
const b = loadNativeAddon() as unknown as Record<string, (a: unknown) => unknown>;
const times: Record<string, number> = {};
const counts: Record<string, number> = {};
for (const k of KERNEL_NAMES) {
  const f = b[k];
  (b as Record<string, unknown>)[k] = (a: unknown) => {
    const t = performance.now();
    const r = f(a);
    times[k] = (times[k] ?? 0) + performance.now() - t;
    counts[k] = (counts[k] ?? 0) + 1;
    return r;
  };
}
setBackend('native');
const model = createModel('vit_lite_7_4', { join: 'LaPE', numClasses: 10 }, { seed: 0 });
const optimizer = new AdamW([{ params: model.parameters() }], { lr: 5e-4 });
const ctx = {
  model,
  optimizer,
  criterion: { kind: 'cross-entropy' as const, smoothing: 0 },
  distillation: { kind: 'none' as const },
  teacher: null,
  clipGrad: null,
  ema: null,
};
const rng = new Rng(1);
const images = rng.fillNormal(new Float32Array(128 * 3 * 32 * 32));
const labels = Int32Array.from({ length: 128 }, (_, i) => i % 10);
const amp = process.argv.includes('--amp');
const run = () =>
  autocast(
    () => trainStep(ctx as never, { images: Float32Array.from(images), labels, targets: null, size: 128 }),
    { enabled: amp },
  );
run();
for (const k in times) {
  times[k] = 0;
  counts[k] = 0;
}
const N = 3;
const t0 = performance.now();
const c0 = process.cpuUsage();
for (let i = 0; i < N; i++) run();
const total = (performance.now() - t0) / N;
const cpu = process.cpuUsage(c0);
console.log('step ms', total.toFixed(1), 'cpu ms/step', ((cpu.user + cpu.system) / 1000 / N).toFixed(1));
const rows = Object.entries(times).sort((a, b) => b[1] - a[1]);
let sum = 0;
for (const [k, v] of rows) {
  sum += v / N;
  console.log(k.padEnd(20), (v / N).toFixed(1).padStart(8), 'ms', String(counts[k] / N).padStart(6), 'calls');
}
console.log('kernels total', sum.toFixed(1));
