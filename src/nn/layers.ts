/** Small single-purpose layers with the reference's parameter names and initialization. */
import { conv2d } from '../ops/conv2d.js';
import { full, randUniform, truncNormal, zeros } from '../ops/creation.js';
import { addDropPath, dropout, dropPath } from '../ops/dropout.js';
import { layerNorm } from '../ops/layer_norm.js';
import type { GemmOperandOptions } from '../ops/autocast.js';
import { linear } from '../ops/linear.js';
import type { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** nn.Linear with DeiT's init: weight trunc-normal(0.02), bias 0. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, rng: Rng, opts: { bias?: boolean } = {}) {
    super();
    this.weight = this.param('weight', truncNormal([outFeatures, inFeatures], 0.02, 0, -2, 2, rng));
    this.bias = (opts.bias ?? true) ? this.param('bias', zeros([outFeatures])) : null;
  }

  forward(x: Tensor, opts?: GemmOperandOptions): Tensor {
    return linear(x, this.weight, this.bias, opts);
  }
}

/** nn.LayerNorm over the last axis with weight 1, bias 0. */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly dim: number,
    readonly eps: number,
  ) {
    super();
    this.weight = this.param('weight', full([dim], 1));
    this.bias = this.param('bias', zeros([dim]));
  }

  /** norm(x), plus `addend` broadcast over leading rows when given (fused). */
  forward(x: Tensor, addend: Tensor | null = null, opts?: GemmOperandOptions): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps, addend, opts);
  }
}

/** nn.Conv2d with PyTorch's default init: U(±1/sqrt(fan_in)) for weight and bias. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    inChans: number,
    outChans: number,
    readonly kernel: number,
    readonly stride: number,
    readonly padding: number,
    rng: Rng,
    opts: { bias?: boolean; init?: 'default' | 'kaimingNormalRelu' } = {},
  ) {
    super();
    const fanIn = inChans * kernel * kernel;
    const bound = 1 / Math.sqrt(fanIn);
    const shape = [outChans, inChans, kernel, kernel];
    this.weight = this.param(
      'weight',
      opts.init === 'kaimingNormalRelu'
        ? truncNormal(shape, Math.sqrt(2 / fanIn), 0, -Infinity, Infinity, rng)
        : randUniform(shape, -bound, bound, rng),
    );
    this.bias = (opts.bias ?? true) ? this.param('bias', randUniform([outChans], -bound, bound, rng)) : null;
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }
}

export class Dropout extends Module {
  constructor(
    readonly p: number,
    private readonly rng: Rng,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.rng);
  }
}

/** Stochastic depth: drops the whole residual branch per sample. */
export class DropPath extends Module {
  constructor(
    readonly p: number,
    private readonly rng: Rng,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return dropPath(x, this.p, this.training, this.rng);
  }

  /** `x + forward(branch)` fused into one kernel each way (a block's residual add). */
  addTo(x: Tensor, branch: Tensor): Tensor {
    return addDropPath(x, branch, this.p, this.training, this.rng);
  }
}
