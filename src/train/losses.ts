/**
 * Training losses: the base criterion (cross-entropy with smoothing, soft targets, or BCE), and DeiT's
 * distillation losses against a teacher's logits.
 */
import { noGrad } from '../autograd/tape.js';
import { add, mul, sub } from '../ops/binary.js';
import { bceWithLogits } from '../ops/bce_with_logits.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { intTensor, tensor } from '../ops/creation.js';
import { sum } from '../ops/reduce.js';
import { affine } from '../ops/scalar.js';
import { logSoftmax } from '../ops/softmax.js';
import { exp } from '../ops/unary.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * KL(teacher || student) at temperature tau, as DeiT:
 * `kl_div(log_softmax(s/τ), log_softmax(t/τ), 'sum', log_target=True) * τ² / s.numel()`.
 */
export function softDistillationLoss(student: Tensor, teacher: Tensor, tau: number): Tensor {
  const ls = logSoftmax(affine(student, 1 / tau));
  const lt = noGrad(() => logSoftmax(affine(teacher, 1 / tau)));
  const kl = sum(
    mul(
      noGrad(() => exp(lt)),
      sub(lt, ls),
    ),
  );
  return affine(kl, (tau * tau) / student.size);
}

/** Cross-entropy against the teacher's arg-max class. */
export function hardDistillationLoss(student: Tensor, teacher: Tensor): Tensor {
  const [b, c] = teacher.shape;
  const labels = new Int32Array(b);
  const t = teacher.data;
  for (let i = 0; i < b; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (t[i * c + j] > t[i * c + best]) best = j;
    labels[i] = best;
  }
  return crossEntropy(student, { kind: 'labels', labels: intTensor(labels) });
}

export type Criterion =
  | { kind: 'cross-entropy'; smoothing: number }
  /** Mixup/cutmix soft targets (smoothing already folded in by the mixer). */
  | { kind: 'soft-target' }
  /** DeiT `--bce-loss`: BCE against (smoothed) one-hot or mixed targets. */
  | { kind: 'bce'; smoothing: number };

/** Targets of one batch: integer labels and, after mixup/cutmix, dense soft targets [B, C]. */
export interface BatchTargets {
  labels: Tensor;
  soft: Tensor | null;
}

export function baseLoss(criterion: Criterion, logits: Tensor, targets: BatchTargets): Tensor {
  switch (criterion.kind) {
    case 'cross-entropy':
      return targets.soft
        ? crossEntropy(logits, { kind: 'soft', targets: targets.soft })
        : crossEntropy(logits, { kind: 'labels', labels: targets.labels, smoothing: criterion.smoothing });
    case 'soft-target':
      if (!targets.soft) throw new Error('soft-target loss needs mixup/cutmix targets');
      return crossEntropy(logits, { kind: 'soft', targets: targets.soft });
    case 'bce': {
      const dense = targets.soft ?? smoothedOneHot(targets.labels, logits.shape[1], criterion.smoothing);
      return bceWithLogits(logits, dense);
    }
  }
}

function smoothedOneHot(labels: Tensor, classes: number, smoothing: number): Tensor {
  const b = labels.size;
  const off = smoothing / classes;
  const t = new Float32Array(b * classes).fill(off);
  labels.ints.forEach((y, i) => (t[i * classes + y] = 1 - smoothing + off));
  return tensor(t, [b, classes]);
}

export type Distillation =
  { kind: 'none' } | { kind: 'soft'; alpha: number; tau: number } | { kind: 'hard'; alpha: number };

/**
 * DeiT's DistillationLoss: base loss on the class head, mixed with a distillation loss on the
 * distillation head: (1-α)·base + α·distill.
 */
export function distillationLoss(
  distillation: Distillation,
  base: Tensor,
  distStudent: Tensor,
  teacherLogits: Tensor | null,
): Tensor {
  switch (distillation.kind) {
    case 'none':
      return base;
    case 'soft':
    case 'hard': {
      if (!teacherLogits) throw new Error(`distillation '${distillation.kind}' needs a teacher`);
      const d =
        distillation.kind === 'soft'
          ? softDistillationLoss(distStudent, teacherLogits, distillation.tau)
          : hardDistillationLoss(distStudent, teacherLogits);
      return add(affine(base, 1 - distillation.alpha), affine(d, distillation.alpha));
    }
  }
}
