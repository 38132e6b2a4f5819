import { Dropout, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { gelu } from '../ops/unary.js';
import type { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

/** fc1 -> GELU (erf) -> dropout -> fc2 -> dropout. */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly drop: Dropout;

  constructor(dim: number, hidden: number, drop: number, rng: Rng) {
    super();
    this.fc1 = this.module('fc1', new Linear(dim, hidden, rng));
    this.fc2 = this.module('fc2', new Linear(hidden, dim, rng));
    this.drop = this.module('drop', new Dropout(drop, rng));
  }

  forward(x: Tensor): Tensor {
    // Under autocast fc1 writes its output in bfloat16 (only GELU reads it, widening it exactly), and
    // GELU's output feeds fc2 directly in bfloat16 too unless dropout sits in between.
    const feedsGemm = !this.training || this.drop.p === 0;
    const h = this.fc1.forward(x, { feedsGemm: true });
    return this.drop.forward(this.fc2.forward(this.drop.forward(gelu(h, { feedsGemm }))));
  }
}
