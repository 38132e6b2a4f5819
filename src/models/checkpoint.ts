/**
 * Model checkpoints for library users: `saveCheckpoint` writes the weights in the reference's layout
 * (`{'model': state_dict, 'args': Namespace}`, loadable by `torch.load` and by the reference code) with
 * the model's config, and `loadCheckpoint` builds the model any checkpoint holds (lape's or the
 * reference's), as every `lape` command does.
 */
import { modelFromCheckpoint } from '../checkpoint/load_model.js';
import { readCheckpointFile } from '../checkpoint/read.js';
import { PyObject, type PyValue } from '../io/pickle.js';
import { writePth } from '../io/pth.js';
import type { VitConfig } from './config.js';
import { MODEL_VARIANTS, resolveConfig, type ModelOverrides } from './registry.js';
import type { VisionTransformer } from './vision_transformer.js';
import { exportWeights } from './weights.js';

/** The flat overrides that rebuild `cfg` from any variant (the inverse of `configFromFlat`). */
export function flatOverrides(cfg: VitConfig): ModelOverrides {
  const rpeOnly = cfg.rpe.kind === '2D' && cfg.pe.kind === 'none';
  return {
    imgSize: cfg.imgSize,
    patchSize: cfg.tokenizer.kind === 'patch' ? cfg.tokenizer.patchSize : undefined,
    inChans: cfg.inChans,
    numClasses: cfg.numClasses,
    embedDim: cfg.embedDim,
    depth: cfg.depth,
    numHeads: cfg.numHeads,
    mlpRatio: cfg.mlpRatio,
    qkvBias: cfg.qkvBias,
    dropRate: cfg.dropRate,
    attnDropRate: cfg.attnDropRate,
    dropPathRate: cfg.dropPathRate,
    normEps: cfg.normEps,
    pe: rpeOnly ? '2D_RPE' : cfg.pe.kind,
    join: rpeOnly && cfg.rpe.kind === '2D' ? cfg.rpe.join : cfg.join,
    rpe: cfg.rpe.kind === '2D' && !rpeOnly ? cfg.rpe.join : 'none',
    peInitStd: cfg.pe.kind === 'learnable' ? cfg.pe.initStd : undefined,
    distilled: cfg.head.kind === 'distilled',
    tokenizer: cfg.tokenizer.kind,
    pooling: cfg.head.kind === 'sequence-pool' ? 'seq' : 'cls',
    blockStyle: cfg.blockStyle,
  };
}

/** The registry variant closest to `cfg` (input, tokenizer, head, then size), for the checkpoint's `model` name. */
function variantOf(cfg: VitConfig): string {
  const patch = (c: VitConfig): number | null =>
    c.tokenizer.kind === 'patch' ? c.tokenizer.patchSize : null;
  const score = (v: VitConfig): number =>
    [
      v.imgSize === cfg.imgSize && v.inChans === cfg.inChans,
      v.tokenizer.kind === cfg.tokenizer.kind && patch(v) === patch(cfg),
      v.head.kind === cfg.head.kind,
      v.embedDim === cfg.embedDim && v.depth === cfg.depth && v.numHeads === cfg.numHeads,
    ].reduce((n, match, i) => n + (match ? 2 ** (3 - i) : 0), 0);
  let best = 'lape_tiny';
  let bestScore = -1;
  for (const name of Object.keys(MODEL_VARIANTS)) {
    const sc = score(resolveConfig(name));
    if (sc > bestScore) [best, bestScore] = [name, sc];
  }
  return best;
}

export interface SaveCheckpointOptions {
  /** The variant name recorded in the checkpoint (default: the registry variant of the same size). */
  name?: string;
}

/**
 * Writes the model's weights as a PyTorch checkpoint, atomically: `torch.load(path)['model']` is the
 * reference's state dict, and `loadCheckpoint(path)` (or any `lape` command) rebuilds the model.
 */
export function saveCheckpoint(
  path: string,
  model: VisionTransformer,
  options: SaveCheckpointOptions = {},
): void {
  const name = options.name ?? variantOf(model.config);
  if (!(name in MODEL_VARIANTS))
    throw new Error(
      `saveCheckpoint: unknown model name '${name}'; available: ${Object.keys(MODEL_VARIANTS).join(', ')}`,
    );
  const overrides = flatOverrides(model.config);
  const args = new PyObject('argparse.Namespace', {
    model: name,
    pe: overrides.pe ?? null,
    join_type: overrides.join ?? null,
    nb_classes: model.config.numClasses,
    input_size: model.config.imgSize,
    lape_config: JSON.stringify({ model: name, modelOverrides: overrides }),
  });
  writePth(
    path,
    new Map<string, PyValue>([
      ['model', exportWeights(model)],
      ['args', args],
    ]),
  );
}

export interface LoadCheckpointOptions {
  /** The variant (see `listModels`); default: the one the checkpoint names. Required for reference checkpoints that do not say. */
  model?: string;
  /** Config overrides (PE, join, sizes) on top of what the checkpoint says. */
  overrides?: ModelOverrides;
}

/**
 * Builds the model a checkpoint holds and loads its weights strictly (a mismatch is reported key by
 * key). Works for checkpoints of `saveCheckpoint`, `lape train` and the reference code; the model is
 * returned in eval mode with the variant name it was built from.
 */
export function loadCheckpoint(
  path: string,
  options: LoadCheckpointOptions = {},
): { model: VisionTransformer; name: string } {
  const ckpt = readCheckpointFile(path);
  const { model, resolved } = modelFromCheckpoint(ckpt, {
    model: options.model,
    overrides: { ...(options.overrides ?? {}) },
  });
  model.eval();
  return { model, name: resolved.name };
}
