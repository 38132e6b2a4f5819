/** Multi-head self-attention, optionally with a 2-D relative position bias on patch-to-patch logits. */
import { Linear, Dropout, LayerNorm } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { add } from '../ops/binary.js';
import { zeros } from '../ops/creation.js';
import { indexSelect } from '../ops/gather.js';
import { matmul } from '../ops/matmul.js';
import { padLeading2d } from '../ops/pad.js';
import { permute, reshape } from '../ops/shape.js';
import { slice } from '../ops/slice.js';
import { softmax } from '../ops/softmax.js';
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
    rng: Rng,
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
    const [b, m, d] = x.shape;
    const h = this.opts.numHeads;
    const hd = this.headDim;
    const qkv = reshape(this.qkv.forward(x), [b, m, 3, h, hd]); // [B, M, 3, H, hd]
    const heads = permute(qkv, [2, 0, 3, 1, 4]); // [3, B, H, M, hd]
    const q = reshape(slice(heads, 0, 0, 1), [b, h, m, hd]);
    const k = reshape(slice(heads, 0, 1, 2), [b, h, m, hd]);
    const v = reshape(slice(heads, 0, 2, 3), [b, h, m, hd]);
    let logits = matmul(q, k, { transB: true, alpha: hd ** -0.5 }); // [B, H, M, M]
    const bias = this.relativeBias();
    if (bias && this.opts.rpe) logits = add(logits, padLeading2d(bias, this.opts.rpe.prefix)); // [H, M, M] broadcast
    const attn = this.attnDrop.forward(softmax(logits));
    const ctx = matmul(attn, v); // [B, H, M, hd]
    const merged = reshape(permute(ctx, [0, 2, 1, 3]), [b, m, d]); // [B, M, D]
    return this.projDrop.forward(this.proj.forward(merged));
  }
}
