/**
 * DeiT's `build_dataset` / `build_transform` on lape's data pipeline: which crop, augmentation,
 * normalization, sampler and mixup a training or evaluation loader uses.
 */
import type { Channels } from '../data/image.js';
import { createLoader, type DataLoader } from '../data/loader.js';
import { openDataset, type DatasetSpec, type OpenOptions } from '../data/datasets.js';
import type { MixupConfig } from '../data/mixup.js';
import { DEIT_REPEATED_AUGMENTATION, type Shard } from '../data/sampler.js';
import type { ImageSource } from '../data/source.js';
import { datasetStats, resolveNormalization, type NormalizationStats } from '../data/stats.js';
import type { TransformConfig } from '../data/transforms/pipeline.js';
import { TIMM_RANDOM_ERASING } from '../data/transforms/random_erasing.js';
import type { TrainConfig } from './config.js';

export function datasetSpec(cfg: TrainConfig, split: 'train' | 'val'): DatasetSpec {
  const { kind, path, skipBadImages } = cfg.data;
  switch (kind) {
    case 'fashion-mnist':
      return { kind, split, path };
    case 'mnist':
    case 'cifar10':
    case 'cifar100':
      if (!path) throw new Error(`--data-path is required for --data-set ${kind}`);
      return { kind, split, path };
    case 'image-folder':
      if (!path)
        throw new Error(
          '--data-path is required for --data-set image-folder (a folder with train/ and val/)',
        );
      return { kind, split, path, skipBadImages };
    case 'inat2018':
    case 'inat2019':
      if (!path)
        throw new Error(
          `--data-path is required for --data-set ${kind} (the folder with train${kind.slice(4)}.json, val${kind.slice(4)}.json and categories.json)`,
        );
      return { kind, split, path, skipBadImages, category: cfg.data.inatCategory };
  }
}

/**
 * The statistics the model is fed with: --mean/--std when given, else the dataset's default for the
 * model's channel count (ImageNet's, luma-weighted for one channel; Fashion-MNIST's own, ...).
 */
export function trainNormalization(cfg: TrainConfig, channels: Channels): NormalizationStats {
  return resolveNormalization(
    cfg.data.normalize ?? {},
    datasetStats(cfg.data.kind, channels),
    channels,
    `--data-set ${cfg.data.kind}'s default`,
  );
}

export function openSplit(
  cfg: TrainConfig,
  split: 'train' | 'val',
  opts: OpenOptions = {},
): Promise<ImageSource> {
  return openDataset(datasetSpec(cfg, split), opts);
}

/** DeiT: images of 32 px or less are random-cropped with padding 4 instead of random-resized-cropped. */
export function trainTransform(
  cfg: TrainConfig,
  size: number,
  channels: Channels,
  stats: NormalizationStats = trainNormalization(cfg, channels),
): TransformConfig {
  const a = cfg.augment;
  if (a.threeAugment) {
    // DeiT III's new_data_aug_generator replaces the whole transform: no RandAugment, no erasing.
    return {
      kind: 'train',
      size,
      channels,
      interpolation: 'bicubic',
      crop: a.simpleRandomCrop
        ? { kind: 'simple-random-crop', padding: 4 }
        : { kind: 'random-resized-crop', scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
      hflip: 0.5,
      augment: { kind: 'three-augment', colorJitter: a.colorJitter },
      normalize: stats,
      erasing: null,
    };
  }
  return {
    kind: 'train',
    size,
    channels,
    interpolation: a.interpolation,
    crop:
      size > 32
        ? { kind: 'random-resized-crop', scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }
        : { kind: 'random-crop', padding: a.cropPadding, fill: 0 },
    hflip: a.hflip,
    augment: a.autoAugment
      ? { kind: 'rand-augment', config: a.autoAugment }
      : a.colorJitter > 0
        ? { kind: 'color-jitter', strength: a.colorJitter }
        : { kind: 'none' },
    normalize: stats,
    erasing:
      a.reprob > 0
        ? { ...TIMM_RANDOM_ERASING, prob: a.reprob, mode: a.remode, minCount: a.recount, maxCount: a.recount }
        : null,
  };
}

/** timm's eval transform: resize to size / 0.875 and centre-crop, or nothing but normalization for small images. */
export function evalTransform(
  cfg: TrainConfig,
  size: number,
  channels: Channels,
  stats: NormalizationStats = trainNormalization(cfg, channels),
): TransformConfig {
  return {
    kind: 'eval',
    size,
    channels,
    interpolation: cfg.augment.interpolation,
    resize: size > 32 ? { kind: 'center-crop', cropPct: 0.875 } : { kind: 'resize' },
    normalize: stats,
  };
}

/** timm's Mixup as main.py builds it: active when mixup or cutmix is on, or a cutmix box range is set. */
export function mixupConfig(cfg: TrainConfig): MixupConfig | null {
  const m = cfg.mixup;
  const minmax = m.cutmixMinMax ?? null;
  if (m.mixup <= 0 && m.cutmix <= 0 && minmax === null) return null;
  const smoothing =
    cfg.criterion.kind === 'soft-target' ? 0 : 'smoothing' in cfg.criterion ? cfg.criterion.smoothing : 0;
  return {
    mixupAlpha: m.mixup,
    cutmixAlpha: m.cutmix,
    cutmixMinMax: minmax,
    prob: m.prob,
    switchProb: m.switchProb,
    mode: m.mode ?? 'batch',
    correctLam: true,
    labelSmoothing: smoothing,
  };
}

/**
 * `opts.stats`: normalization (default: the config's); `opts.numClasses`: soft-target width (default:
 * the source's); `opts.shard`: a data-parallel rank's share of each epoch (torch's DistributedSampler /
 * DeiT's RASampler); `opts.mixupGroups`: see LoaderOptions.
 */
export function trainLoader(
  cfg: TrainConfig,
  source: ImageSource,
  size: number,
  channels: Channels,
  opts: { stats?: NormalizationStats; numClasses?: number; shard?: Shard; mixupGroups?: number } = {},
): Promise<DataLoader> {
  return createLoader({
    source,
    numClasses: opts.numClasses,
    transform: trainTransform(cfg, size, channels, opts.stats),
    batchSize: cfg.batchSize,
    shuffle: true,
    seed: cfg.seed,
    workers: cfg.data.workers,
    dropLast: true,
    repeatedAugmentation: cfg.augment.repeatedAug ? DEIT_REPEATED_AUGMENTATION : null,
    mixup: mixupConfig(cfg),
    accumulation: cfg.accumIter ?? 1,
    shard: opts.shard,
    mixupGroups: opts.mixupGroups,
  });
}

export function evalLoader(
  cfg: TrainConfig,
  source: ImageSource,
  size: number,
  channels: Channels,
  batchSize: number,
  opts: { stats?: NormalizationStats; shard?: Shard } = {},
): Promise<DataLoader> {
  return createLoader({
    source,
    transform: evalTransform(cfg, size, channels, opts.stats),
    batchSize,
    shuffle: false,
    seed: cfg.seed,
    workers: cfg.data.workers,
    dropLast: false,
    shard: opts.shard,
  });
}
