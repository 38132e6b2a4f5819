/** Image -> patch tokens [B, N, D]. */
import { Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { linear } from '../ops/linear.js';
import { maxPool2d } from '../ops/max_pool2d.js';
import { patchify } from '../ops/patchify.js';
import { permute, reshape } from '../ops/shape.js';
import { relu } from '../ops/unary.js';
import type { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Tokenizer } from './config.js';

export class PatchEmbed extends Module {
  readonly proj: Conv2d;

  constructor(
    readonly tokenizer: Tokenizer,
    readonly imgSize: number,
    inChans: number,
    dim: number,
    rng: Rng,
  ) {
    super();
    switch (tokenizer.kind) {
      case 'patch':
        this.proj = this.module(
          'proj',
          new Conv2d(inChans, dim, tokenizer.patchSize, tokenizer.patchSize, 0, rng),
        );
        break;
      case 'cct':
        this.proj = this.module(
          'proj',
          new Conv2d(inChans, dim, 3, 1, 1, rng, { bias: false, init: 'kaimingNormalRelu' }),
        );
        break;
    }
  }

  forward(img: Tensor): Tensor {
    const [, c, h, w] = img.shape;
    const wantC = this.proj.weight.shape[1];
    if (img.rank !== 4 || c !== wantC || h !== this.imgSize || w !== this.imgSize) {
      throw new Error(
        `model input ${img.describe()} does not match the model's [batch, ${wantC}, ${this.imgSize}, ${this.imgSize}]`,
      );
    }
    switch (this.tokenizer.kind) {
      case 'patch': {
        // kernel = stride: the conv is one GEMM over patch rows, straight into tokens.
        const [d, ci, p] = this.proj.weight.shape;
        const patches = patchify(img, p); // [B, N, C*p*p]
        return linear(patches, reshape(this.proj.weight, [d, ci * p * p]), this.proj.bias); // [B, N, D]
      }
      case 'cct': {
        const fmap = maxPool2d(relu(this.proj.forward(img)), 3, 2, 1); // [B, D, h', w']
        const [b, d, gh, gw] = fmap.shape;
        return permute(reshape(fmap, [b, d, gh * gw]), [0, 2, 1]); // [B, N, D]
      }
    }
  }
}
