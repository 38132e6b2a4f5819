/** SGD with momentum (and Nesterov), PyTorch semantics, fused per tensor. */
import { dispatch } from '../backend/dispatch.js';
import { zeros } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer, type ParamGroupSpec } from './optimizer.js';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export class Sgd extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  /** Momentum buffers, created at a parameter's first step. */
  readonly buffers = new Map<Tensor, Tensor>();

  constructor(groups: ParamGroupSpec[], opts: SgdOptions) {
    super(groups, opts.lr, opts.weightDecay ?? 0);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error('sgd: nesterov needs momentum > 0 and dampening 0');
    }
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }

  step(): void {
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        let buf = this.buffers.get(p);
        const first = !buf;
        if (!buf) {
          buf = zeros(p.shape).keep();
          this.buffers.set(p, buf);
        }
        dispatch.sgd({
          param: p,
          grad: p.grad,
          momentumBuffer: buf,
          lr: g.lr,
          momentum: this.momentum,
          dampening: this.dampening,
          weightDecay: g.weightDecay,
          nesterov: this.nesterov,
          firstStep: first,
        });
      }
    }
  }
}
