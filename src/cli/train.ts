/**
 * `lape train`: the reference's main.py flags (all of them: reference_flags.ts adds what lape's own
 * recipe flags here do not cover) parsed into a TrainConfig, the model resolved from the flags and,
 * with --resume, the checkpoint (src/checkpoint/model_config.ts), then `train()`: in this process, or
 * as data-parallel ranks (--nproc-per-node, --hosts, or started by mpirun: src/dist/).
 */
import { Command, InvalidArgumentError } from 'commander';
import { resolveModel } from '../checkpoint/model_config.js';
import type { Checkpoint } from '../checkpoint/read.js';
import { launch } from '../dist/launcher.js';
import { trainRank } from '../dist/run.js';
import { mpiJobRank, mpiJobSize } from '../dist/world.js';
import { OPTIMIZER_KINDS, checkOptimizerKind } from '../optim/factory.js';
import { defaultTrainConfig, type TrainConfig } from '../train/config.js';
import { train, type TrainResult } from '../train/train.js';
import { downloadProgress, openCheckpointForCli } from './checkpoint_model.js';
import { evaluateCheckpoint, printEval } from './eval.js';
import { addModelFlags, modelRequest, normalizationOverride, type InputFlags } from './model_flags.js';
import {
  AMP_HELP,
  choice,
  dataSet,
  int,
  num,
  type ModelFlags,
  stderrLine,
  warnAboutWorkers,
  withInterruptSignal,
} from './options.js';
import {
  addReferenceFlags,
  applyReferenceFlags,
  mootNotices,
  type ReferenceFlags,
} from './reference_flags.js';

/** lape's default model (the reference's main.py defaults to deit_base_patch16_224). */
export const DEFAULT_TRAIN_MODEL = 'deit_tiny_patch16_224';

interface TrainFlags extends ModelFlags, InputFlags, ReferenceFlags {
  batchSize: number;
  epochs: number;
  seed: number;
  dataSet: TrainConfig['data']['kind'];
  dataPath?: string;
  inputSize?: number;
  outputDir?: string;
  resume?: string;
  eval?: boolean;
  json?: boolean;
  numWorkers: number;
  skipBadImages?: boolean;
  opt: string;
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
  repeatedAug?: boolean;
  hflip: number;
  cropPadding: number;
  trainInterpolation: 'bilinear' | 'bicubic' | 'nearest';
  modelEma?: boolean;
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
  nprocPerNode?: number;
  hosts?: string[];
  threads?: number;
  amp?: boolean;
}

/**
 * The TrainConfig the flags ask for. The model fields are the flags' only: `lape train` completes
 * them with the checkpoint's and the default model (`resolveTrainModel`).
 */
export function configFromFlags(f: TrainFlags): TrainConfig {
  const d = defaultTrainConfig();
  const kind = checkOptimizerKind(f.opt);
  const betas: [number, number] = [0.9, 0.999];
  const base: TrainConfig = {
    ...d,
    model: f.model ?? DEFAULT_TRAIN_MODEL,
    modelOverrides: modelRequest(f).overrides,
    seed: f.seed,
    data: {
      kind: f.dataSet,
      path: f.dataPath,
      inputSize: f.inputSize,
      skipBadImages: f.skipBadImages ?? false,
      workers: f.numWorkers,
      normalize: f.mean || f.std ? normalizationOverride(f) : undefined,
    },
    batchSize: f.batchSize,
    epochs: f.epochs,
    optimizer:
      kind === 'sgd' || kind === 'nesterov' || kind === 'momentum'
        ? {
            kind: 'sgd',
            lr: f.lr,
            weightDecay: f.weightDecay,
            momentum: f.momentum,
            nesterov: kind !== 'momentum',
          }
        : { kind, lr: f.lr, weightDecay: f.weightDecay, eps: f.optEps, betas },
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
      repeatedAug: f.repeatedAug ?? true,
      hflip: f.hflip,
      cropPadding: f.cropPadding,
      interpolation: f.trainInterpolation,
    },
    ema: (f.modelEma ?? true) ? { decay: f.modelEmaDecay } : null,
    distillation:
      f.distillationType === 'none'
        ? { kind: 'none' }
        : f.distillationType === 'soft'
          ? { kind: 'soft', alpha: f.distillationAlpha, tau: f.distillationTau }
          : { kind: 'hard', alpha: f.distillationAlpha },
    teacher: f.teacherPath ? { model: f.teacherModel ?? '', overrides: {}, path: f.teacherPath } : null,
    finetune: f.finetune ?? null,
    attnOnly: f.attnOnly ?? false,
    outputDir: f.outputDir ?? null,
    resume: f.resume ?? null,
    evalEachEpoch: true,
    amp: f.amp ?? false,
  };
  return applyReferenceFlags(base, f);
}

