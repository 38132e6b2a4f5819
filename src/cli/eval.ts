/** `lape eval`: top-1, top-5 and loss of a checkpoint (lape's or the reference's) on a validation split. */
import { Command } from 'commander';
import { readStateDict } from '../io/pth.js';
import { createModel } from '../models/registry.js';
import { loadWeights } from '../models/weights.js';
import type { Channels } from '../data/image.js';
import { defaultTrainConfig, type TrainConfig } from '../train/config.js';
import { evalLoader, openSplit } from '../train/data.js';
import { evaluate, type EvalResult } from '../train/evaluate.js';
import { createProgress } from '../train/progress.js';
import {
  addModelOptions,
  AMP_HELP,
  ampFromFlag,
  dataSet,
  int,
  modelOverrides,
  type ModelFlags,
} from './options.js';

export async function evaluateCheckpoint(
  cfg: TrainConfig,
  ckpt: string,
  opts: { progress?: boolean } = {},
): Promise<EvalResult> {
  const src = await openSplit(cfg, 'val');
  const overrides = { ...cfg.modelOverrides, numClasses: cfg.modelOverrides.numClasses ?? src.numClasses };
  if (cfg.data.inputSize !== undefined) overrides.imgSize = cfg.data.inputSize;
  const model = createModel(cfg.model, overrides);
  const { stateDict } = readStateDict(ckpt);
  loadWeights(model, stateDict, { strict: true, source: ckpt });
  const { inChans, imgSize } = model.config;
  const loader = await evalLoader(cfg, src, imgSize, inChans as Channels, cfg.batchSize);
  const amp = ampFromFlag(cfg.amp);
  const bar = (opts.progress ?? true) ? createProgress('eval', loader.numBatches) : null;
  const r = await evaluate(model, loader, { onBatch: (done) => bar?.update(done, {}), amp });
  bar?.stop();
  return r;
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

interface EvalFlags extends ModelFlags {
  resume: string;
  dataSet: TrainConfig['data']['kind'];
  dataPath?: string;
  inputSize?: number;
  batchSize: number;
  numWorkers: number;
  json?: boolean;
  progress: boolean;
  amp?: boolean;
}

export function evalCommand(): Command {
  const cmd = new Command('eval').description('evaluate a checkpoint: top-1, top-5 and loss');
  addModelOptions(cmd)
    .requiredOption('--resume <ckpt>', 'checkpoint (.pth from lape or the reference)')
    .option(
      '--data-set <name>',
      'fashion-mnist, mnist, cifar10, cifar100, image-folder',
      dataSet,
      'image-folder',
    )
    .option('--data-path <dir>', 'dataset folder')
    .option('--input-size <n>', 'image side', int('--input-size', 1))
    .option('--batch-size <n>', 'batch size', int('--batch-size', 1), 128)
    .option('--num-workers <n>', 'data worker threads', int('--num-workers', 0), 2)
    .option('--json', 'print one JSON object with acc1, acc5, loss, images')
    .option('--amp', AMP_HELP)
    .option('--no-progress', 'no progress bar')
    .action(async (f: EvalFlags) => {
      const d = defaultTrainConfig();
      const cfg: TrainConfig = {
        ...d,
        model: f.model,
        modelOverrides: modelOverrides(f),
        batchSize: f.batchSize,
        data: {
          kind: f.dataSet,
          path: f.dataPath,
          inputSize: f.inputSize,
          skipBadImages: false,
          workers: f.numWorkers,
        },
        amp: f.amp ?? false,
      };
      printEval(
        await evaluateCheckpoint(cfg, f.resume, { progress: f.progress && !f.json }),
        f.json ?? false,
      );
    });
  return cmd;
}
