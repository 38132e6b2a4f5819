/**
 * The `args` a lape checkpoint stores: an argparse.Namespace with every attribute the reference's
 * main.py has at save time (its flags, `nb_classes`, `distributed`, the scaled `lr`), filled from the
 * run's config, plus what lape reads back (`mean`, `std`, `class_names`, `lape_config`). PyTorch
 * tools that read `checkpoint['args'].input_size` or `.pe` find them where they expect.
 */
import { PyObject, type PyValue } from '../io/pickle.js';
import type { VitConfig } from '../models/config.js';
import type { NormalizationStats } from '../data/stats.js';
import type { TrainConfig } from './config.js';

/** lape's dataset kinds as the reference's --data-set names (where it has one). */
const REFERENCE_DATA_SET: Record<string, string> = {
  'image-folder': 'IMNET',
  cifar100: 'CIFAR',
  inat2018: 'INAT',
  inat2019: 'INAT19',
};

export interface RunFacts {
  /** The model as built. */
  model: VitConfig;
  /** The lr the base values were scaled to (main.py overwrites args.lr with it). */
  baseLr: number;
  normalization: NormalizationStats;
  classNames: readonly string[];
  /** The processes of the run: one, or the data-parallel ranks (the checkpoint is rank 0's). */
  world: { size: number; rank: number };
}

/** The reference's --pe value of a model config. */
export function referencePe(cfg: VitConfig): string {
  return cfg.pe.kind === 'none' && cfg.rpe.kind === '2D' ? '2D_RPE' : cfg.pe.kind;
}

export function argsNamespace(cfg: TrainConfig, run: RunFacts): PyObject {
  const o = cfg.optimizer;
  const s = cfg.schedule;
  const m = run.model;
  const betas: PyValue = 'betas' in o ? [o.betas[0], o.betas[1]] : null;
  const optName = o.kind === 'sgd' ? (o.nesterov === false ? 'momentum' : 'sgd') : o.kind;
  const noise = s.noise ?? null;
  const attrs: Record<string, PyValue> = {
    batch_size: cfg.batchSize,
    epochs: cfg.epochs,
    bce_loss: cfg.criterion.kind === 'bce',
    unscale_lr: cfg.unscaleLr,
    model: cfg.model,
    pe: referencePe(m),
    join_type: m.rpe.kind === '2D' && m.pe.kind === 'none' ? m.rpe.join : m.join,
    input_size: m.imgSize,
    drop: m.dropRate,
    drop_path: m.dropPathRate,
    model_ema: cfg.ema !== null,
    model_ema_decay: cfg.ema?.decay ?? 0.99996,
    model_ema_force_cpu: false,
    opt: optName,
    opt_eps: 'eps' in o ? o.eps : 1e-8,
    opt_betas: betas,
    clip_grad: cfg.clipGrad,
    momentum: o.kind === 'sgd' ? o.momentum : 0.9,
    weight_decay: o.weightDecay,
    sched: s.kind ?? 'cosine',
    lr: run.baseLr,
    lr_noise: noise ? [...noise.range] : null,
    lr_noise_pct: noise?.pct ?? 0.67,
    lr_noise_std: noise?.std ?? 1.0,
    warmup_lr: s.warmupLr,
    min_lr: s.minLr,
    decay_epochs:
      (s.decayEpochs ?? [30]).length === 1 ? (s.decayEpochs ?? [30])[0] : [...(s.decayEpochs ?? [])],
    warmup_epochs: s.warmupEpochs,
    cooldown_epochs: s.cooldownEpochs ?? 10,
    patience_epochs: s.patienceEpochs ?? 10,
    decay_rate: s.decayRate ?? 0.1,
    color_jitter: cfg.augment.colorJitter,
    aa: cfg.augment.autoAugment ?? 'none',
    smoothing: 'smoothing' in cfg.criterion ? cfg.criterion.smoothing : 0,
    train_interpolation: cfg.augment.interpolation,
    repeated_aug: cfg.augment.repeatedAug,
    train_mode: cfg.trainMode ?? true,
    ThreeAugment: cfg.augment.threeAugment ?? false,
    src: cfg.augment.simpleRandomCrop ?? false,
    reprob: cfg.augment.reprob,
    remode: cfg.augment.remode,
    recount: cfg.augment.recount,
    resplit: false,
    mixup: cfg.mixup.mixup,
    cutmix: cfg.mixup.cutmix,
    cutmix_minmax: cfg.mixup.cutmixMinMax ? [...cfg.mixup.cutmixMinMax] : null,
    mixup_prob: cfg.mixup.prob,
    mixup_switch_prob: cfg.mixup.switchProb,
    mixup_mode: cfg.mixup.mode ?? 'batch',
    teacher_model: cfg.teacher?.model ?? 'regnety_160',
    teacher_path: cfg.teacher?.path ?? '',
    distillation_type: cfg.distillation.kind,
    distillation_alpha: 'alpha' in cfg.distillation ? cfg.distillation.alpha : 0.5,
    distillation_tau: cfg.distillation.kind === 'soft' ? cfg.distillation.tau : 1.0,
    finetune: cfg.finetune ?? '',
    attn_only: cfg.attnOnly,
    data_path: cfg.data.path ?? '',
    data_set: REFERENCE_DATA_SET[cfg.data.kind] ?? cfg.data.kind,
    inat_category: cfg.data.inatCategory ?? 'name',
    output_dir: cfg.outputDir ?? '',
    device: 'cpu',
    seed: cfg.seed,
    resume: cfg.resume ?? '',
    start_epoch: cfg.startEpoch ?? 0,
    eval: false,
    dist_eval: cfg.distEval ?? false,
    num_workers: cfg.data.workers,
    pin_mem: true,
    // DeiT's init_distributed_mode: batch_size above is per process, world_size the process count.
    world_size: run.world.size,
    rank: run.world.rank,
    dist_url: 'env://',
    distributed: run.world.size > 1,
    nb_classes: m.numClasses,
    accum_iter: cfg.accumIter ?? 1,
    amp: cfg.amp,
    mean: [...run.normalization.mean],
    std: [...run.normalization.std],
    class_names: [...run.classNames],
    lape_config: JSON.stringify(cfg),
  };
  return PyObject.namespace(attrs);
}
