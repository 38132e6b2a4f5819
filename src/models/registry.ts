/**
 * Named variants, each a few numbers (timm's registry), and `createModel(name, overrides)`.
 * Overrides use the flat, reference-style fields the CLI exposes (`--pe 2D_RPE --join-type LN`).
 */
import type { BlockStyle, Head, JoinKind, PeKind, Tokenizer, VitConfig } from './config.js';
import { JOIN_KINDS, PE_KINDS } from './config.js';
import { VisionTransformer, type ModelOptions } from './vision_transformer.js';

/** The flat override vocabulary (names as the CLI flags and the fixture manifest). */
export interface ModelOverrides {
  imgSize?: number;
  patchSize?: number;
  inChans?: number;
  numClasses?: number;
  embedDim?: number;
  depth?: number;
  numHeads?: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  dropRate?: number;
  attnDropRate?: number;
  dropPathRate?: number;
  normEps?: number;
  /** learnable | 1D_sin | 2D_sin | none | 2D_RPE (= no absolute PE, relative bias instead). */
  pe?: PeKind | '2D_RPE';
  /** basic | share | unshare | LaPE | LaPE-shared; with pe 2D_RPE: basic | LN. */
  join?: JoinKind | 'LN';
  /** Relative position bias in addition to the absolute PE: none | basic | LN. */
  rpe?: 'none' | 'basic' | 'LN';
  peInitStd?: number;
  distilled?: boolean;
  tokenizer?: Tokenizer['kind'];
  pooling?: 'cls' | 'seq';
  blockStyle?: BlockStyle;
}

type Variant = Required<
  Pick<ModelOverrides, 'imgSize' | 'embedDim' | 'depth' | 'numHeads' | 'mlpRatio' | 'qkvBias' | 'normEps'>
> &
  ModelOverrides & { description: string };

const deit = (embedDim: number, numHeads: number, extra: Partial<Variant> = {}): Variant => ({
  description: '',
  imgSize: 224,
  patchSize: 16,
  embedDim,
  depth: 12,
  numHeads,
  mlpRatio: 4,
  qkvBias: true,
  normEps: 1e-6,
  ...extra,
});

/** Compact Transformers' ViT-Lite / CCT settings (CIFAR, 32x32). */
const compact = (extra: Partial<Variant>): Variant => ({
  description: '',
  imgSize: 32,
  embedDim: 256,
  depth: 7,
  numHeads: 4,
  mlpRatio: 2,
  qkvBias: false,
  normEps: 1e-5,
  attnDropRate: 0.1,
  dropPathRate: 0.1,
  peInitStd: 0.2,
  numClasses: 10,
  ...extra,
});

export const MODEL_VARIANTS: Readonly<Record<string, Variant>> = {
  deit_tiny_patch16_224: deit(192, 3, { description: 'DeiT-Ti (5.7M)' }),
  deit_small_patch16_224: deit(384, 6, { description: 'DeiT-S (22M)' }),
  deit_base_patch16_224: deit(768, 12, { description: 'DeiT-B (86M)' }),
  deit_base_patch16_384: deit(768, 12, { imgSize: 384, description: 'DeiT-B at 384px' }),
  deit_tiny_distilled_patch16_224: deit(192, 3, {
    distilled: true,
    description: 'DeiT-Ti with distillation token',
  }),
  deit_small_distilled_patch16_224: deit(384, 6, {
    distilled: true,
    description: 'DeiT-S with distillation token',
  }),
  deit_base_distilled_patch16_224: deit(768, 12, {
    distilled: true,
    description: 'DeiT-B with distillation token',
  }),
  vit_lite_7_4: compact({ patchSize: 4, description: 'ViT-Lite-7/4 (Compact Transformers), 4x4 conv stem' }),
  cct_7_3x1: compact({
    tokenizer: 'cct',
    pooling: 'seq',
    blockStyle: 'cct',
    description: 'CCT-7/3x1: 3x3 conv tokenizer, sequence pooling',
  }),
  lape_tiny: {
    description: 'tiny model for tests and quick runs',
    imgSize: 16,
    patchSize: 4,
    embedDim: 32,
    depth: 2,
    numHeads: 2,
    mlpRatio: 2,
    qkvBias: true,
    normEps: 1e-6,
    numClasses: 10,
  },
  lape_fmnist: {
    description: 'small ViT for 28x28 grayscale (Fashion-MNIST): patch 4, 7x7 grid',
    imgSize: 28,
    patchSize: 4,
    inChans: 1,
    embedDim: 128,
    depth: 6,
    numHeads: 4,
    mlpRatio: 2,
    qkvBias: true,
    normEps: 1e-6,
    numClasses: 10,
    dropPathRate: 0.1,
  },
};

