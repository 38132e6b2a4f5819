/**
 * One optimization step: forward, loss, backward (over one batch, or over the N micro-batches of a
 * gradient-accumulation step), clipping, optimizer update, EMA.
 *
 * Accumulation (`--accum-iter N`) gives the step one batch of N x B would give, within float
 * rounding: each micro-batch's mean loss is weighted by its share of the samples, gradients add up,
 * and every micro-batch forward draws the same dropout/drop-path seeds and takes its own rows of the
 * masks a batch of N x B would have had (ops/dropout.ts `withSampleWindow`). The data side (augmentation
 * keyed by epoch position, mixup keyed by the step's batch) is the loader's (data/producer.ts).
 *
 * Under data parallelism the ranks agree on each (micro-)batch's loss (and so on stopping) after its
 * forward pass and average their gradients between backward and clipping, as DDP does; the masks of a
 * rank's forward are its rows of the global batch's (`withBatchShard`).
 */
import { backward, noGrad } from '../autograd/tape.js';
import type { Batch } from '../data/batch.js';
import type { DataParallel } from '../dist/data_parallel.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { autocast } from '../ops/autocast.js';
import { intTensor, tensor } from '../ops/creation.js';
import { withSampleWindow } from '../ops/dropout.js';
import { affine } from '../ops/scalar.js';
import type { ModelEma } from '../optim/ema.js';
import { clipGradNorm, type Optimizer } from '../optim/optimizer.js';
import { tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { baseLoss, distillationLoss, type Criterion, type Distillation } from './losses.js';

export interface StepContext {
  model: VisionTransformer;
  optimizer: Optimizer;
  criterion: Criterion;
  distillation: Distillation;
  teacher: VisionTransformer | null;
  clipGrad: number | null;
  ema: ModelEma | null;
  /** bfloat16 autocast for the forward and backward passes (the optimizer step stays float32). */
  amp: boolean;
  /** This process's part in a data-parallel run; absent or null in a single process. */
  dataParallel?: DataParallel | null;
}

/**
 * Trains on one batch, or on the micro-batches of one accumulation step (together one batch), and
 * returns the loss of the whole batch, over all ranks under data parallelism (NaN/Infinity are
 * returned, not thrown; nothing is updated then).
 */
export function trainStep(ctx: StepContext, batch: Batch | readonly Batch[]): number {
  const { model, optimizer } = ctx;
  const dp = ctx.dataParallel ?? null;
  const parts = Array.isArray(batch) ? (batch as readonly Batch[]) : [batch as Batch];
  const pass = (part: Batch, weight: number): number =>
    tidy(() => autocast(() => forwardBackward(ctx, part, weight), { enabled: ctx.amp }));
  let loss = 0;
  if (parts.length === 1) {
    loss = pass(parts[0], 1);
  } else {
    const total = parts.reduce((n, b) => n + b.size, 0);
    const start = model.rng.state();
    let offset = 0;
    for (const [m, part] of parts.entries()) {
      // Same seeds for every micro-batch, as the one forward of the whole batch would draw them.
      if (m > 0) model.rng.setState(start);
      const w = part.size / total;
      const value = withSampleWindow({ offset, total }, () => pass(part, w));
      offset += part.size;
      loss += w * value;
      if (!Number.isFinite(value)) {
        loss = value;
        break;
      }
    }
  }
  if (!Number.isFinite(loss)) {
    optimizer.zeroGrad();
    return loss;
  }
  dp?.averageGradients(optimizer.allParams());
  if (ctx.clipGrad !== null) clipGradNorm(optimizer.allParams(), ctx.clipGrad);
  optimizer.step();
  optimizer.zeroGrad();
  ctx.ema?.update(model.stateDict());
  return loss;
}

/** Forward, loss and (for a finite loss) backward of the loss times `weight`; returns the loss value. */
function forwardBackward(ctx: StepContext, batch: Batch, weight: number): number {
  const { model } = ctx;
  const dp = ctx.dataParallel ?? null;
  const { inChans, imgSize, numClasses } = model.config;
  const x = Tensor.fromData(batch.images, [batch.size, inChans, imgSize, imgSize]);
  const targets = {
    labels: intTensor(batch.labels),
    soft: batch.targets ? tensor(batch.targets, [batch.size, numClasses]) : null,
  };
  const out = dp ? dp.forward(() => model.forward(x)) : model.forward(x);
  let l: Tensor;
  if (ctx.distillation.kind === 'none') {
    l = baseLoss(ctx.criterion, out.kind === 'distilled' ? out.cls : out.logits, targets);
  } else {
    if (out.kind !== 'distilled') {
      throw new Error(
        `distillation '${ctx.distillation.kind}' needs a distilled model (a *_distilled_* variant)`,
      );
    }
    const teacher = ctx.teacher;
    const teacherLogits = teacher ? noGrad(() => teacher.forward(x).logits) : null;
    l = distillationLoss(
      ctx.distillation,
      baseLoss(ctx.criterion, out.cls, targets),
      out.dist,
      teacherLogits,
    );
  }
  const value = dp ? dp.reduceStep(l.item()) : l.item();
  if (Number.isFinite(value)) backward(weight === 1 ? l : affine(l, weight));
  return value;
}