/**
 * The model of a run: the flags, else (resuming) the checkpoint's, else DEFAULT_TRAIN_MODEL; DeiT's
 * drop path 0.1 unless something set it.
 */
export function resolveTrainModel(cfg: TrainConfig, f: TrainFlags, ckpt: Checkpoint | null): TrainConfig {
  const req = modelRequest(f);
  if (f.inputSize !== undefined && req.overrides.imgSize === undefined) req.overrides.imgSize = f.inputSize;
  const resolved = resolveModel(
    req,
    ckpt ? { label: ckpt.spec, stateDict: ckpt.stateDict, facts: ckpt.facts } : null,
    { defaultModel: DEFAULT_TRAIN_MODEL },
  );
  const overrides = { ...resolved.overrides };
  if (overrides.dropPathRate === undefined)
    overrides.dropPathRate = defaultTrainConfig().modelOverrides.dropPathRate;
  return {
    ...cfg,
    model: resolved.name,
    modelOverrides: overrides,
    data: { ...cfg.data, inputSize: undefined },
  };
}

function hostList(v: string): string[] {
  const hosts = v.split(',').map((h) => h.trim());
  if (hosts.some((h) => !/^[A-Za-z0-9_.:-]+$/.test(h)))
    throw new InvalidArgumentError(`--hosts expects host names separated by commas, got '${v}'`);
  return hosts;
}

/** The command each rank runs: this process's own command line (node flags, lape entry, arguments). */
function rankCommand(): string[] {
  const nodeFlags = process.execArgv.filter((a) => !/^--(inspect|debug)/.test(a));
  return [process.execPath, ...nodeFlags, ...process.argv.slice(1)];
}

function printFinal(result: TrainResult): void {
  if (result.final) {
    process.stdout.write(
      `final: acc1 ${result.final.acc1.toFixed(2)}% acc5 ${result.final.acc5.toFixed(2)}% loss ${result.final.loss.toFixed(4)} on ${result.final.images} images (best acc1 ${result.maxAccuracy.toFixed(2)}%)\n`,
    );
  }
}

