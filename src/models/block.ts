/** One transformer encoder block; LaPE's position embedding enters only the attention input. */
import { DropPath, LayerNorm } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { Attention, type AttentionOptions } from './attention.js';
import type { BlockStyle } from './config.js';
import { Mlp } from './mlp.js';

export interface BlockOptions extends AttentionOptions {
  mlpHidden: number;
  dropPath: number;
  normEps: number;
  style: BlockStyle;
  /** LaPE, LaPE-shared: this block's LayerNorm for the position embedding, made by the model's join
   * (src/models/join.ts, which applies it) and registered here as `pe_norm`; null for other joins. */
  peNorm: LayerNorm | null;
}

export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  private readonly dropPath: DropPath;

  constructor(
    readonly opts: BlockOptions,
    rng: Rng,
  ) {
    super();
    // Registration order follows the reference module, so state dicts list keys in the same order.
    if (opts.peNorm) this.module('pe_norm', opts.peNorm);
    this.norm1 = this.module('norm1', new LayerNorm(opts.dim, opts.normEps));
    this.attn = this.module('attn', new Attention(opts, rng));
    this.dropPath = this.module('drop_path', new DropPath(opts.dropPath, rng));
    this.norm2 = this.module('norm2', new LayerNorm(opts.dim, opts.normEps));
    this.mlp = this.module('mlp', new Mlp(opts.dim, opts.mlpHidden, opts.projDrop, rng));
  }

  /**
   * `pe` is the position embedding attention sees at this layer ([T+N, D], broadcast over the batch),
   * added to norm1(x) in the same fused kernel; null when the PE was joined into x instead.
   */
  forward(x: Tensor, pe: Tensor | null): Tensor {
    // Under autocast, norms whose output only feeds a GEMM (qkv, fc1) write it in bfloat16.
    const gemmInput = { feedsGemm: true };
    const a = this.attn.forward(this.norm1.forward(x, pe, gemmInput));
    const x1 = this.dropPath.addTo(x, a);
    switch (this.opts.style) {
      case 'prenorm':
        return this.dropPath.addTo(x1, this.mlp.forward(this.norm2.forward(x1, null, gemmInput)));
      case 'cct': {
        // Compact Transformers normalize the residual stream itself before the MLP.
        const x2 = this.norm2.forward(x1);
        return this.dropPath.addTo(x2, this.mlp.forward(x2));
      }
    }
  }
}
