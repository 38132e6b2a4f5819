/** A tiny real image-folder dataset written with sharp, and a fast training config for tests. */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { defaultTrainConfig, type TrainConfig } from '../../src/train/config.js';

/** `classes` folders of `perClass` 16x16 PNGs whose pattern depends on the class (learnable). */
export async function makeImageFolder(classes = 3, perClass = 12): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'lape-data-'));
  for (const split of ['train', 'val']) {
    for (let c = 0; c < classes; c++) {
      const dir = join(root, split, `class${c}`);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < perClass; i++) {
        const px = Buffer.alloc(16 * 16 * 3);
        for (let y = 0; y < 16; y++) {
          for (let x = 0; x < 16; x++) {
            const on = c === 0 ? x < 8 : c === 1 ? y < 8 : (x + y) % 4 < 2;
            const v = (on ? 200 : 40) + ((i * 7 + x * 3 + y * 5) % 30);
            px.fill(v, (y * 16 + x) * 3, (y * 16 + x) * 3 + 3);
          }
        }
        await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
          .png()
          .toFile(join(dir, `img${i}.png`));
      }
    }
  }
  return root;
}

export function tinyConfig(
  dataPath: string,
  outputDir: string | null,
  overrides: Partial<TrainConfig> = {},
): TrainConfig {
  const d = defaultTrainConfig();
  return {
    ...d,
    model: 'lape_tiny',
    modelOverrides: { join: 'LaPE', dropPathRate: 0.1, attnDropRate: 0.1 },
    seed: 3,
    data: { kind: 'image-folder', path: dataPath, skipBadImages: false, workers: 0 },
    batchSize: 8,
    epochs: 3,
    schedule: { warmupEpochs: 1, warmupLr: 1e-4, minLr: 1e-5 },
    optimizer: { kind: 'adamw', lr: 2e-3, weightDecay: 0.05, eps: 1e-8, betas: [0.9, 0.999] },
    unscaleLr: true,
    mixup: { mixup: 0.8, cutmix: 1.0, prob: 1, switchProb: 0.5 },
    augment: { ...d.augment, repeatedAug: false },
    ema: { decay: 0.9 },
    outputDir,
    ...overrides,
  };
}
