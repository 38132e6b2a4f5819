/** Shared optimizer plumbing: parameter groups, gradient clipping, zeroing. */
import { dispatch } from '../backend/dispatch.js';
import type { Tensor } from '../tensor/tensor.js';

export interface ParamGroup {
  params: Tensor[];
  weightDecay: number;
  /** Current learning rate of the group (schedulers write it). */
  lr: number;
}

export interface ParamGroupSpec {
  params: Tensor[];
  weightDecay?: number;
}

export abstract class Optimizer {
  readonly groups: ParamGroup[];

  constructor(groups: ParamGroupSpec[], lr: number, defaultWeightDecay: number) {
    if (!(lr >= 0)) throw new Error(`optimizer: learning rate must be >= 0, got ${lr}`);
    this.groups = groups.map((g) => ({
      params: g.params,
      weightDecay: g.weightDecay ?? defaultWeightDecay,
      lr,
    }));
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.requiresGrad) throw new Error(`optimizer: parameter ${p.describe()} does not require grad`);
      }
    }
  }

  setLr(lr: number): void {
    for (const g of this.groups) g.lr = lr;
  }

  /** One lr per group, in group order (what a scheduler sets). */
  setGroupLrs(lrs: readonly number[]): void {
    if (lrs.length !== this.groups.length)
      throw new Error(`optimizer: ${lrs.length} learning rates for ${this.groups.length} parameter groups`);
    this.groups.forEach((g, i) => (g.lr = lrs[i]));
  }

  /** Parameters in group order, the index PyTorch's optimizer state dict uses. */
  allParams(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  zeroGrad(): void {
    for (const p of this.allParams()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  abstract step(): void;

  /** Releases the optimizer's state tensors (moments, momentum buffers). */
  abstract dispose(): void;
}

/** Global L2 norm of all gradients (torch.nn.utils.clip_grad_norm_ semantics), scaling them down to maxNorm. */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  let sq = 0;
  for (const p of params) if (p.grad) sq += dispatch.sumSquares({ x: p.grad });
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const p of params) if (p.grad) dispatch.affine({ x: p.grad, out: p.grad, alpha: coef });
  }
  return norm;
}
