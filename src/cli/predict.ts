/**
 * `lape predict`: logits of a checkpoint on an `.npy` batch (float32 N x C x H x W, normalized) or on
 * image files (the model's eval transform), written as float32 `.npy`; prints the top-5 per image.
 */
import { Command } from 'commander';
import { extname } from 'node:path';
import type { Channels } from '../data/image.js';
import { fromFloat32, toFloat32 } from '../io/host_tensor.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { readStateDict } from '../io/pth.js';
import { loadImages, predict, topClasses } from '../infer/predict.js';
import { createModel } from '../models/registry.js';
import { loadWeights } from '../models/weights.js';
import {
  addModelOptions,
  AMP_HELP,
  ampFromFlag,
  dataSet,
  modelOverrides,
  type ModelFlags,
} from './options.js';

interface PredictFlags extends ModelFlags {
  resume: string;
  input: string[];
  output: string;
  dataSet: 'fashion-mnist' | 'mnist' | 'cifar10' | 'cifar100' | 'image-folder';
  amp?: boolean;
}

export function predictCommand(): Command {
  const cmd = new Command('predict').description(
    'write the logits of a checkpoint on an .npy batch or image files',
  );
  addModelOptions(cmd)
    .requiredOption('--resume <ckpt>', 'checkpoint (.pth from lape or the reference)')
    .requiredOption('--input <files...>', 'an .npy batch (float32 N x C x H x W, normalized) or image files')
    .requiredOption('--output <file.npy>', 'where the float32 N x classes logits go')
    .option('--data-set <name>', 'normalization statistics for image inputs', dataSet, 'image-folder')
    .option('--amp', AMP_HELP)
    .action(async (f: PredictFlags) => {
      const amp = ampFromFlag(f.amp);
      const { stateDict } = readStateDict(f.resume);
      const overrides = modelOverrides(f);
      const head = stateDict.get('head.weight');
      if (overrides.numClasses === undefined && head) overrides.numClasses = head.shape[0];
      const model = createModel(f.model, overrides);
      loadWeights(model, stateDict, { strict: true, source: f.resume });
      model.eval();
      const { inChans, imgSize, numClasses } = model.config;
      const isNpy = f.input.length === 1 && extname(f.input[0]).toLowerCase() === '.npy';
      let data: Float32Array;
      let n: number;
      if (isNpy) {
        const t = readNpy(f.input[0]);
        const want = `N x ${inChans} x ${imgSize} x ${imgSize}`;
        if (
          t.shape.length !== 4 ||
          t.shape[1] !== inChans ||
          t.shape[2] !== imgSize ||
          t.shape[3] !== imgSize
        ) {
          throw new Error(
            `${f.input[0]}: shape [${t.shape.join(', ')}] does not match the model input ${want}`,
          );
        }
        data = toFloat32(t);
        n = t.shape[0];
      } else {
        data = await loadImages(f.input, { imgSize, inChans: inChans as Channels, normalize: f.dataSet });
        n = f.input.length;
      }
      const logits = predict(model, data, { amp });
      writeNpy(f.output, fromFloat32([n, numClasses], logits));
      if (!isNpy) {
        topClasses(logits, numClasses, 5).forEach((top, i) => {
          const cells = top.map(({ index, probability }) => `${index}:${(100 * probability).toFixed(1)}%`);
          process.stdout.write(`${f.input[i]}  ${cells.join('  ')}\n`);
        });
      }
      process.stderr.write(`wrote ${f.output} (${n} x ${numClasses} logits)\n`);
    });
  return cmd;
}
