/**
 * The flags of the reference's main.py that lape's own recipe flags (train.ts) do not already cover:
 * timm's scheduler options, the optimizer betas, DeiT III's 3-Augment, timm's mixup mode and cutmix
 * box range, --start_epoch, --train-mode, iNaturalist's category, gradient accumulation (DeiT III's
 * --accum-iter), and the flags that are moot on this engine, which are accepted and say once what they
 * do here. docs/reference-flags.md maps every main.py flag to lape's behaviour.
 */
import { Command, Option } from 'commander';
import { INAT_CATEGORIES, type InatCategory } from '../data/inat.js';
import { MIXUP_MODES, type MixupMode } from '../data/mixup.js';
import { SCHEDULER_KINDS, type SchedulerKind } from '../optim/scheduler.js';
import type { TrainConfig } from '../train/config.js';
import { numberList } from './model_flags.js';
import { choice, int, num } from './options.js';

/** Every flag of the official main.py (74, plus the `--dr` alias), as it spells them. */
export const MAIN_PY_FLAGS: readonly string[] = [
  '--batch-size',
  '--epochs',
  '--bce-loss',
  '--unscale-lr',
  '--model',
  '--pe',
  '--join-type',
  '--input-size',
  '--drop',
  '--drop-path',
  '--model-ema',
  '--no-model-ema',
  '--model-ema-decay',
  '--model-ema-force-cpu',
  '--opt',
  '--opt-eps',
  '--opt-betas',
  '--clip-grad',
  '--momentum',
  '--weight-decay',
  '--sched',
  '--lr',
  '--lr-noise',
  '--lr-noise-pct',
  '--lr-noise-std',
  '--warmup-lr',
  '--min-lr',
  '--decay-epochs',
  '--warmup-epochs',
  '--cooldown-epochs',
  '--patience-epochs',
  '--decay-rate',
  '--dr',
  '--color-jitter',
  '--aa',
  '--smoothing',
  '--train-interpolation',
  '--repeated-aug',
  '--no-repeated-aug',
  '--train-mode',
  '--no-train-mode',
  '--ThreeAugment',
  '--src',
  '--reprob',
  '--remode',
  '--recount',
  '--resplit',
  '--mixup',
  '--cutmix',
  '--cutmix-minmax',
  '--mixup-prob',
  '--mixup-switch-prob',
  '--mixup-mode',
  '--teacher-model',
  '--teacher-path',
  '--distillation-type',
  '--distillation-alpha',
  '--distillation-tau',
  '--finetune',
  '--attn-only',
  '--data-path',
  '--data-set',
  '--inat-category',
  '--output_dir',
  '--device',
  '--seed',
  '--resume',
  '--start_epoch',
  '--eval',
  '--dist-eval',
  '--num_workers',
  '--pin-mem',
  '--no-pin-mem',
  '--world_size',
  '--dist_url',
];

export interface ReferenceFlags {
  sched: string;
  lrNoise?: number[];
  lrNoisePct: number;
  lrNoiseStd: number;
  decayEpochs?: number[];
  decayRate: number;
  cooldownEpochs: number;
  patienceEpochs: number;
  optBetas?: number[];
  threeAugment?: boolean;
  src?: boolean;
  mixupMode: MixupMode;
  cutmixMinmax?: number[];
  trainMode?: boolean;
  startEpoch?: number;
  inatCategory?: InatCategory;
  accumIter: number;
  distEval?: boolean;
  resplit?: boolean;
  device?: string;
  pinMem?: boolean;
  modelEmaForceCpu?: boolean;
  worldSize?: number;
  distUrl?: string;
}

