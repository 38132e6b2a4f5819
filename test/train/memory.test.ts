/**
 * 100 training steps release everything they allocate: the live tensor count and bytes are the same
 * after step 20 and step 100 (tensors are disposed by scopes, not found by the garbage collector), and
 * the process's resident memory stays flat. Runs on every backend, in float32 and under autocast.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createModel } from '../../src/models/registry.js';
import { AdamW } from '../../src/optim/adamw.js';
import { memoryInfo } from '../../src/tensor/memory.js';
import { Rng } from '../../src/tensor/random.js';
import { trainStep } from '../../src/train/step.js';
import { describeBackends } from '../util.js';

describeBackends('memory across training steps', () => {
  for (const amp of [false, true])
    it(`100 steps (forward, loss, backward, AdamW, EMA-free${amp ? ', bfloat16 autocast' : ''}) leak no tensors`, () => {
      const model = createModel(
        'lape_tiny',
        { join: 'LaPE', rpe: 'LN', dropPathRate: 0.1, attnDropRate: 0.1 },
        { seed: 1 },
      );
      const optimizer = new AdamW([{ params: model.parameters() }], { lr: 1e-3 });
      const rng = new Rng(2);
      const batch = {
        images: new Float32Array(16 * 3 * 16 * 16),
        labels: Int32Array.from({ length: 16 }, () => rng.int(10)),
        targets: null,
        size: 16,
      };
      const ctx = {
        model,
        optimizer,
        criterion: { kind: 'cross-entropy', smoothing: 0.1 } as const,
        distillation: { kind: 'none' } as const,
        teacher: null,
        clipGrad: 1,
        ema: null,
        amp,
      };
      let at20 = memoryInfo();
      let rss20 = 0;
      for (let step = 1; step <= 100; step++) {
        rng.fillNormal(batch.images);
        const loss = trainStep(ctx, { ...batch, images: Float32Array.from(batch.images) });
        assert.ok(Number.isFinite(loss));
        if (step === 20) {
          at20 = memoryInfo();
          rss20 = process.memoryUsage().rss;
        }
      }
      const at100 = memoryInfo();
      assert.equal(at100.tensors, at20.tensors, 'live tensors');
      assert.equal(at100.bytes, at20.bytes, 'live tensor bytes');
      assert.equal(at100.pooledBytes, at20.pooledBytes, 'pooled bytes');
      const growthMb = (process.memoryUsage().rss - rss20) / 2 ** 20;
      assert.ok(growthMb < 64, `resident memory grew by ${growthMb.toFixed(1)} MiB over 80 steps`);
      model.dispose();
    });
});
