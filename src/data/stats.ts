/**
 * Per-dataset normalization constants (ToTensor then Normalize(mean, std)).
 *
 * Choices: image folders and CIFAR use the ImageNet defaults, as the DeiT/LaPE recipe does for every
 * dataset. Fashion-MNIST and MNIST use their own train-set pixel statistics rather than (0.5, 0.5): the
 * inputs are then zero-mean, unit-variance per pixel, which is what the ImageNet constants achieve for
 * natural images. (Fashion-MNIST: mean 0.2860, std 0.3530, measured over all 47,040,000 train pixels.)
 * A 1-channel mean/std is repeated when grey images are fed to a 3-channel model.
 */
import type { DatasetKind } from './datasets.js';

export interface NormalizationStats {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export const IMAGENET_STATS: NormalizationStats = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
export const FASHION_MNIST_STATS: NormalizationStats = { mean: [0.286], std: [0.353] };
export const MNIST_STATS: NormalizationStats = { mean: [0.1307], std: [0.3081] };
/** The symmetric alternative: maps [0, 1] to [-1, 1]. */
export const HALF_STATS: NormalizationStats = { mean: [0.5], std: [0.5] };

export function datasetStats(kind: DatasetKind): NormalizationStats {
  switch (kind) {
    case 'fashion-mnist':
      return FASHION_MNIST_STATS;
    case 'mnist':
      return MNIST_STATS;
    case 'cifar10':
    case 'cifar100':
    case 'image-folder':
      return IMAGENET_STATS;
  }
}
