/**
 * `lape predict`: logits of a checkpoint on an `.npy` batch (float32 N x C x H x W, normalized) or on
 * image files (the model's eval transform, with the statistics it was trained with), written as
 * float32 `.npy`; prints the top-5 per image, by class name when the checkpoint or dataset knows them.
 */
import { Command } from 'commander';
import { extname } from 'node:path';
import { modelFromCheckpoint } from '../checkpoint/load_model.js';
import { inputNormalization, storedClassNames, storedDataset } from '../checkpoint/input.js';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES, type DatasetKind } from '../data/datasets.js';
import { fromFloat32, toFloat32 } from '../io/host_tensor.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { loadImages, predict, topClasses } from '../infer/predict.js';
import { openCheckpointForCli } from './checkpoint_model.js';
import { addModelFlags, modelRequest, normalizationOverride, type InputFlags } from './model_flags.js';
import { AMP_HELP, ampFromFlag, dataSet, type ModelFlags } from './options.js';

interface PredictFlags extends ModelFlags, InputFlags {
  resume: string;
  input: string[];
  output: string;
  dataSet?: DatasetKind;
  progress: boolean;
  amp?: boolean;
}

/** Class names of a dataset whose classes are fixed (others come from the data folder). */
function knownClassNames(kind: DatasetKind | undefined): readonly string[] | undefined {
  switch (kind) {
    case 'fashion-mnist':
      return FASHION_MNIST_CLASSES;
    case 'mnist':
      return MNIST_CLASSES;
    default:
      return undefined;
  }
}

export function predictCommand(): Command {
  const cmd = new Command('predict').description(
    'write the logits of a checkpoint on an .npy batch or image files',
  );
  addModelFlags(cmd)
    .requiredOption('--resume <ckpt>', 'checkpoint: lape or reference .pth, .safetensors, or an https URL')
    .requiredOption('--input <files...>', 'an .npy batch (float32 N x C x H x W, normalized) or image files')
    .requiredOption('--output <file.npy>', 'where the float32 N x classes logits go')
    .option(
      '--data-set <name>',
      "normalization statistics and class names for image inputs (default: the checkpoint's)",
      dataSet,
    )
    .option('--amp', AMP_HELP)
    .option('--no-progress', 'no download progress bar')
    .action(async (f: PredictFlags) => {
      const amp = ampFromFlag(f.amp);
      const ckpt = await openCheckpointForCli(f.resume, f.progress);
      const { model } = modelFromCheckpoint(ckpt, modelRequest(f));
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
        if (inChans !== 1 && inChans !== 3)
          throw new Error(`image inputs need a model of 1 or 3 input channels, this one has ${inChans}`);
        const normalize = inputNormalization(
          normalizationOverride(f),
          ckpt.facts,
          inChans,
          f.dataSet,
          `the checkpoint ${ckpt.spec}`,
        );
        data = await loadImages(f.input, { imgSize, inChans, normalize });
        n = f.input.length;
      }
      const logits = predict(model, data, { amp });
      writeNpy(f.output, fromFloat32([n, numClasses], logits));
      if (!isNpy) {
        const names = storedClassNames(ckpt.facts) ?? knownClassNames(f.dataSet ?? storedDataset(ckpt.facts));
        const label = (c: number): string =>
          names && names.length === numClasses ? `${names[c]} (${c})` : String(c);
        topClasses(logits, numClasses, 5).forEach((top, i) => {
          const cells = top.map(
            ({ index, probability }) => `${label(index)}: ${(100 * probability).toFixed(1)}%`,
          );
          process.stdout.write(`${f.input[i]}  ${cells.join('  ')}\n`);
        });
      }
      model.dispose();
      process.stderr.write(`wrote ${f.output} (${n} x ${numClasses} logits)\n`);
    });
  return cmd;
}
