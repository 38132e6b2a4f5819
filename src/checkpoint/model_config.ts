/**
 * The one model-config resolution every command uses. Each field of the model comes from the first of:
 *
 *   1. an explicit flag (`--model`, `--pe`, `--join-type`, `--img-size`, `--nb-classes`, ...);
 *   2. the checkpoint's lape config (`args.lape_config`, written by `lape train`);
 *   3. the reference's `args` Namespace in the checkpoint (`model`, `input_size`, `nb_classes`, `pe`,
 *      `join_type`, `drop`, `drop_path`);
 *   4. what the state dict's keys and shapes imply (infer.ts);
 *   5. the registry variant's own value.
 *
 * The variant is `--model`, else the lape config's or the args' `model`, else the registry variant
 * whose shapes match the state dict, else `defaultModel`. A field the checkpoint contradicts (an
 * explicit `--join-type basic` on a checkpoint with `pe_norm` keys, a `--model` of another width, ...)
 * is an error naming the flag and the keys that give it away; a field nothing determines (the head
 * count of an unknown shape) is an error naming the flag to add.
 */
import type { StateDict } from '../io/host_tensor.js';
import { gridSize, type VitConfig } from '../models/config.js';
import { MODEL_VARIANTS, modelNames, resolveConfig, type ModelOverrides } from '../models/registry.js';
import { modelFromArgs, type CheckpointFacts } from './facts.js';
import { inferFromStateDict, type InferredModel } from './infer.js';

/** Where a resolved value came from (for `lape ... --verbose`-style reports and messages). */
export type Origin = 'flag' | 'lape config' | 'reference args' | 'state dict' | 'variant';

export interface ModelRequest {
  /** `--model` (a registry variant, or a reference visualizer name such as `deit_t_LaPE`). */
  model?: string;
  /** The explicit flags; undefined fields were not given. */
  overrides: ModelOverrides;
}

/** The parts of a checkpoint the resolution reads. */
export interface CheckpointView {
  /** The name shown in messages (file name or URL). */
  label: string;
  stateDict: StateDict;
  facts: CheckpointFacts;
}

export interface ResolvedModel {
  /** The registry variant the model is built from. */
  name: string;
  /** Overrides on top of the variant (everything a flag, the checkpoint or its keys said). */
  overrides: ModelOverrides;
  /** Where the variant and each override came from. */
  origins: Partial<Record<'model' | keyof ModelOverrides, Origin>>;
  /** The complete config (`resolveConfig(name, overrides)`). */
  config: VitConfig;
}

/** The reference visualizer's --model_name values (deit_t_LaPE, deit_s_distill_basic, ...). */
const REFERENCE_NAMES: Record<string, string> = {
  deit_t: 'deit_tiny_patch16_224',
  deit_s: 'deit_small_patch16_224',
  deit_b: 'deit_base_patch16_224',
  deit_t_distill: 'deit_tiny_distilled_patch16_224',
  deit_s_distill: 'deit_small_distilled_patch16_224',
  deit_b_distill: 'deit_base_distilled_patch16_224',
};

/** A registry variant, or a reference visualizer name (whose join suffix is a join hint); null if neither. */
export function lookupModelName(name: string): { model: string; join?: ModelOverrides['join'] } | null {
  if (name in MODEL_VARIANTS) return { model: name };
  const m = /^(deit_[tsb](?:_distill)?)_(basic|LaPE|share)$/.exec(name);
  if (m && REFERENCE_NAMES[m[1]])
    return { model: REFERENCE_NAMES[m[1]], join: m[2] as ModelOverrides['join'] };
  return null;
}

/** The reference visualizer's name of a model (`deit_t_LaPE`), or `<variant>_<join>` for others. */
export function referenceModelName(variant: string, join: string): string {
  const short = Object.entries(REFERENCE_NAMES).find(([, v]) => v === variant)?.[0];
  return `${short ?? variant}_${join}`;
}

export function resolveModelName(name: string): { model: string; join?: ModelOverrides['join'] } {
  const found = lookupModelName(name);
  if (!found) throw new Error(`unknown model '${name}'; available: ${modelNames().join(', ')}`);
  return found;
}

