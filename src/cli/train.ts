/** `lape train`: the reference's main.py flags parsed into a TrainConfig, then `train()`. */
import { Command } from 'commander';
import { defaultTrainConfig, type TrainConfig } from '../train/config.js';
import { train } from '../train/train.js';
import { evaluateCheckpoint, printEval } from './eval.js';
import {
  addModelOptions,
  AMP_HELP,
  choice,
  dataSet,
  int,
  type ModelFlags,
  modelOverrides,
  num,
  stderrLine,
  withInterruptSignal,
} from './options.js';

interface TrainFlags extends ModelFlags {
  batchSize: number;
  epochs: number;
  seed: number;
  dataSet: TrainConfig['data']['kind'];
  dataPath?: string;
  inputSize?: number;
  outputDir?: string;
  output_dir?: string;
  resume?: string;
  eval?: boolean;
  json?: boolean;
  numWorkers: number;
  skipBadImages?: boolean;
  opt: 'adamw' | 'sgd';
  lr: number;
  weightDecay: number;
  optEps: number;
  momentum: number;
  unscaleLr?: boolean;
  warmupEpochs: number;
  warmupLr: number;
  minLr: number;
  clipGrad?: number;
  smoothing: number;
  mixup: number;
  cutmix: number;
  mixupProb: number;
  mixupSwitchProb: number;
  aa: string;
  colorJitter: number;
  reprob: number;
  remode: 'pixel' | 'rand' | 'const';
  recount: number;
  repeatedAug: boolean;
  hflip: number;
  cropPadding: number;
  trainInterpolation: 'bilinear' | 'bicubic' | 'nearest';
  modelEma: boolean;
  modelEmaDecay: number;
  bceLoss?: boolean;
  distillationType: 'none' | 'soft' | 'hard';
  distillationAlpha: number;
  distillationTau: number;
  teacherModel?: string;
  teacherPath?: string;
  finetune?: string;
  attnOnly?: boolean;
  progress: boolean;
  amp?: boolean;
}

export function configFromFlags(f: TrainFlags): TrainConfig {
  const d = defaultTrainConfig();
  const overrides = modelOverrides(f);
  if (overrides.dropPathRate === undefined) overrides.dropPathRate = d.modelOverrides.dropPathRate;
  return {
    ...d,
    model: f.model,
    modelOverrides: overrides,
    seed: f.seed,
    data: {
      kind: f.dataSet,
      path: f.dataPath,
      inputSize: f.inputSize,
      skipBadImages: f.skipBadImages ?? false,
      workers: f.numWorkers,
    },
    batchSize: f.batchSize,
    epochs: f.epochs,
    optimizer:
      f.opt === 'adamw'
        ? { kind: 'adamw', lr: f.lr, weightDecay: f.weightDecay, eps: f.optEps, betas: [0.9, 0.999] }
        : { kind: 'sgd', lr: f.lr, weightDecay: f.weightDecay, momentum: f.momentum },
    unscaleLr: f.unscaleLr ?? false,
    schedule: { warmupEpochs: f.warmupEpochs, warmupLr: f.warmupLr, minLr: f.minLr },
    clipGrad: f.clipGrad ?? null,
    criterion: f.bceLoss
      ? { kind: 'bce', smoothing: f.smoothing }
      : { kind: 'cross-entropy', smoothing: f.smoothing },
    mixup: { mixup: f.mixup, cutmix: f.cutmix, prob: f.mixupProb, switchProb: f.mixupSwitchProb },
    augment: {
      autoAugment: f.aa === 'none' || f.aa === '' ? null : f.aa,
      colorJitter: f.colorJitter,
      reprob: f.reprob,
      remode: f.remode,
      recount: f.recount,
      repeatedAug: f.repeatedAug,
      hflip: f.hflip,
      cropPadding: f.cropPadding,
      interpolation: f.trainInterpolation,
    },
    ema: f.modelEma ? { decay: f.modelEmaDecay } : null,
    distillation:
      f.distillationType === 'none'
        ? { kind: 'none' }
        : f.distillationType === 'soft'
          ? { kind: 'soft', alpha: f.distillationAlpha, tau: f.distillationTau }
          : { kind: 'hard', alpha: f.distillationAlpha },
    teacher:
      f.teacherModel && f.teacherPath ? { model: f.teacherModel, overrides: {}, path: f.teacherPath } : null,
    finetune: f.finetune ?? null,
    attnOnly: f.attnOnly ?? false,
    outputDir: f.outputDir ?? f.output_dir ?? null,
    resume: f.resume ?? null,
    evalEachEpoch: true,
    amp: f.amp ?? false,
  };
}

