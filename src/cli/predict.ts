/**
 * `lape predict`: logits of a checkpoint on an `.npy` batch (float32 N x C x H x W, normalized) or on
 * image files (the model's eval transform, with the statistics it was trained with), written as
 * float32 `.npy`; prints the top-5 per image, by class name when the checkpoint or dataset knows them.
 */
import { Command } from 'commander';
import { extname } from 'node:path';
import { noGrad } from '../autograd/tape.js';
import { modelFromCheckpoint } from '../checkpoint/load_model.js';
import { inputNormalization, storedClassNames, storedDataset } from '../checkpoint/input.js';
import { FASHION_MNIST_CLASSES, MNIST_CLASSES, type DatasetKind } from '../data/datasets.js';
import { decodeImage } from '../data/image_folder.js';
import type { Channels } from '../data/image.js';
import type { NormalizationStats } from '../data/stats.js';
import { compileTransform } from '../data/transforms/pipeline.js';
import { Rng } from '../tensor/random.js';
import { fromFloat32, toFloat32 } from '../io/host_tensor.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { autocast } from '../ops/autocast.js';
import { tensor } from '../ops/creation.js';
import { softmax } from '../ops/softmax.js';
import { tidy } from '../tensor/memory.js';
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

async function imagesToBatch(
  paths: string[],
  size: number,
  channels: Channels,
  normalize: NormalizationStats,
): Promise<Float32Array> {
  const transform = compileTransform({
    kind: 'eval',
    size,
    channels,
    interpolation: 'bicubic',
    resize: size > 32 ? { kind: 'center-crop', cropPct: 0.875 } : { kind: 'resize' },
    normalize,
  });
  const out = new Float32Array(paths.length * transform.sampleLength);
  for (const [i, p] of paths.entries()) {
    const img = await decodeImage(p, null);
    transform.apply(img, Rng.derive(0, 0, 0, 0), out, i * transform.sampleLength);
  }
  return out;
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
        const stats = inputNormalization(
          normalizationOverride(f),
          ckpt.facts,
          inChans,
          f.dataSet,
          `the checkpoint ${ckpt.spec}`,
        );
        data = await imagesToBatch(f.input, imgSize, inChans, stats);
        n = f.input.length;
      }
      const x = tensor(data, [n, inChans, imgSize, imgSize]);
      const logits = noGrad(() =>
        tidy(() => autocast(() => Float32Array.from(model.forward(x).logits.data), { enabled: amp })),
      );
      writeNpy(f.output, fromFloat32([n, numClasses], logits));
      if (!isNpy) {
        const names = storedClassNames(ckpt.facts) ?? knownClassNames(f.dataSet ?? storedDataset(ckpt.facts));
        const label = (c: number): string =>
          names && names.length === numClasses ? `${names[c]} (${c})` : String(c);
        const probs = noGrad(() =>
          tidy(() => Float32Array.from(softmax(tensor(logits, [n, numClasses])).data)),
        );
        f.input.forEach((p, i) => {
          const row = [...probs.subarray(i * numClasses, (i + 1) * numClasses)].map(
            (v, c) => [c, v] as const,
          );
          row.sort((a, b) => b[1] - a[1]);
          const top = row.slice(0, 5).map(([c, v]) => `${label(c)}: ${(100 * v).toFixed(1)}%`);
          process.stdout.write(`${p}  ${top.join('  ')}\n`);
        });
      }
      model.dispose();
      process.stderr.write(`wrote ${f.output} (${n} x ${numClasses} logits)\n`);
    });
  return cmd;
}
