/**
 * Per-dataset normalization constants (ToTensor then Normalize(mean, std)), and the rule that picks
 * the statistics a model is fed with.
 *
 * Choices: image folders, CIFAR and iNaturalist use the ImageNet defaults, as the DeiT/LaPE recipe
 * does for every dataset. Fashion-MNIST and MNIST use their own train-set pixel statistics rather
 * than (0.5, 0.5): the inputs are then zero-mean, unit-variance per pixel, which is what the ImageNet
 * constants achieve for natural images. (Fashion-MNIST: mean 0.2860, std 0.3530, measured over all
 * 47,040,000 train pixels.) A 1-channel mean/std is repeated when grey images are fed to a 3-channel
 * model. A 1-channel model fed from a colour dataset sees the ITU-R 601 luma of each pixel (PIL's
 * convert('L')), so its default statistics are ImageNet's weighted the same way (below).
 */
import type { DatasetKind } from './datasets.js';

export interface NormalizationStats {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export const IMAGENET_STATS: NormalizationStats = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** ITU-R 601-2 luma weights (PIL's convert('L')). */
const LUMA = [0.299, 0.587, 0.114] as const;
const luma = (v: readonly number[]): number => LUMA[0] * v[0] + LUMA[1] * v[1] + LUMA[2] * v[2];

/**
 * ImageNet's statistics for grey (luma) inputs: the luma of the channel means (exact: luma is linear)
 * and the luma-weighted channel stds (exact when the channels are perfectly correlated, and close for
 * natural images, whose RGB channels are strongly correlated). mean 0.4490, std 0.2256.
 */
export const IMAGENET_GREY_STATS: NormalizationStats = {
  mean: [luma(IMAGENET_STATS.mean)],
  std: [luma(IMAGENET_STATS.std)],
};
export const FASHION_MNIST_STATS: NormalizationStats = { mean: [0.286], std: [0.353] };
export const MNIST_STATS: NormalizationStats = { mean: [0.1307], std: [0.3081] };
/** The symmetric alternative: maps [0, 1] to [-1, 1]. */
export const HALF_STATS: NormalizationStats = { mean: [0.5], std: [0.5] };

/** The default statistics of a dataset for a model with `channels` input channels (default 3). */
export function datasetStats(kind: DatasetKind, channels: 1 | 3 = 3): NormalizationStats {
  switch (kind) {
    case 'fashion-mnist':
      return FASHION_MNIST_STATS;
    case 'mnist':
      return MNIST_STATS;
    case 'cifar10':
    case 'cifar100':
    case 'image-folder':
    case 'inat2018':
    case 'inat2019':
      return channels === 1 ? IMAGENET_GREY_STATS : IMAGENET_STATS;
  }
}

/** Explicit statistics (`--mean`/`--std`), each optional: one value per channel, or one for all. */
export interface NormalizationOverride {
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
}

/**
 * The statistics a model with `channels` input channels is fed with: each of mean and std from the
 * override when given, else from `fallback` (a checkpoint's stored statistics or the dataset default).
 * `origin` names where the fallback came from, for the error when it does not fit the channel count.
 */
export function resolveNormalization(
  override: NormalizationOverride,
  fallback: NormalizationStats,
  channels: number,
  origin: string,
): NormalizationStats {
  const pick = (key: 'mean' | 'std'): readonly number[] => {
    const given = override[key];
    const values = given ?? fallback[key];
    const from = given ? `--${key}` : `the ${key} of ${origin}`;
    if (values.length !== 1 && values.length !== channels) {
      throw new Error(
        `${from} has ${values.length} values but the model takes ${channels} input channel${channels === 1 ? '' : 's'} (--in-chans ${channels}): give --${key} one value per channel or one for all`,
      );
    }
    for (const v of values) {
      if (!Number.isFinite(v)) throw new Error(`${from}: ${v} is not a finite number`);
      if (key === 'std' && !(v > 0)) throw new Error(`${from}: every std must be > 0, got ${v}`);
    }
    return [...values];
  };
  return { mean: pick('mean'), std: pick('std') };
}
