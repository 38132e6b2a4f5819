/**
 * What every rank of a data-parallel run must agree on, as named hashes exchanged at start-up: a rank
 * started with other model flags, another recipe, other data or other weights (a different --resume
 * file on another host) would silently train something else, so the run stops with one line instead.
 * Paths, worker counts and the output folder may differ between hosts and are left out.
 */
import { createHash } from 'node:crypto';
import type { VisionTransformer } from '../models/vision_transformer.js';
import type { TrainingState } from '../train/checkpoint.js';
import type { TrainConfig } from '../train/config.js';
import { type Fingerprint, hashWeights } from './data_parallel.js';

const hashJson = (v: unknown): string =>
  createHash('sha1').update(JSON.stringify(v)).digest('hex').slice(0, 16);

export interface StartupFacts {
  cfg: TrainConfig;
  model: VisionTransformer;
  trainImages: number;
  valImages: number;
  numClasses: number;
  state: TrainingState;
}

/** Config keys that may differ between hosts (paths, workers) or are compared as 'model flags'. */
const HOST_LOCAL = ['data', 'outputDir', 'resume', 'finetune', 'model', 'modelOverrides'] as const;

/** Sections in the order a mismatch is reported. */
export function startupFingerprint(f: StartupFacts): Fingerprint {
  const { cfg, model, state } = f;
  // Everything but what may differ per host; new TrainConfig fields are compared by default.
  const recipe: Record<string, unknown> = {
    ...cfg,
    dataSet: cfg.data.kind,
    teacher: cfg.teacher?.model ?? null,
  };
  for (const key of HOST_LOCAL) delete recipe[key];
  return {
    'model flags': hashJson({ model: cfg.model, overrides: cfg.modelOverrides, config: model.config }),
    'training flags': hashJson(recipe),
    'dataset size': hashJson({ train: f.trainImages, val: f.valImages, classes: f.numClasses }),
    'resume point': hashJson({ epoch: state.epoch, batches: state.batchesDone, rng: state.rng }),
    'initial weights': hashWeights(model),
  };
}
