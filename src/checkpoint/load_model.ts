/**
 * Building the model a checkpoint holds: resolve its config (model_config.ts), create it, and load its
 * weights strictly, so anything that still does not fit is reported key by key.
 */
import { createModel } from '../models/registry.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { describeReport, loadWeights } from '../models/weights.js';
import { resolveModel, type ModelRequest, type ResolvedModel } from './model_config.js';
import type { Checkpoint } from './read.js';

export interface LoadedModel {
  model: VisionTransformer;
  resolved: ResolvedModel;
}

/** A one-line summary of a resolved model: "deit_tiny_patch16_224 (pe learnable, join LaPE, 224 px, 1000 classes)". */
export function describeResolved(r: ResolvedModel): string {
  const c = r.config;
  const pe =
    c.rpe.kind === '2D'
      ? c.pe.kind === 'none'
        ? `2D_RPE (${c.rpe.join})`
        : `${c.pe.kind} + 2D_RPE (${c.rpe.join})`
      : c.pe.kind;
  return `${r.name} (pe ${pe}, join ${c.join}, ${c.inChans}x${c.imgSize}x${c.imgSize}, ${c.numClasses} classes)`;
}

export function modelFromCheckpoint(
  ckpt: Checkpoint,
  req: ModelRequest,
  opts: { defaultModel?: string; seed?: number } = {},
): LoadedModel {
  const resolved = resolveModel(
    req,
    { label: ckpt.spec, stateDict: ckpt.stateDict, facts: ckpt.facts },
    opts,
  );
  const model = createModel(resolved.name, resolved.overrides, { seed: opts.seed });
  const report = loadWeights(model, ckpt.stateDict, { strict: false });
  if (report.missing.length || report.unexpected.length || report.mismatched.length) {
    model.dispose();
    throw new Error(
      `${ckpt.spec} does not match the model ${describeResolved(resolved)}: ${describeReport(report)}. Pass the --model/--pe/--join-type/... the checkpoint was trained with.`,
    );
  }
  return { model, resolved };
}
