/** AdamW with PyTorch's semantics (decoupled weight decay, bias correction), one fused kernel per tensor. */
import { dispatch } from '../backend/dispatch.js';
import { zeros } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer, type ParamGroupSpec } from './optimizer.js';

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  /** Default for groups that do not set their own (PyTorch's default is 0.01). */
  weightDecay?: number;
}

export interface AdamWParamState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

export class AdamW extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly state = new Map<Tensor, AdamWParamState>();

  constructor(groups: ParamGroupSpec[], opts: AdamWOptions) {
    super(groups, opts.lr, opts.weightDecay ?? 0.01);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.expAvg.dispose();
      s.expAvgSq.dispose();
    }
    this.state.clear();
  }

  step(): void {
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        let s = this.state.get(p);
        if (!s) {
          s = { step: 0, expAvg: zeros(p.shape).keep(), expAvgSq: zeros(p.shape).keep() };
          this.state.set(p, s);
        }
        s.step++;
        dispatch.adamw({
          param: p,
          grad: p.grad,
          expAvg: s.expAvg,
          expAvgSq: s.expAvgSq,
          lr: g.lr,
          beta1: this.betas[0],
          beta2: this.betas[1],
          eps: this.eps,
          weightDecay: g.weightDecay,
          step: s.step,
        });
      }
    }
  }
}
