/** Image -> patch tokens [B, N, D]. */
import { Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { maxPool2d } from '../ops/max_pool2d.js';
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
        this.proj = this.module('proj', new Conv2d(inChans, dim, tokenizer.patchSize, tokenizer.patchSize, 0, rng));
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
    let fmap = this.proj.forward(img); // [B, D, h', w']
    if (this.tokenizer.kind === 'cct') fmap = maxPool2d(relu(fmap), 3, 2, 1);
    const [b, d, gh, gw] = fmap.shape;
    return permute(reshape(fmap, [b, d, gh * gw]), [0, 2, 1]); // [B, N, D]
  }
}
