/**
 * Flag parsing shared by the commands: typed number/choice parsers whose errors name the flag, and the
 * model override flags every command accepts (timm's `create_model(name, **overrides)`).
 */
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { datasetKindOf } from '../checkpoint/input.js';
import type { DatasetKind } from '../data/datasets.js';
import type { ModelOverrides } from '../models/registry.js';
import { sanitizeMessage } from '../io/sanitize.js';
import { ampAvailable } from '../ops/autocast.js';
import { announce } from '../train/progress.js';

/**
 * Decimal and exponent spellings of a number only (`12`, `-0.5`, `5e-4`, `.25`): JavaScript's Number()
 * would also take `0x10`, `0b11`, `0o7`, `Infinity`, padding spaces, or an empty string (as 0).
 */
const NUMBER_FORM = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Parses `v` as a decimal or exponent number, or returns NaN. */
export function parseDecimal(v: string): number {
  return NUMBER_FORM.test(v) ? Number(v) : NaN;
}

export function int(flag: string, min = 0): (v: string) => number {
  return (v) => {
    const n = parseDecimal(v);
    if (!Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`${flag} expects an integer >= ${min}, got '${v}'`);
    return n;
  };
}

export function num(flag: string, min = -Infinity, max = Infinity): (v: string) => number {
  return (v) => {
    const n = parseDecimal(v);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} expects a number in [${min}, ${max}], got '${v}'`);
    }
    return n;
  };
}

/**
 * Warns when --num-workers asks for more loader threads than the machine has cores: they only compete
 * with training for the CPU (64 workers on 2 cores trained 14 times slower).
 */
export function warnAboutWorkers(workers: number, cores = availableParallelism()): void {
  if (workers > cores) {
    process.stderr.write(
      `warning: --num-workers ${workers} is more than the ${cores} CPU core${cores === 1 ? '' : 's'} of this machine; ` +
        `extra loader threads only slow training down (try --num-workers ${Math.min(2, cores)})\n`,
    );
  }
}

export function choice<T extends string>(flag: string, values: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(values as readonly string[]).includes(v)) {
      throw new InvalidArgumentError(`${flag} expects one of ${values.join(', ')}, got '${v}'`);
    }
    return v as T;
  };
}

/** Help of `--amp`, the same on every command that runs a model. */
export const AMP_HELP =
  'bfloat16 mixed precision (autocast) on CPUs with AVX512_BF16 or AMX; elsewhere one warning and float32';

/** Whether `--amp` can run here; the one warning goes to stderr. */
export function ampFromFlag(requested: boolean | undefined): boolean {
  return ampAvailable(requested ?? false, (m) => process.stderr.write(`lape: ${m}\n`));
}

export const PE_CHOICES = ['learnable', '1D_sin', '2D_sin', 'none', '2D_RPE'] as const;
export const JOIN_CHOICES = ['basic', 'share', 'unshare', 'LaPE', 'LaPE-shared', 'LN'] as const;

/**
 * Adds --model and every config override flag. None has a parse-time default: what is not given comes
 * from the checkpoint when there is one (src/checkpoint/model_config.ts), else from `defaultModel`.
 */
export function addModelOptions(cmd: Command, defaultModel?: string): Command {
  const model = new Option(
    '--model <name>',
    `model variant (see \`lape models\`; default: the checkpoint's${defaultModel ? `, else ${defaultModel}` : ''})`,
  );
  return cmd
    .addOption(model)
    .option('--pe <type>', `position embedding: ${PE_CHOICES.join(', ')}`, choice('--pe', PE_CHOICES))
    .option(
      '--join-type <join>',
      `how the PE joins: ${JOIN_CHOICES.join(', ')} (LN with 2D_RPE)`,
      choice('--join-type', JOIN_CHOICES),
    )
    .option(
      '--rpe <join>',
      'add a 2-D relative position bias to an absolute PE: none, basic, LN',
      choice('--rpe', ['none', 'basic', 'LN'] as const),
    )
    .option('--img-size <n>', 'input image side', int('--img-size', 1))
    .option('--patch-size <n>', 'patch side', int('--patch-size', 1))
    .option('--in-chans <n>', 'input channels (1 for grayscale)', int('--in-chans', 1))
    .option('--embed-dim <n>', 'embedding dimension', int('--embed-dim', 1))
    .option('--depth <n>', 'number of blocks', int('--depth', 1))
    .option('--num-heads <n>', 'attention heads', int('--num-heads', 1))
    .option('--mlp-ratio <x>', 'MLP hidden size / embedding dimension', num('--mlp-ratio', 0))
    .option('--qkv-bias', 'bias in the qkv projection')
    .option('--no-qkv-bias', 'no bias in the qkv projection')
    .option(
      '--nb-classes <n>',
      'number of classes (default: from the dataset or checkpoint)',
      int('--nb-classes', 1),
    )
    .option('--drop <p>', 'dropout rate', num('--drop', 0, 0.999))
    .option('--attn-drop <p>', 'attention dropout rate', num('--attn-drop', 0, 0.999))
    .option('--drop-path <p>', 'stochastic depth rate', num('--drop-path', 0, 0.999))
    .option('--pe-init-std <x>', 'std of the learnable PE init', num('--pe-init-std', 0));
}

