/**
 * LAMB as timm's `Lamb` (timm 0.5.4, "similar in behaviour to APEX FusedLamb"): the gradients are
 * first divided by max(global grad norm / max_grad_norm, 1); Adam moments with bias correction; the
 * update (m_hat / (sqrt(v_hat) + eps), plus wd * p) is scaled by the trust ratio ||p|| / ||update||
 * (1 when either norm is 0) for parameters with weight decay (all of them with always_adapt); then
 * p -= lr * update. The step count is per parameter group, as timm keeps it.
 *
 * Written over lape's element-wise ops and reductions rather than a fused kernel: LAMB is rarely the
 * bottleneck, and the ops are already checked against PyTorch on every backend.
 */
import { noGrad } from '../autograd/tape.js';
import { add, div } from '../ops/binary.js';
import { zeros } from '../ops/creation.js';
import { sum } from '../ops/reduce.js';
import { affine, mulScalar } from '../ops/scalar.js';
import { sqrt, square } from '../ops/unary.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Optimizer, type ParamGroupSpec } from './optimizer.js';

export interface LambOptions {
  lr: number;
  betas?: [number, number];
  /** timm's default is 1e-6; DeiT passes --opt-eps (1e-8). */
  eps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this before the update (default 1.0). */
  maxGradNorm?: number;
  /** LAMBC: clip the trust ratio at 1. */
  trustClip?: boolean;
  /** Adapt parameters without weight decay too. */
  alwaysAdapt?: boolean;
}

export interface LambParamState {
  expAvg: Tensor;
  expAvgSq: Tensor;
}

export class Lamb extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly maxGradNorm: number;
  readonly trustClip: boolean;
  readonly alwaysAdapt: boolean;
  readonly state = new Map<Tensor, LambParamState>();
  /** Steps taken, per parameter group (timm's group['step']). */
  readonly groupSteps: number[];

  constructor(groups: ParamGroupSpec[], opts: LambOptions) {
    super(groups, opts.lr, opts.weightDecay ?? 0.01);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-6;
    this.maxGradNorm = opts.maxGradNorm ?? 1.0;
    this.trustClip = opts.trustClip ?? false;
    this.alwaysAdapt = opts.alwaysAdapt ?? false;
    this.groupSteps = this.groups.map(() => 0);
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.expAvg.dispose();
      s.expAvgSq.dispose();
    }
    this.state.clear();
  }

  step(): void {
    noGrad(() => {
      let sq = 0;
      for (const p of this.allParams()) if (p.grad) sq += tidy(() => sum(square(p.grad as Tensor)).item());
      const globalNorm = Math.sqrt(sq);
      const clip = globalNorm > this.maxGradNorm ? globalNorm / this.maxGradNorm : 1;
      const [beta1, beta2] = this.betas;
      this.groups.forEach((g, gi) => {
        const step = ++this.groupSteps[gi];
        const bc1 = 1 - Math.pow(beta1, step);
        const bc2 = 1 - Math.pow(beta2, step);
        for (const p of g.params) {
          if (!p.grad) continue;
          let s = this.state.get(p);
          if (!s) {
            s = { expAvg: zeros(p.shape).keep(), expAvgSq: zeros(p.shape).keep() };
            this.state.set(p, s);
          }
          const st = s;
          tidy(() => {
            const grad = mulScalar(p.grad as Tensor, 1 / clip);
            const m = add(mulScalar(st.expAvg, beta1), mulScalar(grad, 1 - beta1));
            const v = add(mulScalar(st.expAvgSq, beta2), mulScalar(square(grad), 1 - beta2));
            st.expAvg.data.set(m.data);
            st.expAvgSq.data.set(v.data);
            const denom = affine(sqrt(v), 1 / Math.sqrt(bc2), this.eps);
            let update = div(mulScalar(m, 1 / bc1), denom);
            if (g.weightDecay !== 0) update = add(update, mulScalar(p, g.weightDecay));
            let trust = 1;
            if (g.weightDecay !== 0 || this.alwaysAdapt) {
              const wNorm = Math.sqrt(sum(square(p)).item());
              const uNorm = Math.sqrt(sum(square(update)).item());
              trust = wNorm > 0 && uNorm > 0 ? wNorm / uNorm : 1;
              if (this.trustClip) trust = Math.min(trust, 1);
            }
            const next = add(p, mulScalar(update, -g.lr * trust));
            p.data.set(next.data);
          });
        }
      });
    });
  }
}
