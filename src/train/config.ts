/**
 * The typed training configuration: DeiT's recipe (the reference's `main.py` flags) as plain data.
 * Defaults are the reference's, and `defaultTrainConfig` documents each one.
 */
import type { DatasetKind } from '../data/datasets.js';
import type { SchedulerKind } from '../optim/scheduler.js';
import type { InatCategory } from '../data/inat.js';
import type { NormalizationOverride } from '../data/stats.js';
import type { ErasingMode } from '../data/transforms/random_erasing.js';
import type { Interpolation } from '../data/transforms/resize.js';
import type { ModelOverrides } from '../models/registry.js';
import type { Criterion, Distillation } from './losses.js';

/**
 * The optimizer (timm's `--opt`): `adamw`, `adam`, SGD with Nesterov momentum (`sgd`, timm's meaning;
 * `nesterov: false` is `--opt momentum`), or `lamb`.
 */
export type OptimizerConfig =
  | { kind: 'adamw' | 'adam' | 'lamb'; lr: number; weightDecay: number; eps: number; betas: [number, number] }
  | { kind: 'sgd'; lr: number; weightDecay: number; momentum: number; nesterov?: boolean };

/**
 * The learning-rate schedule (timm's `--sched`, default cosine); the fields past the warmup matter to
 * some schedulers only (src/optim/scheduler.ts).
 */
export interface ScheduleConfig {
  kind?: SchedulerKind;
  warmupEpochs: number;
  warmupLr: number;
  minLr: number;
  /** step: [interval]; multistep: the milestones (default [30]). */
  decayEpochs?: number[];
  /** default 0.1 */
  decayRate?: number;
  /** plateau (default 10) */
  patienceEpochs?: number;
  /** --cooldown-epochs: recorded; as in the reference's main.py it does not lengthen training. */
  cooldownEpochs?: number;
  /** --lr-noise as fractions of the epochs, with --lr-noise-pct/--lr-noise-std; null: none. */
  noise?: { range: number[]; pct: number; std: number } | null;
}

export interface AugmentConfig {
  /** timm RandAugment spec (`rand-m9-mstd0.5-inc1`), or null for colour jitter instead. */
  autoAugment: string | null;
  colorJitter: number;
  /** Random-erasing probability (0 disables). */
  reprob: number;
  remode: ErasingMode;
  recount: number;
  /** DeiT's repeated-augmentation sampler (3 repeats). */
  repeatedAug: boolean;
  hflip: number;
  /** Padding of the random crop used for images of 32 px or less (DeiT: 4); 0 disables the crop. */
  cropPadding: number;
  interpolation: Interpolation;
  /** DeiT III's 3-Augment (--ThreeAugment): grey / solarize / blur, colour jitter; replaces RandAugment and erasing. */
  threeAugment?: boolean;
  /** DeiT III's --src with 3-Augment: resize, then a reflect-padded random crop instead of random-resized-crop. */
  simpleRandomCrop?: boolean;
}

export interface MixupSettings {
  /** Beta alpha of mixup (0 disables). */
  mixup: number;
  /** Beta alpha of cutmix (0 disables). */
  cutmix: number;
  prob: number;
  switchProb: number;
  /** timm's --mixup-mode: one lam per batch, per pair, or per sample (default batch). */
  mode?: 'batch' | 'pair' | 'elem';
  /** --cutmix-minmax: cutmix box side range (fractions), overriding the cutmix alpha. */
  cutmixMinMax?: [number, number] | null;
}

export interface TeacherConfig {
  model: string;
  overrides: ModelOverrides;
  /** A lape or PyTorch checkpoint of the teacher. */
  path: string;
}

