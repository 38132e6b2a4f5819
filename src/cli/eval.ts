/** `lape eval`: top-1, top-5 and loss of a checkpoint (lape's or the reference's) on a validation split. */
import { Command, Option } from 'commander';
import { INAT_CATEGORIES } from '../data/inat.js';
import { inputNormalization, storedDataset } from '../checkpoint/input.js';
import { modelFromCheckpoint } from '../checkpoint/load_model.js';
import type { ModelRequest } from '../checkpoint/model_config.js';
import type { Checkpoint } from '../checkpoint/read.js';
import type { Channels } from '../data/image.js';
import { defaultTrainConfig, type TrainConfig } from '../train/config.js';
import { evalLoader, openSplit } from '../train/data.js';
import { evaluate, type EvalResult } from '../train/evaluate.js';
import { createProgress } from '../train/progress.js';
import { openCheckpointForCli } from './checkpoint_model.js';
import { addModelFlags, modelRequest, normalizationOverride, type InputFlags } from './model_flags.js';
import { AMP_HELP, ampFromFlag, dataSet, int, type ModelFlags, warnAboutWorkers } from './options.js';

/**
 * Evaluates the model a checkpoint holds (resolved from `req` and the checkpoint) on the validation
 * split of `cfg.data`, fed with the statistics it was trained with (or --mean/--std).
 */
export async function evaluateCheckpoint(
  cfg: TrainConfig,
  ckpt: Checkpoint,
  req: ModelRequest,
  opts: { progress?: boolean } = {},
): Promise<EvalResult> {
  const src = await openSplit(cfg, 'val');
  const { model } = modelFromCheckpoint(ckpt, req);
  try {
    const { inChans, imgSize, numClasses } = model.config;
    if (src.numClasses !== numClasses) {
      throw new Error(
        `--data-set ${cfg.data.kind} has ${src.numClasses} classes but the model of ${ckpt.spec} has ${numClasses} outputs (head.weight): evaluate it on the dataset it was trained for`,
      );
    }
    if (inChans !== 1 && inChans !== 3)
      throw new Error(`image data needs a model of 1 or 3 input channels, this one has ${inChans}`);
    const stats = inputNormalization(
      cfg.data.normalize ?? {},
      ckpt.facts,
      inChans,
      cfg.data.kind,
      `the checkpoint ${ckpt.spec}`,
    );
    const loader = await evalLoader(cfg, src, imgSize, inChans as Channels, cfg.batchSize, { stats });
    const bar = (opts.progress ?? true) ? createProgress('eval', loader.numBatches) : null;
    const amp = ampFromFlag(cfg.amp);
    const r = await evaluate(model, loader, { onBatch: (done) => bar?.update(done, {}), amp });
    bar?.stop();
    return r;
  } finally {
    model.dispose();
  }
}

export function printEval(r: EvalResult, json: boolean): void {
  if (json)
    process.stdout.write(
      `${JSON.stringify({ acc1: r.acc1, acc5: r.acc5, loss: r.loss, images: r.images })}\n`,
    );
  else
    process.stdout.write(
      `* Acc@1 ${r.acc1.toFixed(3)} Acc@5 ${r.acc5.toFixed(3)} loss ${r.loss.toFixed(3)} (${r.images} images)\n`,
    );
}

interface EvalFlags extends ModelFlags, InputFlags {
  resume: string;
  dataSet?: TrainConfig['data']['kind'];
  dataPath?: string;
  inputSize?: number;
  inatCategory?: TrainConfig['data']['inatCategory'];
  batchSize: number;
  numWorkers: number;
  json?: boolean;
  progress: boolean;
  amp?: boolean;
}

export function evalCommand(): Command {
  const cmd = new Command('eval').description('evaluate a checkpoint: top-1, top-5 and loss');
  addModelFlags(cmd)
    .requiredOption('--resume <ckpt>', 'checkpoint: lape or reference .pth, .safetensors, or an https URL')
    .option(
      '--data-set <name>',
      "fashion-mnist, mnist, cifar10, cifar100, image-folder, inat2018, inat2019 (default: the checkpoint's, else image-folder)",
      dataSet,
    )
    .option('--data-path <dir>', 'dataset folder')
    .option('--input-size <n>', 'image side (same as --img-size)', int('--input-size', 1))
    .addOption(
      new Option(
        '--inat-category <level>',
        'iNaturalist taxonomy level of the classes (default: name)',
      ).choices(INAT_CATEGORIES),
    )
    .option('--batch-size <n>', 'batch size', int('--batch-size', 1), 128)
    .option('--num-workers <n>', 'data worker threads', int('--num-workers', 0), 2)
    .option('--json', 'print one JSON object with acc1, acc5, loss, images')
    .option('--amp', AMP_HELP)
    .option('--no-progress', 'no progress bar')
    .action(async (f: EvalFlags) => {
      warnAboutWorkers(f.numWorkers);
      const d = defaultTrainConfig();
      const ckpt = await openCheckpointForCli(f.resume, f.progress && !f.json);
      const req = modelRequest(f);
      if (f.inputSize !== undefined && req.overrides.imgSize === undefined)
        req.overrides.imgSize = f.inputSize;
      const cfg: TrainConfig = {
        ...d,
        batchSize: f.batchSize,
        data: {
          kind: f.dataSet ?? storedDataset(ckpt.facts) ?? 'image-folder',
          path: f.dataPath,
          skipBadImages: false,
          workers: f.numWorkers,
          inatCategory: f.inatCategory,
          normalize: normalizationOverride(f),
        },
        amp: f.amp ?? false,
      };
      printEval(
        await evaluateCheckpoint(cfg, ckpt, req, { progress: f.progress && !f.json }),
        f.json ?? false,
      );
    });
  return cmd;
}
