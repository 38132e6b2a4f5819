/**
 * Inference: logits of a batch of normalized images, images read from files through the model's eval
 * transform (as `lape predict`), and the top classes with their probabilities.
 */
import { noGrad } from '../autograd/tape.js';
import { datasetStats } from '../data/stats.js';
import type { DatasetKind } from '../data/datasets.js';
import type { Channels } from '../data/image.js';
import { decodeImage } from '../data/image_folder.js';
import type { NormalizationStats } from '../data/stats.js';
import { compileTransform } from '../data/transforms/pipeline.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { ampEnabled, autocast } from '../ops/autocast.js';
import { softmax } from '../ops/softmax.js';
import { tidy } from '../tensor/memory.js';
import { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';

export interface PredictOptions {
  /** Images per forward pass (default 64): bounds memory for large inputs. */
  batchSize?: number;
  /**
   * bfloat16 autocast for the forward pass where the CPU runs bfloat16 GEMMs (`bf16Support()`), float32
   * elsewhere, as `--amp` (default false).
   */
  amp?: boolean;
}

/**
 * The model's logits for `images`, normalized float32 [N, C, H, W] (a Float32Array of N*C*H*W values
 * or a Tensor), as a Float32Array [N, classes] row-major. Runs in eval mode without a graph.
 */
export function predict(
  model: VisionTransformer,
  images: Float32Array | Tensor,
  options: PredictOptions = {},
): Float32Array {
  const { inChans: c, imgSize: s, numClasses } = model.config;
  const sample = c * s * s;
  const data = images instanceof Tensor ? images.data : images;
  const shapeOk =
    images instanceof Tensor
      ? images.rank === 4 && images.shape.slice(1).join() === [c, s, s].join()
      : data.length % sample === 0;
  if (!shapeOk || data.length === 0) {
    const got = images instanceof Tensor ? images.describe() : `${data.length} values`;
    throw new Error(`predict: images must be [N, ${c}, ${s}, ${s}] float32 (N >= 1), got ${got}`);
  }
  const n = data.length / sample;
  const batch = options.batchSize ?? 64;
  if (!(Number.isInteger(batch) && batch >= 1))
    throw new Error(`predict: batchSize must be a positive integer, got ${batch}`);
  const out = new Float32Array(n * numClasses);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      noGrad(() =>
        tidy(() => {
          const x = Tensor.fromData(data.subarray(i * sample, (i + m) * sample), [m, c, s, s]);
          autocast(() => out.set(model.forward(x).logits.data, i * numClasses), {
            enabled: ampEnabled(options.amp ?? false),
          });
        }),
      );
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}

export interface LoadImagesOptions {
  /** Model input side. */
  imgSize: number;
  /** Model input channels: grey images are replicated to 3, colour ones converted to grey for 1. */
  inChans: Channels;
  /** Normalization: a dataset's statistics (default image-folder: ImageNet's) or explicit mean/std. */
  normalize?: DatasetKind | NormalizationStats;
}

/**
 * Decodes image files (PNG, JPEG, WebP, ...) into one normalized batch [N, C, H, W] through timm's eval
 * transform: resize (center crop 0.875 above 32 px), bicubic, normalize.
 */
export async function loadImages(
  paths: readonly string[],
  options: LoadImagesOptions,
): Promise<Float32Array> {
  const size = options.imgSize;
  const norm = options.normalize ?? 'image-folder';
  const transform = compileTransform({
    kind: 'eval',
    size,
    channels: options.inChans,
    interpolation: 'bicubic',
    resize: size > 32 ? { kind: 'center-crop', cropPct: 0.875 } : { kind: 'resize' },
    normalize: typeof norm === 'string' ? datasetStats(norm) : norm,
  });
  const out = new Float32Array(paths.length * transform.sampleLength);
  for (const [i, p] of paths.entries()) {
    const img = await decodeImage(p, null);
    transform.apply(img, Rng.derive(0, 0, 0, 0), out, i * transform.sampleLength);
  }
  return out;
}

export interface ClassScore {
  /** Class index. */
  index: number;
  /** Softmax probability in [0, 1]. */
  probability: number;
}

/** The `k` most probable classes of each row of `logits` [N, classes], best first. */
export function topClasses(logits: Float32Array, classes: number, k = 5): ClassScore[][] {
  if (!(classes >= 1 && logits.length % classes === 0))
    throw new Error(`topClasses: ${logits.length} logits are not rows of ${classes} classes`);
  const n = logits.length / classes;
  const probs = noGrad(() =>
    tidy(() => Float32Array.from(softmax(Tensor.fromData(logits, [n, classes])).data)),
  );
  return Array.from({ length: n }, (_, i) => {
    const row = Array.from(probs.subarray(i * classes, (i + 1) * classes), (p, index) => ({
      index,
      probability: p,
    }));
    row.sort((a, b) => b.probability - a.probability);
    return row.slice(0, Math.min(k, classes));
  });
}

/** Classifies image files: their logits and the top `k` classes of each (as `lape predict` prints). */
export async function classifyImages(
  model: VisionTransformer,
  paths: readonly string[],
  options: { normalize?: LoadImagesOptions['normalize']; k?: number } = {},
): Promise<{ logits: Float32Array; top: ClassScore[][] }> {
  const { imgSize, inChans, numClasses } = model.config;
  if (inChans !== 1 && inChans !== 3)
    throw new Error(`classifyImages: the model takes ${inChans} channels, images have 1 or 3`);
  const batch = await loadImages(paths, { imgSize, inChans, normalize: options.normalize });
  const logits = predict(model, batch);
  return { logits, top: topClasses(logits, numClasses, options.k ?? 5) };
}
