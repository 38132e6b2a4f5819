/**
 * timm's `create_optimizer(args, model)` for the optimizers that make sense here: `adamw`, `adam`,
 * `sgd` (= `nesterov`: SGD with Nesterov momentum, as timm spells it), `momentum` (plain momentum
 * SGD) and `lamb`. Parameter groups as timm's `add_weight_decay`: with a weight decay, the no-decay
 * group first (rank <= 1, biases, the model's no-weight-decay names) and the decay group second;
 * with weight decay 0, one group of everything (so the optimizer state has one group, as PyTorch's).
 */
import { Adam, AdamW } from './adamw.js';
import { Lamb } from './lamb.js';
import type { Optimizer, ParamGroupSpec } from './optimizer.js';
import { Sgd } from './sgd.js';
import type { Tensor } from '../tensor/tensor.js';

export const OPTIMIZER_KINDS = ['adamw', 'adam', 'sgd', 'nesterov', 'momentum', 'lamb'] as const;
export type OptimizerKind = (typeof OPTIMIZER_KINDS)[number];

export interface OptimizerSettings {
  kind: OptimizerKind;
  lr: number;
  weightDecay: number;
  /** --opt-eps (Adam family, LAMB). */
  eps: number;
  /** --opt-betas (Adam family, LAMB). */
  betas: [number, number];
  /** --momentum (SGD). */
  momentum: number;
}

export function checkOptimizerKind(kind: string): OptimizerKind {
  if (!(OPTIMIZER_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`--opt: unknown optimizer '${kind}'; valid: ${OPTIMIZER_KINDS.join(', ')}`);
  }
  return kind as OptimizerKind;
}

/**
 * timm's add_weight_decay split: [no-decay, decay], or, when the decay is 0, one group of `all` (the
 * trainable parameters in model order, as `model.parameters()`).
 */
export function weightDecayGroups(
  all: Tensor[],
  split: { decay: Tensor[]; noDecay: Tensor[] },
  weightDecay: number,
): ParamGroupSpec[] {
  if (weightDecay === 0) return [{ params: all, weightDecay: 0 }];
  return [
    { params: split.noDecay, weightDecay: 0 },
    { params: split.decay, weightDecay },
  ];
}

export function createOptimizer(s: OptimizerSettings, groups: ParamGroupSpec[]): Optimizer {
  switch (checkOptimizerKind(s.kind)) {
    case 'adamw':
      return new AdamW(groups, { lr: s.lr, betas: s.betas, eps: s.eps });
    case 'adam':
      return new Adam(groups, { lr: s.lr, betas: s.betas, eps: s.eps });
    case 'sgd':
    case 'nesterov':
      return new Sgd(groups, { lr: s.lr, momentum: s.momentum, nesterov: true });
    case 'momentum':
      return new Sgd(groups, { lr: s.lr, momentum: s.momentum, nesterov: false });
    case 'lamb':
      return new Lamb(groups, { lr: s.lr, betas: s.betas, eps: s.eps });
  }
}