export function modelNames(): string[] {
  return Object.keys(MODEL_VARIANTS);
}

/** Resolves a variant plus overrides into a full, typed config (throws naming a bad field). */
export function resolveConfig(name: string, overrides: ModelOverrides = {}): VitConfig {
  const variant = MODEL_VARIANTS[name];
  if (!variant) {
    throw new Error(`unknown model '${name}'; available: ${modelNames().join(', ')}`);
  }
  const f: ModelOverrides = { ...variant };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) (f as Record<string, unknown>)[k] = v;
  return configFromFlat(f as Variant);
}

/** Builds the typed config from the flat vocabulary (also used for fixture manifests). */
export function configFromFlat(
  f:
    | Variant
    | (ModelOverrides & Required<Pick<ModelOverrides, 'imgSize' | 'embedDim' | 'depth' | 'numHeads'>>),
): VitConfig {
  const peName = f.pe ?? 'learnable';
  const joinName = f.join ?? 'basic';
  let pe: VitConfig['pe'];
  let join: JoinKind;
  let rpe: VitConfig['rpe'] = { kind: 'none' };
  if (peName === '2D_RPE') {
    if (joinName !== 'basic' && joinName !== 'LN') {
      throw new Error(`pe '2D_RPE' joins with 'basic' or 'LN', got '${joinName}'`);
    }
    pe = { kind: 'none' };
    join = 'basic';
    rpe = { kind: '2D', join: joinName };
  } else {
    if (!PE_KINDS.includes(peName))
      throw new Error(`unknown pe '${peName}'; valid: ${PE_KINDS.join(', ')}, 2D_RPE`);
    if (joinName === 'LN' || !JOIN_KINDS.includes(joinName)) {
      throw new Error(
        `unknown join '${joinName}' for pe '${peName}'; valid: ${JOIN_KINDS.join(', ')} (LN only with pe 2D_RPE)`,
      );
    }
    pe = peName === 'learnable' ? { kind: 'learnable', initStd: f.peInitStd ?? 0.02 } : { kind: peName };
    join = joinName;
  }
  if (f.rpe && f.rpe !== 'none') {
    if (f.rpe !== 'basic' && f.rpe !== 'LN')
      throw new Error(`unknown rpe '${f.rpe}'; valid: none, basic, LN`);
    rpe = { kind: '2D', join: f.rpe };
  }
  const tokenizerKind = f.tokenizer ?? 'patch';
  let tokenizer: Tokenizer;
  switch (tokenizerKind) {
    case 'patch':
      tokenizer = { kind: 'patch', patchSize: f.patchSize ?? 16 };
      break;
    case 'cct':
      tokenizer = { kind: 'cct' };
      break;
    default:
      throw new Error(`unknown tokenizer '${String(tokenizerKind)}'; valid: patch, cct`);
  }
  const pooling = f.pooling ?? 'cls';
  if (pooling === 'seq' && f.distilled)
    throw new Error('a distilled model needs class-token pooling, not sequence pooling');
  const head: Head =
    pooling === 'seq'
      ? { kind: 'sequence-pool' }
      : f.distilled
        ? { kind: 'distilled' }
        : { kind: 'class-token' };
  return {
    imgSize: f.imgSize,
    inChans: f.inChans ?? 3,
    numClasses: f.numClasses ?? 1000,
    embedDim: f.embedDim,
    depth: f.depth,
    numHeads: f.numHeads,
    mlpRatio: f.mlpRatio ?? 4,
    qkvBias: f.qkvBias ?? true,
    dropRate: f.dropRate ?? 0,
    attnDropRate: f.attnDropRate ?? 0,
    dropPathRate: f.dropPathRate ?? 0,
    normEps: f.normEps ?? 1e-6,
    tokenizer,
    pe,
    join,
    rpe,
    head,
    blockStyle: f.blockStyle ?? 'prenorm',
  };
}

/** timm's `create_model(name, **overrides)`. */
export function createModel(
  name: string,
  overrides: ModelOverrides = {},
  opts: ModelOptions = {},
): VisionTransformer {
  return new VisionTransformer(resolveConfig(name, overrides), opts);
}
