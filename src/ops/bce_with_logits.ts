/** Binary cross-entropy on logits against targets in [0, 1], mean over all elements (DeiT `--bce-loss`). */
import { record } from '../autograd/tape.js';
import { shapeEq } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

export function bceWithLogits(logits: Tensor, targets: Tensor): Tensor {
  if (!shapeEq(logits.shape, targets.shape)) {
    throw new Error(
      `bceWithLogits: logits ${logits.describe()} and targets ${targets.describe()} differ in shape`,
    );
  }
  const x = logits.data;
  const t = targets.data;
  const n = logits.size;
  let total = 0;
  // Stable form: max(x, 0) - x t + log(1 + exp(-|x|)).
  for (let i = 0; i < n; i++)
    total += Math.max(x[i], 0) - x[i] * t[i] + Math.log1p(Math.exp(-Math.abs(x[i])));
  const out = Tensor.empty([]);
  out.data[0] = total / n;
  return record(out, 'bceWithLogits', [logits], (dy) => {
    const g = dy.data[0] / n;
    const dx = Tensor.empty(logits.shape);
    for (let i = 0; i < n; i++) dx.data[i] = (1 / (1 + Math.exp(-x[i])) - t[i]) * g;
    return [dx];
  });
}