export interface TrainConfig {
  model: string;
  modelOverrides: ModelOverrides;
  /** Seeds initialization, data order, augmentation and dropout. */
  seed: number;
  data: {
    kind: DatasetKind;
    /** Dataset folder; Fashion-MNIST defaults to Debian's /usr/share/datasets/fashion-mnist. */
    path?: string;
    /** Model input side; defaults to the model's imgSize. */
    inputSize?: number;
    skipBadImages: boolean;
    workers: number;
    /** iNaturalist: the taxonomy level the classes are (default 'name'). */
    inatCategory?: InatCategory;
    /**
     * --mean/--std (one value per channel or one for all); absent: the dataset's default for the
     * model's channel count. The statistics used are stored in the checkpoint (`args.mean`/`args.std`).
     */
    normalize?: NormalizationOverride;
  };
  batchSize: number;
  epochs: number;
  optimizer: OptimizerConfig;
  /** Use the lr as given instead of DeiT's lr * batch / 512. */
  unscaleLr: boolean;
  schedule: ScheduleConfig;
  /** Max global gradient norm, or null for no clipping. */
  clipGrad: number | null;
  criterion: Criterion;
  mixup: MixupSettings;
  augment: AugmentConfig;
  ema: { decay: number } | null;
  distillation: Distillation;
  teacher: TeacherConfig | null;
  /** Start from these weights (head dropped if the class count differs, PE resized to the new grid). */
  finetune: string | null;
  /** Train only attention (and embeddings/head), as DeiT's --attn-only. */
  attnOnly: boolean;
  /** Folder for checkpoint.pth, best_checkpoint.pth and log.txt; null keeps nothing. */
  outputDir: string | null;
  /** A checkpoint to continue from (model, optimizer, schedule, EMA, RNG, epoch). */
  resume: string | null;
  /** Evaluate on the validation split after every epoch. */
  evalEachEpoch: boolean;
  /**
   * bfloat16 mixed precision (autocast) for the forward and backward passes and evaluation, on CPUs
   * with AVX512_BF16 or AMX; elsewhere one warning and float32. Weights, gradients, optimizer state
   * and checkpoints stay float32. Default false.
   */
  amp: boolean;
  /**
   * --accum-iter N: each optimizer step sums the gradients of N loader batches of `batchSize`; the
   * result equals one batch of N * batchSize (docs/reference-flags.md). Default 1.
   */
  accumIter?: number;
  /** --start_epoch: the first epoch when not resuming (default 0). */
  startEpoch?: number;
  /** --no-train-mode: train with the model in eval mode (no dropout/drop path), as DeiT finetuning. Default true. */
  trainMode?: boolean;
  /**
   * --dist-eval: in data-parallel runs each rank evaluates its share of the validation split and the
   * metrics are summed; otherwise every rank evaluates all of it, as the reference does. Default false.
   */
  distEval?: boolean;
}

/** DeiT's defaults (main.py), with the values lape cannot know yet (model, data) filled in plainly. */
export function defaultTrainConfig(): TrainConfig {
  return {
    model: 'deit_tiny_patch16_224',
    modelOverrides: { dropPathRate: 0.1 },
    seed: 0,
    data: { kind: 'image-folder', skipBadImages: false, workers: 2 },
    batchSize: 64,
    epochs: 300,
    optimizer: { kind: 'adamw', lr: 5e-4, weightDecay: 0.05, eps: 1e-8, betas: [0.9, 0.999] },
    unscaleLr: false,
    schedule: { warmupEpochs: 5, warmupLr: 1e-6, minLr: 1e-5 },
    clipGrad: null,
    criterion: { kind: 'cross-entropy', smoothing: 0.1 },
    mixup: { mixup: 0.8, cutmix: 1.0, prob: 1.0, switchProb: 0.5 },
    augment: {
      autoAugment: 'rand-m9-mstd0.5-inc1',
      colorJitter: 0.3,
      reprob: 0.25,
      remode: 'pixel',
      recount: 1,
      repeatedAug: true,
      hflip: 0.5,
      cropPadding: 4,
      interpolation: 'bicubic',
    },
    ema: { decay: 0.99996 },
    distillation: { kind: 'none' },
    teacher: null,
    finetune: null,
    attnOnly: false,
    outputDir: null,
    resume: null,
    evalEachEpoch: true,
    distEval: false,
    amp: false,
  };
}