/** The flag that sets each field, for messages. */
const FLAG: Record<keyof ModelOverrides, string> = {
  imgSize: '--img-size',
  patchSize: '--patch-size',
  inChans: '--in-chans',
  numClasses: '--nb-classes',
  embedDim: '--embed-dim',
  depth: '--depth',
  numHeads: '--num-heads',
  mlpRatio: '--mlp-ratio',
  qkvBias: '--qkv-bias / --no-qkv-bias',
  dropRate: '--drop',
  attnDropRate: '--attn-drop',
  dropPathRate: '--drop-path',
  normEps: '--model',
  pe: '--pe',
  join: '--join-type',
  rpe: '--rpe',
  peInitStd: '--pe-init-std',
  distilled: '--model',
  tokenizer: '--model',
  pooling: '--model',
  blockStyle: '--model',
};

/** Registry variants whose structure matches the inferred one; those of the same image size first. */
function matchingVariants(inf: InferredModel): string[] {
  const v = inf.values;
  const matches = modelNames().filter((name) => {
    const cfg = resolveConfig(name, {});
    const tokenizerOk =
      v.tokenizer === undefined ||
      (v.tokenizer === cfg.tokenizer.kind &&
        (cfg.tokenizer.kind !== 'patch' ||
          v.patchSize === undefined ||
          v.patchSize === cfg.tokenizer.patchSize));
    const headOk =
      (v.distilled === true) === (cfg.head.kind === 'distilled') &&
      (v.pooling === undefined || (v.pooling === 'seq') === (cfg.head.kind === 'sequence-pool'));
    return (
      tokenizerOk &&
      headOk &&
      (v.embedDim === undefined || v.embedDim === cfg.embedDim) &&
      (v.depth === undefined || v.depth === cfg.depth) &&
      (v.mlpRatio === undefined || Math.abs(v.mlpRatio - cfg.mlpRatio) < 1e-9) &&
      (v.qkvBias === undefined || v.qkvBias === cfg.qkvBias) &&
      (v.numHeads === undefined || v.numHeads === cfg.numHeads)
    );
  });
  const sameSize = (n: string): boolean =>
    v.imgSize === undefined || resolveConfig(n, {}).imgSize === v.imgSize;
  return [...matches.filter(sameSize), ...matches.filter((n) => !sameSize(n))];
}

