/** One optimization step: forward, loss, backward, clipping, optimizer update, EMA. */
import { backward, noGrad } from '../autograd/tape.js';
import type { Batch } from '../data/batch.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { autocast } from '../ops/autocast.js';
import { intTensor, tensor } from '../ops/creation.js';
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
}

/** Trains on one batch and returns the loss value (NaN/Infinity are returned, not thrown). */
export function trainStep(ctx: StepContext, batch: Batch): number {
  const { model, optimizer } = ctx;
  const loss = tidy(() => autocast(() => forwardBackward(ctx, batch), { enabled: ctx.amp }));
  if (!Number.isFinite(loss)) {
    optimizer.zeroGrad();
    return loss;
  }
  if (ctx.clipGrad !== null) clipGradNorm(optimizer.allParams(), ctx.clipGrad);
  optimizer.step();
  optimizer.zeroGrad();
  ctx.ema?.update(model.stateDict());
  return loss;
}

/** Forward, loss and (for a finite loss) backward; returns the loss value. */
function forwardBackward(ctx: StepContext, batch: Batch): number {
  const { model } = ctx;
  const { inChans, imgSize, numClasses } = model.config;
  const x = Tensor.fromData(batch.images, [batch.size, inChans, imgSize, imgSize]);
  const targets = {
    labels: intTensor(batch.labels),
    soft: batch.targets ? tensor(batch.targets, [batch.size, numClasses]) : null,
  };
  const out = model.forward(x);
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
  const value = l.item();
  if (Number.isFinite(value)) backward(l);
  return value;
}
