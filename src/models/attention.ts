/** Multi-head self-attention, optionally with a 2-D relative position bias on patch-to-patch logits. */
import { Linear, Dropout, LayerNorm } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { attention } from '../ops/attention.js';
import { zeros } from '../ops/creation.js';
import { indexSelect } from '../ops/gather.js';
import { padLeading2d } from '../ops/pad.js';
import { permute } from '../ops/shape.js';
import type { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { relativePositionIndex } from './pos_embed.js';

export interface AttentionOptions {
  dim: number;
  numHeads: number;
  qkvBias: boolean;
  attnDrop: number;
  projDrop: number;
  /** Relative position bias over an h x w patch grid after `prefix` tokens. */
  rpe: { grid: number; prefix: number; join: 'basic' | 'LN' } | null;
}

export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly attnDrop: Dropout;
  readonly projDrop: Dropout;
  /** 2-D RPE: table [(2h-1)(2w-1), H], index buffer [N, N], and for join 'LN' a norm over keys. */
  readonly rpeTable: Tensor | null = null;
  readonly rpeIndex: Tensor | null = null;
  readonly rpeNorm: LayerNorm | null = null;
  private readonly headDim: number;

  constructor(
    readonly opts: AttentionOptions,
    private readonly rng: Rng,
  ) {
    super();
    const { dim, numHeads } = opts;
    this.headDim = dim / numHeads;
    this.qkv = this.module('qkv', new Linear(dim, dim * 3, rng, { bias: opts.qkvBias }));
    this.attnDrop = this.module('attn_drop', new Dropout(opts.attnDrop, rng));
    this.proj = this.module('proj', new Linear(dim, dim, rng));
    this.projDrop = this.module('proj_drop', new Dropout(opts.projDrop, rng));
    if (opts.rpe) {
      const { grid, join } = opts.rpe;
      const side = 2 * grid - 1;
      this.rpeTable = this.param('relative_position_bias_table', zeros([side * side, numHeads]));
      this.rpeIndex = this.buffer('relative_position_index', relativePositionIndex(grid, grid));
      // The reference normalizes with nn.LayerNorm(num_patches), whose eps is PyTorch's default 1e-5.
      if (join === 'LN') this.rpeNorm = this.module('pe_norm', new LayerNorm(grid * grid, 1e-5));
    }
  }

  /** The relative position bias [H, N, N] this layer adds: bias[h, i, j] = table[index[i, j], h]. */
  relativeBias(): Tensor | null {
    if (!this.rpeTable || !this.rpeIndex) return null;
    const gathered = indexSelect(this.rpeTable, this.rpeIndex); // [N, N, H]
    const bias = permute(gathered, [2, 0, 1]); // [H, N, N]
    return this.rpeNorm ? this.rpeNorm.forward(bias) : bias;
  }

  forward(x: Tensor): Tensor {
    const bias = this.relativeBias();
    // qkv feeds only attention's GEMMs and the context only proj: bfloat16 under autocast.
    const ctx = attention(this.qkv.forward(x, { feedsGemm: true }), {
      feedsGemm: true,
      heads: this.opts.numHeads,
      scale: this.headDim ** -0.5,
      // [H, N, N] bias placed in the patch-to-patch block of the [H, M, M] logits.
      bias: bias && this.opts.rpe ? padLeading2d(bias, this.opts.rpe.prefix) : null,
      dropout: this.training && this.attnDrop.p > 0 ? { p: this.attnDrop.p, rng: this.rng } : null,
    }); // [B, M, D]
    return this.projDrop.forward(this.proj.forward(ctx));
  }
}