function defined(o: ModelOverrides): ModelOverrides {
  const out: ModelOverrides = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** The key-visible class of a join: LaPE and LaPE-shared have pe_norm keys; unshare pos_embedN; the rest neither. */
const joinClass = (j: string): string =>
  j === 'LaPE' || j === 'LaPE-shared' ? 'pe_norm' : j === 'unshare' ? 'unshare' : 'plain';

/** What the config says in the terms the state dict can show. */
function visible(cfg: VitConfig): Record<string, string> {
  return {
    embedDim: String(cfg.embedDim),
    depth: String(cfg.depth),
    numHeads: String(cfg.numHeads),
    mlpRatio: String(cfg.mlpRatio),
    qkvBias: String(cfg.qkvBias),
    inChans: String(cfg.inChans),
    numClasses: String(cfg.numClasses),
    tokenizer: cfg.tokenizer.kind === 'patch' ? `patch ${cfg.tokenizer.patchSize}` : 'cct',
    head: cfg.head.kind,
    grid: String(gridSize(cfg)),
    absolutePe: cfg.pe.kind === 'none' ? 'none' : 'present',
    join: cfg.pe.kind === 'none' ? 'plain' : joinClass(cfg.join),
    rpe: cfg.rpe.kind === 'none' ? 'none' : cfg.rpe.join,
  };
}

function describeField(key: string, cfg: VitConfig): string {
  switch (key) {
    case 'absolutePe':
      return cfg.pe.kind === 'none' ? 'no absolute position embedding' : `an absolute PE (${cfg.pe.kind})`;
    case 'join':
      switch (cfg.pe.kind === 'none' ? 'plain' : joinClass(cfg.join)) {
        case 'pe_norm':
          return `per-block PE LayerNorms (join ${cfg.join})`;
        case 'unshare':
          return 'one PE table per block (join unshare)';
        default:
          return cfg.pe.kind === 'none'
            ? 'no PE to join'
            : `no per-block PE norms or tables (join ${cfg.join})`;
      }
    case 'rpe':
      return cfg.rpe.kind === 'none'
        ? 'no relative position bias'
        : `a 2-D relative position bias (${cfg.rpe.join})`;
    case 'grid':
      return `a ${gridSize(cfg)}x${gridSize(cfg)} patch grid (image ${cfg.imgSize})`;
    case 'tokenizer':
      return cfg.tokenizer.kind === 'patch' ? `patch size ${cfg.tokenizer.patchSize}` : 'the CCT tokenizer';
    case 'head':
      return `a ${cfg.head.kind} head`;
    default:
      return `${key} ${(cfg as unknown as Record<string, unknown>)[key] as string}`;
  }
}

/** The flag and evidence key for each visible field. */
function flagFor(key: string): string {
  switch (key) {
    case 'absolutePe':
      return '--pe';
    case 'join':
      return '--join-type';
    case 'rpe':
      return '--pe / --rpe';
    case 'grid':
      return '--img-size (--input-size)';
    case 'tokenizer':
      return '--patch-size';
    case 'head':
      return '--model';
    default:
      return FLAG[key as keyof ModelOverrides];
  }
}

function evidenceFor(key: string, inf: InferredModel): string | undefined {
  const e = inf.evidence;
  switch (key) {
    case 'absolutePe':
      return e.pe;
    case 'join':
      return e.join;
    case 'rpe':
      return e.rpe ?? e.join;
    case 'grid':
      return e.imgSize;
    case 'tokenizer':
      return e.tokenizer;
    case 'head':
      return e.distilled ?? e.pooling;
    default:
      return e[key as keyof ModelOverrides];
  }
}

/** Resolves the model of `ckpt` (or of the flags alone when there is no checkpoint). */
export function resolveModel(
  req: ModelRequest,
  ckpt: CheckpointView | null,
  opts: { defaultModel?: string } = {},
): ResolvedModel {
  const flags = defined(req.overrides);
  const origins: ResolvedModel['origins'] = {};
  const inferred = ckpt ? inferFromStateDict(ckpt.stateDict) : null;
  const lape = ckpt?.facts.lapeConfig ?? null;
  const args = modelFromArgs(ckpt?.facts.args ?? null);

  // The variant.
  let name: string | undefined;
  const hinted = req.model ? resolveModelName(req.model) : null;
  if (hinted) {
    name = hinted.model;
    origins.model = 'flag';
    if (hinted.join && flags.join === undefined) {
      flags.join = hinted.join;
      origins.join = 'flag';
    }
  } else if (lape?.model && lookupModelName(lape.model)) {
    name = (lookupModelName(lape.model) as { model: string }).model;
    origins.model = 'lape config';
  } else if (args.model && lookupModelName(args.model)) {
    name = (lookupModelName(args.model) as { model: string }).model;
    origins.model = 'reference args';
  } else if (inferred && inferred.values.embedDim !== undefined) {
    const matches = matchingVariants(inferred);
    if (matches.length > 0) {
      name = matches[0];
      origins.model = 'state dict';
    } else {
      // A shape no variant has: build it from the inferred structure on top of the closest family.
      name = inferred.values.tokenizer === 'cct' ? 'cct_7_3x1' : 'deit_tiny_patch16_224';
      origins.model = 'state dict';
      if (inferred.values.numHeads === undefined && flags.numHeads === undefined) {
        throw new Error(
          `cannot tell the number of attention heads of ${ckpt?.label ?? 'the checkpoint'} (embed dim ${inferred.values.embedDim}, depth ${inferred.values.depth ?? '?'}: no registry variant has this shape, and the weights do not show the head count): pass --num-heads`,
        );
      }
    }
  } else if (opts.defaultModel) {
    name = opts.defaultModel;
    origins.model = 'variant';
  }
  if (!name) {
    throw new Error(
      `cannot tell which model ${ckpt?.label ?? 'to build'} holds: pass --model (see \`lape models\`)${args.model ? ` (its args name '${args.model}', which lape does not have)` : ''}`,
    );
  }

  // The fields, in order of precedence.
  const overrides: ModelOverrides = {};
  const take = (values: ModelOverrides, origin: Origin, keys?: (keyof ModelOverrides)[]): void => {
    for (const [k, v] of Object.entries(defined(values)) as [keyof ModelOverrides, unknown][]) {
      if (keys && !keys.includes(k)) continue;
      if (overrides[k] !== undefined) continue;
      (overrides as Record<string, unknown>)[k] = v;
      origins[k] = origins[k] ?? origin;
    }
  };
  take(flags, 'flag');
  if (lape) {
    const lo: ModelOverrides = { ...(lape.modelOverrides ?? {}) };
    if (lape.data?.inputSize !== undefined) lo.imgSize = lape.data.inputSize;
    take(lo, 'lape config');
  }
  take(args.overrides, 'reference args');
  if (inferred) {
    // What a checkpoint may set on top of any variant; the structure only when nothing named a variant
    // (or the shape matched none) -- otherwise a differing structure is a contradiction, below.
    const adjustable: (keyof ModelOverrides)[] = ['imgSize', 'numClasses', 'inChans', 'pe', 'join', 'rpe'];
    take(inferred.values, 'state dict', origins.model === 'state dict' ? undefined : adjustable);
  }
  // pe 2D_RPE's join is basic/LN; an absolute PE with an RPE is spelled rpe. A join read from the
  // keys that does not fit a pe given above it is dropped: the contradiction is reported below.
  if (overrides.pe === '2D_RPE') delete overrides.rpe;
  if (origins.join === 'state dict' && origins.pe !== 'state dict') {
    const j = overrides.join;
    const fits = overrides.pe === '2D_RPE' ? j === 'basic' || j === 'LN' : j !== 'LN';
    if (!fits) {
      delete overrides.join;
      delete origins.join;
    }
  }
  let config: VitConfig;
  try {
    config = resolveConfig(name, overrides);
  } catch (e) {
    throw new Error(`${ckpt ? `${ckpt.label}: ` : ''}${(e as Error).message}`);
  }

  if (ckpt && inferred) checkAgainstStateDict(ckpt.label, config, inferred, origins, name);
  return { name, overrides, origins, config };
}

/** Throws naming every field the state dict contradicts, its keys, and the flag to change. */
function checkAgainstStateDict(
  label: string,
  config: VitConfig,
  inferred: InferredModel,
  origins: ResolvedModel['origins'],
  name: string,
): void {
  let seen: VitConfig;
  try {
    const base = origins.model === 'state dict' ? name : 'deit_tiny_patch16_224';
    const inf = { ...inferred.values };
    if (inf.pe === '2D_RPE') delete inf.rpe;
    seen = resolveConfig(base, inf);
  } catch {
    return; // an inconsistent checkpoint: the strict load reports it key by key
  }
  const want = visible(config);
  const have = visible(seen);
  const problems: string[] = [];
  for (const key of Object.keys(want)) {
    const evidence = evidenceFor(key, inferred);
    if (evidence === undefined || want[key] === have[key]) continue;
    const fields =
      key === 'grid'
        ? ['imgSize', 'patchSize']
        : key === 'absolutePe' || key === 'rpe'
          ? ['pe', 'rpe']
          : key === 'join'
            ? ['join']
            : [key];
    const fromFlag = fields.some((f) => origins[f as keyof ModelOverrides] === 'flag');
    const source = fromFlag
      ? `the flags ask for`
      : `model ${name} (${origins.model === 'flag' ? '--model' : `from the ${origins.model}`}) has`;
    problems.push(
      `it has ${describeField(key, seen)} (${evidence}) but ${source} ${describeField(key, config)}: ${fromFlag ? `drop ${flagFor(key)} or change it` : `pass ${flagFor(key)}`}`,
    );
  }
  if (problems.length > 0) {
    throw new Error(`${label} does not hold the requested model: ${problems.join('; ')}`);
  }
}