export function addReferenceFlags(cmd: Command): Command {
  return cmd
    .option('--sched <name>', `lr scheduler: ${SCHEDULER_KINDS.join(', ')} (timm's)`, 'cosine')
    .option(
      '--lr-noise <pct...>',
      'lr noise on/off epoch fractions (one value: from there on; two: a range)',
      numberList('--lr-noise'),
    )
    .option(
      '--lr-noise-pct <x>',
      'lr noise limit (noise is redrawn until |n| < this)',
      num('--lr-noise-pct', 0),
      0.67,
    )
    .option(
      '--lr-noise-std <x>',
      'lr noise std-dev (recorded; unused, as in timm 0.4)',
      num('--lr-noise-std', 0),
      1.0,
    )
    .option(
      '--decay-epochs <n...>',
      'step: the decay interval; multistep: the milestones (also --decay_epochs)',
      numberList('--decay-epochs'),
    )
    .option(
      '--decay-rate <x>',
      "lr decay factor of step/multistep/plateau, poly's power (also --dr)",
      num('--decay-rate', 0),
      0.1,
    )
    .option(
      '--cooldown-epochs <n>',
      "epochs at min lr after the cycle (recorded; as in main.py, which discards timm's epoch count, it does not lengthen training)",
      int('--cooldown-epochs', 0),
      10,
    )
    .option(
      '--patience-epochs <n>',
      'plateau: epochs without improvement before a decay',
      int('--patience-epochs', 0),
      10,
    )
    .option(
      '--opt-betas <b...>',
      'optimizer betas (Adam family, LAMB; default 0.9 0.999)',
      numberList('--opt-betas'),
    )
    .option(
      '--three-augment',
      "DeiT III's 3-Augment (also --ThreeAugment): grey/solarize/blur + colour jitter",
    )
    .option('--src', "with 3-Augment: DeiT III's simple random crop (resize, reflect-padded random crop)")
    .option(
      '--mixup-mode <mode>',
      `mixup/cutmix parameters per ${MIXUP_MODES.join(', ')}`,
      choice('--mixup-mode', MIXUP_MODES),
      'batch',
    )
    .option(
      '--cutmix-minmax <x...>',
      'cutmix box side range (min max), overriding --cutmix',
      numberList('--cutmix-minmax'),
    )
    .option('--train-mode', 'train with the model in training mode (default)')
    .option('--no-train-mode', 'train with the model in eval mode: no dropout or drop path (DeiT finetuning)')
    .option(
      '--start-epoch <n>',
      'first epoch when not resuming (also --start_epoch)',
      int('--start-epoch', 0),
    )
    .addOption(
      new Option(
        '--inat-category <level>',
        'iNaturalist taxonomy level of the classes (default: name)',
      ).choices(INAT_CATEGORIES),
    )
    .option(
      '--accum-iter <n>',
      'gradient accumulation: one optimizer step per N batches, equal to one batch of N x --batch-size',
      int('--accum-iter', 1),
      1,
    )
    .option('--dist-eval', 'data-parallel runs: each rank evaluates its share of the val split')
    .option('--resplit', 'no effect (as in main.py, which has no augmentation splits)')
    .option('--device <name>', 'no effect: lape runs on the CPU')
    .option('--pin-mem', 'no effect here (also --no-pin-mem)')
    .option('--no-pin-mem', 'no effect here')
    .option('--model-ema-force-cpu', 'no effect: the EMA always lives in CPU memory')
    .option(
      '--world-size <n>',
      'no effect here (also --world_size): the ranks are those --nproc-per-node or mpirun start',
      int('--world-size', 1),
    )
    .option('--dist-url <url>', 'no effect here (also --dist_url)');
}

/** What a moot flag does here, said once when it is given. */
export function mootNotices(f: ReferenceFlags, given: (name: string) => boolean): string[] {
  const out: string[] = [];
  if (f.device !== undefined)
    out.push(
      `--device ${f.device}: lape runs on the CPU (its native oneDNN backend, else the portable one); the flag has no effect`,
    );
  if (given('pinMem'))
    out.push('--pin-mem/--no-pin-mem: no effect; batches are built in the memory the model reads');
  if (f.modelEmaForceCpu) out.push('--model-ema-force-cpu: no effect; the EMA always lives in CPU memory');
  if (f.worldSize !== undefined && f.worldSize !== 1)
    out.push(
      `--world_size ${f.worldSize}: no effect; the world is the ranks --nproc-per-node (or mpirun) starts`,
    );
  if (f.distUrl !== undefined) out.push(`--dist_url ${f.distUrl}: no effect; ranks meet through MPI`);
  if (f.resplit) out.push('--resplit: no effect, as in main.py (it has no augmentation splits)');
  if (given('cooldownEpochs'))
    out.push(
      `--cooldown-epochs ${f.cooldownEpochs}: recorded; as in main.py (which discards the epoch count timm's create_scheduler returns) training lasts --epochs`,
    );
  if (given('lrNoiseStd'))
    out.push('--lr-noise-std: recorded; timm 0.4 does not use it (the noise is a standard normal)');
  return out;
}

/** The TrainConfig fields the reference flags set. */
export function applyReferenceFlags(cfg: TrainConfig, f: ReferenceFlags): TrainConfig {
  if (!(SCHEDULER_KINDS as readonly string[]).includes(f.sched))
    throw new Error(`--sched: unknown scheduler '${f.sched}'; valid: ${SCHEDULER_KINDS.join(', ')}`);
  const pair = (flag: string, v: number[] | undefined): [number, number] | undefined => {
    if (v === undefined) return undefined;
    if (v.length !== 2) throw new Error(`${flag} expects two numbers, got ${v.length}`);
    return [v[0], v[1]];
  };
  if (f.lrNoise !== undefined && f.lrNoise.length !== 1 && f.lrNoise.length !== 2)
    throw new Error(`--lr-noise expects one or two epoch fractions, got ${f.lrNoise.length}`);
  const betas = pair('--opt-betas', f.optBetas);
  const minmax = pair('--cutmix-minmax', f.cutmixMinmax);
  const o = cfg.optimizer;
  return {
    ...cfg,
    optimizer: betas && o.kind !== 'sgd' ? { ...o, betas } : o,
    schedule: {
      ...cfg.schedule,
      kind: f.sched as SchedulerKind,
      decayEpochs: f.decayEpochs ?? [30],
      decayRate: f.decayRate,
      patienceEpochs: f.patienceEpochs,
      cooldownEpochs: f.cooldownEpochs,
      noise: f.lrNoise ? { range: f.lrNoise, pct: f.lrNoisePct, std: f.lrNoiseStd } : null,
    },
    augment: {
      ...cfg.augment,
      threeAugment: f.threeAugment ?? false,
      simpleRandomCrop: f.src ?? false,
    },
    mixup: { ...cfg.mixup, mode: f.mixupMode, cutmixMinMax: minmax ?? null },
    data: { ...cfg.data, inatCategory: f.inatCategory },
    accumIter: f.accumIter,
    startEpoch: f.startEpoch ?? 0,
    trainMode: f.trainMode ?? true,
    distEval: f.distEval ?? false,
  };
}
