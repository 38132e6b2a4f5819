/** Evaluation: top-1, top-5 and loss over a loader, as DeiT's `evaluate`. */
import { noGrad } from '../autograd/tape.js';
import type { Batch } from '../data/batch.js';
import { autocast } from '../ops/autocast.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { intTensor } from '../ops/creation.js';
import { tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';

export interface EvalResult {
  /** Top-1 accuracy in percent. */
  acc1: number;
  /** Top-5 accuracy in percent (top-k with k = min(5, classes)). */
  acc5: number;
  /** Mean cross-entropy (no smoothing). */
  loss: number;
  images: number;
}

/** Counts, per row of logits [B, C], whether the label is the arg-max and whether it is in the top k. */
export function topK(
  logits: Float32Array,
  labels: Int32Array,
  classes: number,
  k: number,
): { top1: number; topk: number } {
  let top1 = 0;
  let topk = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = i * classes;
    const target = logits[row + labels[i]];
    // Rank of the target: how many classes score strictly higher (ties count in the target's favour).
    let above = 0;
    for (let j = 0; j < classes; j++) if (logits[row + j] > target) above++;
    if (above === 0) top1++;
    if (above < k) topk++;
  }
  return { top1, topk };
}

export interface EvalProgress {
  (done: number, total: number): void;
}

/** What evaluation reads: batches (a DataLoader, or any async iterable) and how many there are. */
export type EvalBatches = AsyncIterable<Batch> & { readonly numBatches: number };

export interface EvaluateOptions {
  /** Called after every batch. */
  onBatch?: EvalProgress;
  /** bfloat16 autocast for the forward pass (see `autocast`); default false. */
  amp?: boolean;
}

export async function evaluate(
  model: VisionTransformer,
  loader: EvalBatches,
  options: EvaluateOptions = {},
): Promise<EvalResult> {
  const { onBatch, amp = false } = options;
  const wasTraining = model.training;
  model.eval();
  const classes = model.config.numClasses;
  const [c, h] = [model.config.inChans, model.config.imgSize];
  let images = 0;
  let lossSum = 0;
  let top1 = 0;
  let top5 = 0;
  let batches = 0;
  try {
    for await (const batch of loader) {
      noGrad(() =>
        tidy(() =>
          autocast(
            () => {
              const x = Tensor.fromData(batch.images, [batch.size, c, h, h]);
              const labels = intTensor(batch.labels);
              const logits = model.forward(x).logits;
              lossSum += crossEntropy(logits, { kind: 'labels', labels }).item() * batch.size;
              const t = topK(logits.data, batch.labels, classes, Math.min(5, classes));
              top1 += t.top1;
              top5 += t.topk;
              images += batch.size;
            },
            { enabled: amp },
          ),
        ),
      );
      onBatch?.(++batches, loader.numBatches);
    }
  } finally {
    model.train(wasTraining);
  }
  if (images === 0) throw new Error('evaluate: the loader produced no images');
  return { acc1: (100 * top1) / images, acc5: (100 * top5) / images, loss: lossSum / images, images };
}
