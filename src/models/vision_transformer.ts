/**
 * The Vision Transformer family with every position-embedding type and join method of the LaPE paper
 * (docs/model-spec.md). Model code only: no I/O. Forward is split into small hooks: `forwardFeatures`,
 * `forwardHead`, `forwardIntermediates`, and `attentionPositionEmbeddings` for the visualizer.
 */
import { isGradEnabled } from '../autograd/tape.js';
import { LayerNorm, Linear, Dropout } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { add } from '../ops/binary.js';
import { concat } from '../ops/concat.js';
import { truncNormal } from '../ops/creation.js';
import { matmul } from '../ops/matmul.js';
import { affine } from '../ops/scalar.js';
import { expandTo, permute, reshape } from '../ops/shape.js';
import { slice } from '../ops/slice.js';
import { softmax } from '../ops/softmax.js';
import { tidy } from '../tensor/memory.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { Block } from './block.js';
import { gridSize, prefixTokens, validateConfig, type VitConfig } from './config.js';
import {
  attentionEmbeddings,
  blockNorm,
  buildJoin,
  joinTerms,
  tableNames,
  type PositionJoin,
} from './join.js';
import { sinusoid1d, sinusoid2d } from './pos_embed.js';
import { PatchEmbed } from './tokenizer.js';

/** The same shape whatever the mode: distilled models always give both heads and their average. */
export type ModelOutput =
  | { kind: 'single'; logits: Tensor }
  | {
      kind: 'distilled';
      cls: Tensor;
      dist: Tensor;
      /** (cls + dist) / 2, DeiT's eval output */ logits: Tensor;
    };

export interface Intermediates {
  /** Token states after each block, [B, T+N, D]. */
  tokens: Tensor[];
  /** Final output of the model on the same input. */
  output: ModelOutput;
}

export interface ModelOptions {
  /** Seeds initialization and then dropout/drop-path; its state is saved for exact resume. */
  seed?: number;
}

export class VisionTransformer extends Module {
  readonly rng: Rng;
  readonly prefix: number;
  readonly grid: number;
  readonly patchEmbed: PatchEmbed;
  readonly clsToken: Tensor | null = null;
  readonly distToken: Tensor | null = null;
  /** How the absolute PE joins the network (src/models/join.ts: the paper's equations). */
  readonly join: PositionJoin;
  readonly posDrop: Dropout;
  readonly blocks: Block[];
  readonly norm: LayerNorm;
  readonly head: Linear;
  readonly headDist: Linear | null = null;
  readonly attentionPool: Linear | null = null;

  constructor(
    readonly config: VitConfig,
    opts: ModelOptions = {},
  ) {
    super();
    validateConfig(config);
    const cfg = config;
    const rng = (this.rng = new Rng(opts.seed ?? 0));
    const d = cfg.embedDim;
    this.prefix = prefixTokens(cfg.head);
    this.grid = gridSize(cfg);
    const tokens = this.prefix + this.grid * this.grid;

    this.patchEmbed = this.module(
      'patch_embed',
      new PatchEmbed(cfg.tokenizer, cfg.imgSize, cfg.inChans, d, rng),
    );
    if (this.prefix >= 1)
      this.clsToken = this.param('cls_token', truncNormal([1, 1, d], 0.02, 0, -2, 2, rng));

    // The PE tables, stored as the reference: [1, T+N, D] ([T+N, D] for 1D_sin); one per block for unshare.
    const tables = tableNames(cfg.join, cfg.depth).flatMap((name): Tensor[] => {
      const pe = cfg.pe;
      switch (pe.kind) {
        case 'learnable':
          return [this.param(name, truncNormal([1, tokens, d], pe.initStd, 0, -2, 2, rng))];
        case '1D_sin':
          return [this.buffer(name, sinusoid1d(tokens, d))];
        case '2D_sin':
          return [
            this.buffer(name, reshape(sinusoid2d(this.grid, this.grid, d, this.prefix), [1, tokens, d])),
          ];
        case 'none':
          return [];
      }
    });
    this.join = buildJoin(cfg.join, tables, cfg.depth, () => new LayerNorm(d, cfg.normEps));
    // After the PE, as the reference's DistilledVisionTransformer (parameter order = optimizer state order).
    if (this.prefix === 2)
      this.distToken = this.param('dist_token', truncNormal([1, 1, d], 0.02, 0, -2, 2, rng));
    this.posDrop = this.module('pos_drop', new Dropout(cfg.dropRate, rng));

    this.blocks = this.moduleList(
      'blocks',
      Array.from(
        { length: cfg.depth },
        (_, i) =>
          new Block(
            {
              dim: d,
              numHeads: cfg.numHeads,
              qkvBias: cfg.qkvBias,
              attnDrop: cfg.attnDropRate,
              projDrop: cfg.dropRate,
              rpe:
                cfg.rpe.kind === '2D' ? { grid: this.grid, prefix: this.prefix, join: cfg.rpe.join } : null,
              mlpHidden: Math.floor(d * cfg.mlpRatio),
              dropPath: cfg.depth > 1 ? (cfg.dropPathRate * i) / (cfg.depth - 1) : 0,
              normEps: cfg.normEps,
              style: cfg.blockStyle,
              peNorm: blockNorm(this.join, i),
            },
            rng,
          ),
      ),
    );
    this.norm = this.module('norm', new LayerNorm(d, cfg.normEps));
    if (cfg.head.kind === 'sequence-pool')
      this.attentionPool = this.module('attention_pool', new Linear(d, 1, rng));
    this.head = this.module('head', new Linear(d, cfg.numClasses, rng));
    if (cfg.head.kind === 'distilled')
      this.headDist = this.module('head_dist', new Linear(d, cfg.numClasses, rng));
  }

