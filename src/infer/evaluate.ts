/**
 * `evaluate(model, data)`: top-1, top-5 and loss of a model on a dataset's validation split (with the
 * model's eval transform, as `lape eval`), on normalized tensors in memory, or on a DataLoader.
 */
import { ampEnabled } from '../ops/autocast.js';
import type { Batch } from '../data/batch.js';
import type { DatasetKind } from '../data/datasets.js';
import type { Channels } from '../data/image.js';
import type { DataLoader } from '../data/loader.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { defaultTrainConfig, type TrainConfig } from '../train/config.js';
import { evalLoader, openSplit } from '../train/data.js';
import { evaluate as evaluateBatches, type EvalBatches, type EvalResult } from '../train/evaluate.js';
import { createProgress } from '../train/progress.js';

export type EvalData =
  /** A dataset's validation split (test split for the IDX and CIFAR sets), as `lape eval` reads it. */
  | { kind: DatasetKind; path?: string }
  /** Normalized images [N, C, H, W] with their labels. */
  | { kind: 'tensors'; images: Float32Array; labels: ArrayLike<number> }
  /** Any loader (see `createLoader`). */
  | { kind: 'loader'; loader: DataLoader };

export interface EvaluateOptions {
  /** Images per batch (default 128). */
  batchSize?: number;
  /** Data worker threads for datasets (default 2; 0 decodes on the main thread). */
  workers?: number;
  /** Called after each batch. */
  onBatch?: (done: number, total: number) => void;
  /** A progress bar on stderr (default false). */
  progress?: boolean;
  /**
   * bfloat16 autocast for the forward pass where the CPU runs bfloat16 GEMMs (`bf16Support()`), float32
   * elsewhere, as `--amp` (default false).
   */
  amp?: boolean;
}

/** Batches over tensors held in memory. */
function tensorBatches(
  images: Float32Array,
  labels: Int32Array,
  sample: number,
  batchSize: number,
): EvalBatches {
  const n = labels.length;
  return {
    numBatches: Math.ceil(n / batchSize),
    async *[Symbol.asyncIterator](): AsyncGenerator<Batch, void, undefined> {
      for (let i = 0; i < n; i += batchSize) {
        const size = Math.min(batchSize, n - i);
        yield {
          images: images.subarray(i * sample, (i + size) * sample),
          labels: labels.subarray(i, i + size),
          targets: null,
          size,
        };
      }
    },
  };
}

export async function evaluate(
  model: VisionTransformer,
  data: EvalData,
  options: EvaluateOptions = {},
): Promise<EvalResult> {
  const batchSize = options.batchSize ?? 128;
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new Error(`evaluate: batchSize must be a positive integer, got ${batchSize}`);
  const { inChans, imgSize, numClasses } = model.config;
  let loader: EvalBatches;
  switch (data.kind) {
    case 'loader':
      loader = data.loader;
      break;
    case 'tensors': {
      const sample = inChans * imgSize * imgSize;
      const labels = Int32Array.from(data.labels);
      if (data.images.length !== labels.length * sample)
        throw new Error(
          `evaluate: images hold ${data.images.length} values, expected ${labels.length} x ${inChans} x ${imgSize} x ${imgSize} for ${labels.length} labels`,
        );
      const bad = labels.findIndex((l) => !(l >= 0 && l < numClasses));
      if (bad >= 0) throw new Error(`evaluate: label ${labels[bad]} at ${bad} is outside [0, ${numClasses})`);
      loader = tensorBatches(data.images, labels, sample, batchSize);
      break;
    }
    default: {
      if (inChans !== 1 && inChans !== 3)
        throw new Error(`evaluate: image data has 1 or 3 channels, the model takes ${inChans}`);
      const d = defaultTrainConfig();
      const cfg: TrainConfig = {
        ...d,
        batchSize,
        data: { kind: data.kind, path: data.path, skipBadImages: false, workers: options.workers ?? 2 },
      };
      const src = await openSplit(cfg, 'val');
      if (src.numClasses > numClasses)
        throw new Error(`evaluate: the dataset has ${src.numClasses} classes, the model ${numClasses}`);
      loader = await evalLoader(cfg, src, imgSize, inChans as Channels, batchSize);
    }
  }
  const bar = options.progress ? createProgress('eval', loader.numBatches) : null;
  try {
    return await evaluateBatches(model, loader, {
      amp: ampEnabled(options.amp ?? false),
      onBatch: (done, total) => {
        bar?.update(done, {});
        options.onBatch?.(done, total);
      },
    });
  } finally {
    bar?.stop();
  }
}
