/**
 * Building the model a checkpoint holds: its variant and PE/join come from the flags, else from the
 * checkpoint's own `args` (lape writes its config there; the reference writes `model`, `pe`,
 * `join_type`), and the class count from its head. Loading is strict, so a model/PE/join that does not
 * match the checkpoint is reported by key.
 */
import { readStateDict } from '../io/pth.js';
import { PyObject, type PyValue } from '../io/pickle.js';
import { MODEL_VARIANTS, createModel, type ModelOverrides } from '../models/registry.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { describeReport, loadWeights } from '../models/weights.js';

/** The reference visualizer's --model_name values (deit_t_LaPE, deit_s_distill_basic, ...). */
const REFERENCE_NAMES: Record<string, string> = {
  deit_t: 'deit_tiny_patch16_224',
  deit_s: 'deit_small_patch16_224',
  deit_b: 'deit_base_patch16_224',
  deit_t_distill: 'deit_tiny_distilled_patch16_224',
  deit_s_distill: 'deit_small_distilled_patch16_224',
  deit_b_distill: 'deit_base_distilled_patch16_224',
};

/** Resolves a model name, accepting the reference visualizer's short names (the join suffix is a hint). */
export function resolveModelName(name: string): { model: string; join?: ModelOverrides['join'] } {
  if (name in MODEL_VARIANTS) return { model: name };
  const m = /^(deit_[tsb](?:_distill)?)_(basic|LaPE|share)$/.exec(name);
  if (m && REFERENCE_NAMES[m[1]])
    return { model: REFERENCE_NAMES[m[1]], join: m[2] as ModelOverrides['join'] };
  throw new Error(`unknown model '${name}'; available: ${Object.keys(MODEL_VARIANTS).join(', ')}`);
}

function argsOf(raw: PyValue): Record<string, PyValue> | null {
  if (!(raw instanceof Map)) return null;
  const args = raw.get('args');
  return args instanceof PyObject ? args.attrs : null;
}

/** What the checkpoint says about its own model, if anything. */
export function checkpointModelSpec(raw: PyValue): { model?: string; overrides: ModelOverrides } {
  const args = argsOf(raw);
  if (!args) return { overrides: {} };
  const lape = args.lape_config;
  if (typeof lape === 'string') {
    const cfg = JSON.parse(lape) as {
      model: string;
      modelOverrides: ModelOverrides;
      data?: { inputSize?: number };
    };
    const overrides = { ...cfg.modelOverrides };
    if (cfg.data?.inputSize !== undefined) overrides.imgSize = cfg.data.inputSize;
    return { model: cfg.model, overrides };
  }
  const str = (v: PyValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
  return {
    model: str(args.model),
    overrides: {
      pe: str(args.pe) as ModelOverrides['pe'],
      join: str(args.join_type) as ModelOverrides['join'],
    },
  };
}

export function modelFromCheckpoint(
  path: string,
  model: string | undefined,
  flags: ModelOverrides,
): { model: VisionTransformer; name: string } {
  const { stateDict, raw } = readStateDict(path);
  const spec = checkpointModelSpec(raw);
  const requested = model ?? spec.model;
  if (!requested)
    throw new Error(`cannot tell which model ${path} holds: pass --model (see \`lape models\`)`);
  const { model: name, join } = resolveModelName(requested);
  const overrides: ModelOverrides = { ...spec.overrides };
  if (join) overrides.join = join;
  for (const [k, v] of Object.entries(flags))
    if (v !== undefined) (overrides as Record<string, unknown>)[k] = v;
  const head = stateDict.get('head.weight');
  if (overrides.numClasses === undefined && head) overrides.numClasses = head.shape[0];
  const m = createModel(name, overrides);
  const report = loadWeights(m, stateDict, { strict: false });
  if (report.missing.length || report.unexpected.length || report.mismatched.length) {
    m.dispose();
    throw new Error(
      `${path} does not match model ${name} (pe ${overrides.pe ?? 'learnable'}, join ${overrides.join ?? 'basic'}): ${describeReport(report)}. Pass the --model/--pe/--join-type the checkpoint was trained with.`,
    );
  }
  return { model: m.eval(), name };
}