export function trainCommand(): Command {
  const cmd = new Command('train').description(
    'train a model with the DeiT recipe (flags as the reference main.py)',
  );
  addModelFlags(cmd, DEFAULT_TRAIN_MODEL)
    .option('--batch-size <n>', 'batch size', int('--batch-size', 1), 64)
    .option('--epochs <n>', 'epochs', int('--epochs', 1), 300)
    .option('--seed <n>', 'random seed', int('--seed', 0), 0)
    .option(
      '--data-set <name>',
      "fashion-mnist, mnist, cifar10, cifar100, image-folder, inat2018, inat2019 (or the reference's IMNET, CIFAR, INAT, INAT19)",
      dataSet,
      'image-folder',
    )
    .option(
      '--data-path <dir>',
      'dataset folder (image-folder: with train/ and val/; iNaturalist: with train2018.json, ...)',
    )
    .option(
      '--input-size <n>',
      'image side fed to the model (default: the model img size)',
      int('--input-size', 1),
    )
    .option(
      '--output-dir <dir>',
      'where checkpoint.pth, best_checkpoint.pth and log.txt go (also --output_dir)',
    )
    .option('--resume <ckpt>', 'continue a run from its checkpoint (.pth, .safetensors or an https URL)')
    .option('--eval', 'only evaluate --resume on the validation split')
    .option('--json', 'with --eval: print one JSON object')
    .option('--num-workers <n>', 'data worker threads (also --num_workers)', int('--num-workers', 0), 2)
    .option('--skip-bad-images', 'skip unreadable images with a warning instead of stopping')
    .option(
      '--opt <name>',
      `optimizer: ${OPTIMIZER_KINDS.join(', ')} (timm's: sgd is Nesterov SGD, momentum plain momentum SGD)`,
      'adamw',
    )
    .option('--lr <x>', 'learning rate (scaled by batch/512 unless --unscale-lr)', num('--lr', 0), 5e-4)
    .option('--weight-decay <x>', 'weight decay', num('--weight-decay', 0), 0.05)
    .option('--opt-eps <x>', 'epsilon of the Adam family and LAMB', num('--opt-eps', 0), 1e-8)
    .option('--momentum <x>', 'SGD momentum', num('--momentum', 0, 1), 0.9)
    .option('--unscale-lr', 'do not scale the lr by batch size / 512')
    .option('--warmup-epochs <n>', 'linear warmup epochs', int('--warmup-epochs', 0), 5)
    .option('--warmup-lr <x>', 'lr at the start of warmup', num('--warmup-lr', 0), 1e-6)
    .option('--min-lr <x>', 'lower lr bound of the schedulers that reach it', num('--min-lr', 0), 1e-5)
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
    .option('--repeated-aug', 'repeated augmentation sampler (default)')
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
    .option('--model-ema', 'keep an EMA of the weights (default)')
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
    .option('--teacher-model <name>', "teacher variant, a lape ViT (default: the teacher checkpoint's)")
    .option(
      '--teacher-path <ckpt>',
      'teacher checkpoint (lape or PyTorch .pth, .safetensors, or an https URL)',
    )
    .option(
      '--finetune <ckpt>',
      'start from these weights, PE resized, new head if needed (.pth, .safetensors or an https URL)',
    )
    .option('--attn-only', 'train only attention, embeddings and head')
    .option('--no-progress', 'no progress bar or progress lines')
    .option('--amp', AMP_HELP)
    .option(
      '--nproc-per-node <n>',
      'data-parallel ranks on this machine (on each --hosts host), started through mpirun',
      int('--nproc-per-node', 1),
    )
    .option('--hosts <a,b>', 'run --nproc-per-node ranks on each of these hosts (over ssh)', hostList);
  addReferenceFlags(cmd).action(async (f: TrainFlags) => {
    const jobSize = mpiJobSize(); // null unless this process is a rank of an MPI job
    const rank0 = jobSize === null || mpiJobRank() === 0;
    const launching = jobSize === null && ((f.nprocPerNode ?? 1) > 1 || f.hosts !== undefined);
    if (rank0) warnAboutWorkers(f.numWorkers);
    const given = (name: string): boolean => cmd.getOptionValueSource(name) === 'cli';
    // Said once: by the ranks' rank 0, not also by the process that launches them.
    if (rank0 && !launching)
      for (const line of mootNotices(f, given)) process.stderr.write(`note: ${line}\n`);
    const base = configFromFlags(f);
    if (f.eval) {
      if (!base.resume) throw new Error('--eval needs --resume CKPT');
      if (!rank0) return; // one evaluation per job, by rank 0
    } else if (launching) {
      // The ranks parse these same flags, open the checkpoints and train; this process waits for them.
      process.exitCode = await launch({
        nprocPerNode: f.nprocPerNode ?? 1,
        hosts: f.hosts ?? null,
        command: rankCommand(),
      });
      return;
    }
    const ckpt = f.resume ? await openCheckpointForCli(f.resume, f.progress && rank0) : null;
    if (f.eval) {
      if (!ckpt) throw new Error('--eval needs --resume CKPT');
      const req = modelRequest(f);
      if (f.inputSize !== undefined && req.overrides.imgSize === undefined)
        req.overrides.imgSize = f.inputSize;
      printEval(
        await evaluateCheckpoint(base, ckpt, req, { progress: f.progress && !f.json }),
        f.json ?? false,
      );
      return;
    }
    const cfg = resolveTrainModel(base, f, ckpt);
    const dl = f.progress && rank0 ? downloadProgress() : null;
    const checkpoints = {
      preloaded: ckpt ? [ckpt] : [],
      download: dl ? { onStart: dl.onStart, onProgress: dl.onProgress } : undefined,
    };
    try {
      if (jobSize !== null && jobSize > 1) {
        const { result, exitCode, lead } = await trainRank(cfg, {
          progress: f.progress,
          nprocPerNode: f.nprocPerNode,
          threads: f.threads,
          log: stderrLine,
          checkpoints,
        });
        if (result && lead) printFinal(result);
        process.exitCode = exitCode;
        return;
      }
      const result = await withInterruptSignal((signal) =>
        train(cfg, { signal, progress: f.progress, log: stderrLine, ...checkpoints }),
      );
      printFinal(result);
      if (result.outcome === 'interrupted') process.exitCode = 130;
    } finally {
      dl?.done();
    }
  });
  return cmd;
}
