/**
 * `lape predict`: logits of a checkpoint on an `.npy` batch (float32 N x C x H x W, normalized) or on
 * image files (the model's eval transform), written as float32 `.npy`; prints the top-5 per image.
 */
import { Command } from 'commander';
import { extname } from 'node:path';
import { noGrad } from '../autograd/tape.js';
import { decodeImage } from '../data/image_folder.js';
import type { Channels } from '../data/image.js';
import { datasetStats } from '../data/stats.js';
import { compileTransform } from '../data/transforms/pipeline.js';
import { Rng } from '../tensor/random.js';
import { fromFloat32, toFloat32 } from '../io/host_tensor.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { readStateDict } from '../io/pth.js';
import { createModel } from '../models/registry.js';
import { loadWeights } from '../models/weights.js';
import { autocast } from '../ops/autocast.js';
import { tensor } from '../ops/creation.js';
import { softmax } from '../ops/softmax.js';
import { tidy } from '../tensor/memory.js';
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

async function imagesToBatch(
  paths: string[],
  size: number,
  channels: Channels,
  kind: PredictFlags['dataSet'],
): Promise<Float32Array> {
  const transform = compileTransform({
    kind: 'eval',
    size,
    channels,
    interpolation: 'bicubic',
    resize: size > 32 ? { kind: 'center-crop', cropPct: 0.875 } : { kind: 'resize' },
    normalize: datasetStats(kind),
  });
  const out = new Float32Array(paths.length * transform.sampleLength);
  for (const [i, p] of paths.entries()) {
    const img = await decodeImage(p, null);
    transform.apply(img, Rng.derive(0, 0, 0, 0), out, i * transform.sampleLength);
  }
  return out;
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
        data = await imagesToBatch(f.input, imgSize, inChans as Channels, f.dataSet);
        n = f.input.length;
      }
      const x = tensor(data, [n, inChans, imgSize, imgSize]);
      const logits = noGrad(() =>
        tidy(() => autocast(() => Float32Array.from(model.forward(x).logits.data), { enabled: amp })),
      );
      writeNpy(f.output, fromFloat32([n, numClasses], logits));
      if (!isNpy) {
        const probs = noGrad(() =>
          tidy(() => Float32Array.from(softmax(tensor(logits, [n, numClasses])).data)),
        );
        f.input.forEach((p, i) => {
          const row = [...probs.subarray(i * numClasses, (i + 1) * numClasses)].map(
            (v, c) => [c, v] as const,
          );
          row.sort((a, b) => b[1] - a[1]);
          const top = row.slice(0, 5).map(([c, v]) => `${c}:${(100 * v).toFixed(1)}%`);
          process.stdout.write(`${p}  ${top.join('  ')}\n`);
        });
      }
      process.stderr.write(`wrote ${f.output} (${n} x ${numClasses} logits)\n`);
    });
  return cmd;
}
