/**
 * DeiT-Tiny inference in onnxruntime-node on lape's own ONNX export: the model and batch of the
 * `deit_tiny` benchmark (224 px, batch 64, seed 0), exported with `exportOnnx` and run by onnxruntime's
 * CPU provider with as many intra-op threads as lape's native backend uses.
 */
import { numThreads } from '../../src/backend/registry.js';
import { exportOnnx } from '../../src/export/onnx.js';
import { createModel } from '../../src/models/registry.js';
import { Rng } from '../../src/tensor/random.js';

export interface OrtBenchResult {
  [key: string]: number | string;
  ort_deit_tiny_infer_ips: number;
  ort_threads: number;
  ort_version: string;
}

/** Images/s of DeiT-Tiny (batch 64) in onnxruntime-node: median of `iters` timed runs after one warm-up. */
export async function benchOrtDeitTiny(opts: { iters: number; batch?: number }): Promise<OrtBenchResult> {
  const batch = opts.batch ?? 64;
  const model = createModel('deit_tiny_patch16_224', {}, { seed: 0 });
  const bytes = exportOnnx(model);
  model.dispose();
  const ort = await import('onnxruntime-node');
  const threads = numThreads();
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const rng = new Rng(0);
  const x = Float32Array.from({ length: batch * 3 * 224 * 224 }, () => rng.normal());
  const feeds = { pixel_values: new ort.Tensor('float32', x, [batch, 3, 224, 224]) };
  await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < opts.iters; i++) {
    const t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  await session.release();
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  return {
    ort_deit_tiny_infer_ips: (batch * 1000) / ms,
    ort_threads: threads,
    ort_version: ort.env.versions.node ?? 'unknown',
  };
}
