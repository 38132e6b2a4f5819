/**
 * Cross-entropy on logits [B, C], mean over the batch, fused with its log-softmax: against integer
 * labels with optional label smoothing (torch.nn.CrossEntropyLoss(label_smoothing=ε)), or against soft
 * target distributions (timm's SoftTargetCrossEntropy, used with mixup/cutmix).
 */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { fmtShape, shapeEq } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

export type CrossEntropyTarget =
  { kind: 'labels'; labels: Tensor; smoothing?: number } | { kind: 'soft'; targets: Tensor };

/** Dense target distribution [B, C] implied by the target (labels become (1-ε)·onehot + ε/C). */
function targetDistribution(target: CrossEntropyTarget, b: number, c: number): Float32Array {
  switch (target.kind) {
    case 'labels': {
      const { labels } = target;
      const eps = target.smoothing ?? 0;
      if (labels.dtype !== 'int32' || labels.rank !== 1 || labels.shape[0] !== b) {
        throw new Error(`crossEntropy: labels ${labels.describe()} must be int32 [${b}]`);
      }
      if (!(eps >= 0 && eps < 1))
        throw new Error(`crossEntropy: label smoothing must be in [0, 1), got ${eps}`);
      const dist = new Float32Array(b * c).fill(eps / c);
      labels.ints.forEach((y, i) => {
        if (!(y >= 0 && y < c))
          throw new Error(`crossEntropy: label ${y} at position ${i} is outside [0, ${c})`);
        dist[i * c + y] += 1 - eps;
      });
      return dist;
    }
    case 'soft': {
      if (!shapeEq(target.targets.shape, [b, c])) {
        throw new Error(
          `crossEntropy: soft targets ${target.targets.describe()} must be ${fmtShape([b, c])}`,
        );
      }
      return target.targets.data;
    }
  }
}

export function crossEntropy(logits: Tensor, target: CrossEntropyTarget): Tensor {
  if (logits.rank !== 2)
    throw new Error(`crossEntropy: logits ${logits.describe()} must be [batch, classes]`);
  const [b, c] = logits.shape;
  const dist = targetDistribution(target, b, c);
  const logp = Tensor.empty([b, c]);
  dispatch.softmax({ x: logits, y: logp, rows: b, cols: c, log: true });
  let total = 0;
  for (let i = 0; i < b * c; i++) if (dist[i] !== 0) total -= dist[i] * logp.data[i];
  const out = Tensor.empty([]);
  out.data[0] = total / b;
  record(out, 'crossEntropy', [logits], (dy) => {
    // d/dlogits = (softmax - target) / B
    const g = dy.data[0] / b;
    const dx = Tensor.empty([b, c]);
    const lp = logp.data;
    for (let i = 0; i < b * c; i++) dx.data[i] = (Math.exp(lp[i]) - dist[i]) * g;
    return [dx];
  });
  if (!out.requiresGrad) logp.dispose();
  return out;
}
