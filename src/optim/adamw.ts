/**
 * AdamW and Adam with PyTorch's semantics (bias correction; AdamW's decoupled weight decay, Adam's L2
 * penalty added to the gradient), one fused kernel per tensor.
 */
import { noGrad } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { add } from '../ops/binary.js';
import { zeros } from '../ops/creation.js';
import { mulScalar } from '../ops/scalar.js';
import { tidy } from '../tensor/memory.js';
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
  /** AdamW decays the weights apart from the gradient; Adam (the subclass) adds wd * p to it. */
  protected readonly decoupled: boolean = true;
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
        const st = s;
        const grad = p.grad;
        const update = (gradient: Tensor, weightDecay: number): void =>
          dispatch.adamw({
            param: p,
            grad: gradient,
            expAvg: st.expAvg,
            expAvgSq: st.expAvgSq,
            lr: g.lr,
            beta1: this.betas[0],
            beta2: this.betas[1],
            eps: this.eps,
            weightDecay,
            step: st.step,
          });
        if (this.decoupled || g.weightDecay === 0) update(grad, g.weightDecay);
        // torch.optim.Adam: grad + wd * p, then the plain Adam update.
        else noGrad(() => tidy(() => update(add(grad, mulScalar(p, g.weightDecay)), 0)));
      }
    }
  }
}

/** torch.optim.Adam: the weight decay is an L2 penalty added to the gradient (timm's `--opt adam`). */
export class Adam extends AdamW {
  protected override readonly decoupled: boolean = false;
}