  /**
   * What each layer's attention receives of the position embedding, computed by the model's own
   * modules: `basic`/`share`: norm1 applied to the PE; `LaPE`: the progressive pe_l; `LaPE-shared`:
   * pe_norm_l(pe); `unshare`: the layer's own PE. Empty without an absolute PE.
   */
  attentionPositionEmbeddings(): Tensor[] {
    return attentionEmbeddings(
      this.join,
      this.blocks.map((b) => b.norm1),
    );
  }

  /** Each layer's relative position bias [H, N, N] (after its LN join); empty without 2-D RPE. */
  relativePositionBiases(): Tensor[] {
    return this.blocks.map((b) => b.attn.relativeBias()).filter((t): t is Tensor => t !== null);
  }

  /** Patch tokens with the prefix tokens prepended: [B, T+N, D]. */
  private embed(img: Tensor): Tensor {
    const x = this.patchEmbed.forward(img); // [B, N, D]
    const b = x.shape[0];
    const d = this.config.embedDim;
    const prefix = [this.clsToken, this.distToken]
      .filter((t): t is Tensor => t !== null)
      .map((t) => expandTo(t, [b, 1, d]));
    return prefix.length > 0 ? concat([...prefix, x], 1) : x;
  }

  private runBlocks(img: Tensor, collect: Tensor[] | null): Tensor {
    const pe = joinTerms(this.join);
    let x = this.embed(img);
    if (pe.input) x = add(x, pe.input);
    x = this.posDrop.forward(x);
    const step = (block: Block, i: number, input: Tensor): Tensor => {
      const stream = pe.stream(i);
      return block.forward(stream ? add(input, stream) : input, pe.attention(i));
    };
    // Without a graph nothing inside a block is needed afterwards: release it block by block, so
    // inference holds one block's activations at a time instead of the whole network's.
    const inference = !isGradEnabled();
    this.blocks.forEach((block, i) => {
      x = inference ? tidy(() => step(block, i, x)) : step(block, i, x);
      collect?.push(x);
    });
    return this.norm.forward(x);
  }

  /** Final normalized tokens [B, T+N, D]. */
  forwardFeatures(img: Tensor): Tensor {
    return this.runBlocks(img, null);
  }

  forwardHead(x: Tensor): ModelOutput {
    const [b, , d] = x.shape;
    const token = (i: number): Tensor => reshape(slice(x, 1, i, i + 1), [b, d]);
    switch (this.config.head.kind) {
      case 'class-token':
        return { kind: 'single', logits: this.head.forward(token(0)) };
      case 'distilled': {
        const cls = this.head.forward(token(0));
        const dist = (this.headDist as Linear).forward(token(1));
        return { kind: 'distilled', cls, dist, logits: affine(add(cls, dist), 0.5) };
      }
      case 'sequence-pool': {
        const w = softmax(permute((this.attentionPool as Linear).forward(x), [0, 2, 1])); // [B, 1, N]
        const pooled = reshape(matmul(w, x), [b, d]); // [B, D]
        return { kind: 'single', logits: this.head.forward(pooled) };
      }
    }
  }

  forward(img: Tensor): ModelOutput {
    return this.forwardHead(this.forwardFeatures(img));
  }

  forwardIntermediates(img: Tensor): Intermediates {
    const tokens: Tensor[] = [];
    const output = this.forwardHead(this.runBlocks(img, tokens));
    return { tokens, output };
  }

  /**
   * Parameters split for weight decay exactly as the reference splits them (timm's add_weight_decay
   * with the model's no_weight_decay() = {pos_embed, cls_token}): no decay on 1-D parameters, biases,
   * `pos_embed` and `cls_token`; decay on everything else, `dist_token`, the per-layer `pos_embed<i>` of
   * 'unshare' and the RPE tables included. The same groups in the same order keep optimizer states
   * interchangeable with the reference's checkpoints.
   */
  weightDecayGroups(): { decay: [string, Tensor][]; noDecay: [string, Tensor][] } {
    const decay: [string, Tensor][] = [];
    const noDecay: [string, Tensor][] = [];
    for (const [name, p] of this.namedParameters()) {
      const exempt = p.rank <= 1 || name.endsWith('.bias') || name === 'pos_embed' || name === 'cls_token';
      (exempt ? noDecay : decay).push([name, p]);
    }
    return { decay, noDecay };
  }
}