export interface ModelFlags {
  model?: string;
  pe?: ModelOverrides['pe'];
  joinType?: ModelOverrides['join'];
  rpe?: ModelOverrides['rpe'];
  imgSize?: number;
  patchSize?: number;
  inChans?: number;
  embedDim?: number;
  depth?: number;
  numHeads?: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  nbClasses?: number;
  drop?: number;
  attnDrop?: number;
  dropPath?: number;
  peInitStd?: number;
}

export function modelOverrides(f: Omit<ModelFlags, 'model'>): ModelOverrides {
  return {
    pe: f.pe,
    join: f.joinType,
    rpe: f.rpe,
    imgSize: f.imgSize,
    patchSize: f.patchSize,
    inChans: f.inChans,
    embedDim: f.embedDim,
    depth: f.depth,
    numHeads: f.numHeads,
    mlpRatio: f.mlpRatio,
    qkvBias: f.qkvBias,
    numClasses: f.nbClasses,
    dropRate: f.drop,
    attnDropRate: f.attnDrop,
    dropPathRate: f.dropPath,
    peInitStd: f.peInitStd,
  };
}

export const DATA_SETS = [
  'fashion-mnist',
  'mnist',
  'cifar10',
  'cifar100',
  'image-folder',
  'inat2018',
  'inat2019',
] as const;
/** --data-set: lape's names, or the reference's spellings (checkpoint/input.ts has the one table). */
export function dataSet(v: string): DatasetKind {
  const kind = datasetKindOf(v);
  if (kind) return kind;
  throw new InvalidArgumentError(
    `--data-set expects one of ${DATA_SETS.join(', ')} (or IMNET, CIFAR, CIFAR10, CIFAR100, INAT, INAT19), got '${v}'`,
  );
}

/**
 * The CLI's status lines go to stderr (the library prints nothing unless given a logger), sanitized:
 * they may quote paths and keys from files (io/sanitize.ts).
 */
export const stderrLine = (line: string): void => {
  process.stderr.write(`${sanitizeMessage(line)}\n`);
};

/**
 * Runs `work` with Ctrl-C wired to an abort signal: the first Ctrl-C asks the training loop to finish
 * its step and save a resumable checkpoint, a second one quits at once (exit 130).
 */
export async function withInterruptSignal<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    // Through the progress module: a bar on screen would redraw over a plain write.
    announce(
      'interrupt: finishing the current step and saving a resumable checkpoint (Ctrl-C again to quit now)',
    );
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