export function trainCommand(): Command {
  const cmd = new Command('train').description(
    'train a model with the DeiT recipe (flags as the reference main.py)',
  );
  addModelOptions(cmd, 'deit_tiny_patch16_224')
    .option('--batch-size <n>', 'batch size', int('--batch-size', 1), 64)
    .option('--epochs <n>', 'epochs', int('--epochs', 1), 300)
    .option('--seed <n>', 'random seed', int('--seed', 0), 0)
    .option(
      '--data-set <name>',
      'fashion-mnist, mnist, cifar10, cifar100, image-folder',
      dataSet,
      'image-folder',
    )
    .option('--data-path <dir>', 'dataset folder (image-folder: with train/ and val/)')
    .option(
      '--input-size <n>',
      'image side fed to the model (default: the model img size)',
      int('--input-size', 1),
    )
    .option('--output-dir <dir>', 'where checkpoint.pth, best_checkpoint.pth and log.txt go')
    .option('--output_dir <dir>', 'same as --output-dir (the reference spelling)')
    .option('--resume <ckpt>', 'continue a run from its checkpoint')
    .option('--eval', 'only evaluate --resume on the validation split')
    .option('--json', 'with --eval: print one JSON object')
    .option('--num-workers <n>', 'data worker threads', int('--num-workers', 0), 2)
    .option('--skip-bad-images', 'skip unreadable images with a warning instead of stopping')
    .option('--opt <name>', 'adamw or sgd', choice('--opt', ['adamw', 'sgd'] as const), 'adamw')
    .option('--lr <x>', 'learning rate (scaled by batch/512 unless --unscale-lr)', num('--lr', 0), 5e-4)
    .option('--weight-decay <x>', 'weight decay', num('--weight-decay', 0), 0.05)
    .option('--opt-eps <x>', 'AdamW epsilon', num('--opt-eps', 0), 1e-8)
    .option('--momentum <x>', 'SGD momentum', num('--momentum', 0, 1), 0.9)
    .option('--unscale-lr', 'do not scale the lr by batch size / 512')
    .option('--warmup-epochs <n>', 'linear warmup epochs', int('--warmup-epochs', 0), 5)
    .option('--warmup-lr <x>', 'lr at the start of warmup', num('--warmup-lr', 0), 1e-6)
    .option('--min-lr <x>', 'lr at the end of the cosine', num('--min-lr', 0), 1e-5)
    .option('--clip-grad <x>', 'clip the global gradient norm', num('--clip-grad', 0))
    .option('--smoothing <x>', 'label smoothing', num('--smoothing', 0, 0.999), 0.1)
    .option('--mixup <x>', 'mixup alpha (0 disables)', num('--mixup', 0), 0.8)
    .option('--cutmix <x>', 'cutmix alpha (0 disables)', num('--cutmix', 0), 1.0)
    .option('--mixup-prob <p>', 'probability of mixing a batch', num('--mixup-prob', 0, 1), 1.0)
    .option(
      '--mixup-switch-prob <p>',
      'probability of cutmix over mixup',
      num('--mixup-switch-prob', 0, 1),
      0.5,
    )
    .option('--aa <spec>', "RandAugment spec, or 'none'", 'rand-m9-mstd0.5-inc1')
    .option(
      '--color-jitter <x>',
      'colour jitter strength (used when --aa none)',
      num('--color-jitter', 0),
      0.3,
    )
    .option('--reprob <p>', 'random erasing probability', num('--reprob', 0, 1), 0.25)
    .option(
      '--remode <mode>',
      'random erasing mode: pixel, rand, const',
      choice('--remode', ['pixel', 'rand', 'const'] as const),
      'pixel',
    )
    .option('--recount <n>', 'random erasing count', int('--recount', 1), 1)
    .option('--repeated-aug', 'repeated augmentation sampler (default)', true)
    .option('--no-repeated-aug', 'plain shuffled sampler')
    .option('--hflip <p>', 'horizontal flip probability', num('--hflip', 0, 1), 0.5)
    .option(
      '--crop-padding <n>',
      'random-crop padding for images of 32 px or less (0: no crop)',
      int('--crop-padding', 0),
      4,
    )
    .option(
      '--train-interpolation <mode>',
      'bicubic, bilinear, nearest',
      choice('--train-interpolation', ['bicubic', 'bilinear', 'nearest'] as const),
      'bicubic',
    )
    .option('--model-ema', 'keep an EMA of the weights (default)', true)
    .option('--no-model-ema', 'no weight EMA')
    .option('--model-ema-decay <x>', 'EMA decay', num('--model-ema-decay', 0, 1), 0.99996)
    .option('--bce-loss', 'binary cross-entropy instead of softmax cross-entropy')
    .option(
      '--distillation-type <t>',
      'none, soft, hard',
      choice('--distillation-type', ['none', 'soft', 'hard'] as const),
      'none',
    )
    .option(
      '--distillation-alpha <x>',
      'weight of the distillation loss',
      num('--distillation-alpha', 0, 1),
      0.5,
    )
    .option('--distillation-tau <x>', 'soft distillation temperature', num('--distillation-tau', 0), 1.0)
    .option('--teacher-model <name>', 'teacher variant (a lape model)')
    .option('--teacher-path <ckpt>', 'teacher checkpoint (lape or PyTorch)')
    .option('--finetune <ckpt>', 'start from these weights (PE resized, new head if needed)')
    .option('--attn-only', 'train only attention, embeddings and head')
    .option('--no-progress', 'no progress bar or progress lines')
    .option('--amp', AMP_HELP)
    .action(async (f: TrainFlags) => {
      const cfg = configFromFlags(f);
      if (f.eval) {
        if (!cfg.resume) throw new Error('--eval needs --resume CKPT');
        printEval(await evaluateCheckpoint(cfg, cfg.resume), f.json ?? false);
        return;
      }
      const result = await withInterruptSignal((signal) =>
        train(cfg, { signal, progress: f.progress, log: stderrLine }),
      );
      if (result.final) {
        process.stdout.write(
          `final: acc1 ${result.final.acc1.toFixed(2)}% acc5 ${result.final.acc5.toFixed(2)}% loss ${result.final.loss.toFixed(4)} on ${result.final.images} images (best acc1 ${result.maxAccuracy.toFixed(2)}%)\n`,
        );
      }
      if (result.outcome === 'interrupted') process.exitCode = 130;
    });
  return cmd;
}
