/**
 * The typed configuration of lape's Vision Transformer family (see docs/model-spec.md). Plain data:
 * a registry variant is a few numbers, and every field can be overridden.
 */

/** How the absolute position embedding joins the network (the paper's subject). */
export type JoinKind = 'basic' | 'share' | 'unshare' | 'LaPE' | 'LaPE-shared';
export const JOIN_KINDS: readonly JoinKind[] = ['basic', 'share', 'unshare', 'LaPE', 'LaPE-shared'];

export type PositionEmbedding =
  /** Trained table, trunc-normal initialized with `initStd`. */
  | { kind: 'learnable'; initStd: number }
  /** Frozen 1-D sinusoids over the flattened token index. */
  | { kind: '1D_sin' }
  /** Frozen 2-D sinusoids over the patch grid (prefix-token slots zero). */
  | { kind: '2D_sin' }
  | { kind: 'none' };
export type PeKind = PositionEmbedding['kind'];
export const PE_KINDS: readonly PeKind[] = ['learnable', '1D_sin', '2D_sin', 'none'];

/** 2-D relative position bias added to patch-to-patch attention logits, per layer and head. */
export type RelativePositionBias = { kind: 'none' } | { kind: '2D'; join: 'basic' | 'LN' };

export type Tokenizer =
  /** Conv with kernel = stride = patchSize (ViT/DeiT patch embedding). */
  | { kind: 'patch'; patchSize: number }
  /** Compact Transformers' conv tokenizer: 3x3 conv (no bias) -> ReLU -> max-pool 3/2/1. */
  | { kind: 'cct' };

export type Head =
  /** Class token, linear head on it. */
  | { kind: 'class-token' }
  /** Class and distillation tokens (DeiT), `head` and `head_dist`. */
  | { kind: 'distilled' }
  /** No class token: attention-weighted average of all tokens (CCT's sequence pooling). */
  | { kind: 'sequence-pool' };

/** `prenorm`: ViT/DeiT blocks. `cct`: Compact Transformers' blocks, whose norm2 normalizes the stream. */
export type BlockStyle = 'prenorm' | 'cct';

export interface VitConfig {
  imgSize: number;
  inChans: number;
  numClasses: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  qkvBias: boolean;
  /** Dropout after the PE join, in the MLP and after attention's projection. */
  dropRate: number;
  attnDropRate: number;
  /** Stochastic depth, linearly increasing from 0 at the first block to this at the last. */
  dropPathRate: number;
  /** LayerNorm eps: 1e-6 for DeiT, 1e-5 for the Compact Transformers family. */
  normEps: number;
  tokenizer: Tokenizer;
  pe: PositionEmbedding;
  join: JoinKind;
  rpe: RelativePositionBias;
  head: Head;
  blockStyle: BlockStyle;
}

/** Tokens before the patches: class (+ distillation) token, or none with sequence pooling. */
export function prefixTokens(head: Head): number {
  switch (head.kind) {
    case 'class-token':
      return 1;
    case 'distilled':
      return 2;
    case 'sequence-pool':
      return 0;
  }
}

/** Patch-grid side after the tokenizer. */
export function gridSize(cfg: Pick<VitConfig, 'imgSize' | 'tokenizer'>): number {
  switch (cfg.tokenizer.kind) {
    case 'patch':
      return Math.floor(cfg.imgSize / cfg.tokenizer.patchSize);
    case 'cct':
      // conv 3x3 s1 p1 keeps the size; max-pool 3/2/1 halves it (rounding up).
      return Math.floor((cfg.imgSize + 2 - 3) / 2) + 1;
  }
}

/**
 * Rejects configurations that cannot be built, with a message listing what is valid.
 * (The reference crashes at run time on several of these.)
 */
export function validateConfig(cfg: VitConfig): void {
  const fail = (msg: string): never => {
    throw new Error(`invalid model config: ${msg}`);
  };
  const positive = ['imgSize', 'inChans', 'embedDim', 'depth', 'numHeads'] as const;
  for (const k of positive)
    if (!(Number.isInteger(cfg[k]) && cfg[k] > 0)) fail(`${k} must be a positive integer, got ${cfg[k]}`);
  if (!(Number.isInteger(cfg.numClasses) && cfg.numClasses >= 1))
    fail(`numClasses must be >= 1, got ${cfg.numClasses}`);
  if (cfg.embedDim % cfg.numHeads !== 0)
    fail(`embedDim ${cfg.embedDim} is not divisible by numHeads ${cfg.numHeads}`);
  if (!(cfg.mlpRatio > 0)) fail(`mlpRatio must be positive, got ${cfg.mlpRatio}`);
  for (const k of ['dropRate', 'attnDropRate', 'dropPathRate'] as const) {
    if (!(cfg[k] >= 0 && cfg[k] < 1)) fail(`${k} must be in [0, 1), got ${cfg[k]}`);
  }
  if (!(cfg.normEps > 0)) fail(`normEps must be positive, got ${cfg.normEps}`);
  if (cfg.tokenizer.kind === 'patch') {
    const p = cfg.tokenizer.patchSize;
    if (!(Number.isInteger(p) && p > 0 && cfg.imgSize % p === 0)) {
      fail(`imgSize ${cfg.imgSize} must be a multiple of patchSize ${p}`);
    }
  }
  if (!JOIN_KINDS.includes(cfg.join)) fail(`unknown join '${cfg.join}'; valid: ${JOIN_KINDS.join(', ')}`);
  if (!PE_KINDS.includes(cfg.pe.kind))
    fail(`unknown pe '${cfg.pe.kind}'; valid: ${PE_KINDS.join(', ')}, 2D_RPE`);
  if (cfg.pe.kind === 'none' && cfg.join !== 'basic') {
    fail(`pe 'none' has nothing to join: use join 'basic' (got '${cfg.join}')`);
  }
  if (cfg.join === 'unshare' && cfg.pe.kind !== 'learnable') {
    fail(
      `join 'unshare' needs a learnable pe (one table per layer), got '${cfg.pe.kind}'; valid pe for unshare: learnable`,
    );
  }
  if (cfg.pe.kind === '2D_sin' && cfg.embedDim % 4 !== 0) {
    fail(`pe '2D_sin' needs embedDim divisible by 4, got ${cfg.embedDim}`);
  }
}
