/** Public API of the data pipeline. */
export type { Batch } from './batch.js';
export { type CifarVariant, openCifarDataset } from './cifar.js';
export {
  DEFAULT_FASHION_MNIST_PATH,
  FASHION_MNIST_CLASSES,
  MNIST_CLASSES,
  type DatasetKind,
  type DatasetSpec,
  type OpenOptions,
  openDataset,
  sourceFromDescriptor,
} from './datasets.js';
export { DataError } from './errors.js';
export { type IdxArray, openIdxDataset, parseIdx, readIdxFile } from './idx.js';
export type { Channels, ImageU8, RawImage } from './image.js';
export {
  IMAGE_EXTENSIONS,
  type ImageFolderOptions,
  ImageFolderSource,
  type WarningSink,
  openImageFolder,
  scanImageFolder,
} from './image_folder.js';
export { type DataLoader, type LoaderOptions, createLoader } from './loader.js';
export { DEIT_MIXUP, type MixDecision, type MixupConfig, applyMix, mixTargets, sampleMix } from './mixup.js';
export { Rng, type RngState } from '../tensor/random.js';
export {
  DEIT_REPEATED_AUGMENTATION,
  type RepeatedAugmentation,
  type SamplerConfig,
  batchCount,
  epochLength,
  epochOrder,
} from './sampler.js';
export { type ImageSource, MemorySource, type SourceDescriptor } from './source.js';
export type { Split } from './split.js';
export {
  FASHION_MNIST_STATS,
  HALF_STATS,
  IMAGENET_STATS,
  MNIST_STATS,
  type NormalizationStats,
  datasetStats,
} from './stats.js';
export { type Interpolation } from './transforms/resize.js';
export { type RandAugmentSpec, parseRandAugment } from './transforms/rand_augment.js';
export {
  type ErasingMode,
  type RandomErasingConfig,
  TIMM_RANDOM_ERASING,
} from './transforms/random_erasing.js';
export {
  type Augment,
  type CompiledTransform,
  type EvalResize,
  type EvalTransformConfig,
  type RecipeOptions,
  type TrainCrop,
  type TrainTransformConfig,
  type TransformConfig,
  compileTransform,
  deitEvalTransform,
  deitTrainTransform,
} from './transforms/pipeline.js';
