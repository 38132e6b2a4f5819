/**
 * Layer normalization over the last axis (fused kernel), with optional affine parameters and an
 * optional fused addend broadcast over leading rows: LaPE's `norm1(x) + pe_l` in one pass, where
 * `pe_l` is [T+N, D] and x is [B, T+N, D].
 */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { Tensor } from '../tensor/tensor.js';
import { emptyResult, type GemmOperandOptions } from './autocast.js';
import { sumToShape } from './sum_to_shape.js';

export function layerNorm(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
  addend: Tensor | null = null,
  opts?: GemmOperandOptions,
): Tensor {
  const cols = x.shape[x.rank - 1];
  for (const [p, what] of [
    [weight, 'weight'],
    [bias, 'bias'],
  ] as const) {
    if (p && (p.rank !== 1 || p.shape[0] !== cols)) {
      throw new Error(`layerNorm: ${what} ${p.describe()} must be [${cols}] for input ${x.describe()}`);
    }
  }
  const rows = x.size / cols;
  let addRows = 0;
  if (addend) {
    addRows = addend.size / cols;
    if (addend.shape[addend.rank - 1] !== cols || !Number.isInteger(addRows) || rows % addRows !== 0) {
      throw new Error(`layerNorm: addend ${addend.describe()} does not tile input ${x.describe()}`);
    }
  }
  const out = emptyResult(x.shape, opts);
  const mean = Tensor.empty([rows]);
  const rstd = Tensor.empty([rows]);
  dispatch.layerNorm({
    x,
    gamma: weight,
    beta: bias,
    y: out,
    mean,
    rstd,
    rows,
    cols,
    eps,
    addend,
    addendRows: addend ? addRows : 0,
  });
  const inputs = [x, weight, bias, addend].filter((t): t is Tensor => t !== null);
  const attrs = { eps, weight: weight !== null, bias: bias !== null, addend: addend !== null };
  // dx is added straight into the gradient x has received so far when the tape offers it (a residual
  // stream: one pass instead of a norm's pass and an addition's).
  const backward = (dy: Tensor, into?: readonly (Tensor | null)[]): (Tensor | null)[] => {
    const acc = into?.[0] ?? null;
    const dx = acc ?? Tensor.empty(x.shape);
    const dw = weight ? Tensor.empty(weight.shape) : null;
    const db = bias ? Tensor.empty(bias.shape) : null;
    const args = { x, gamma: weight, mean, rstd, dy, dx, dgamma: dw, dbeta: db, rows, cols };
    dispatch.layerNormBackward({ ...args, accumulate: acc !== null });
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(dw);
    if (bias) grads.push(db);
    if (addend) grads.push(addend.requiresGrad ? sumToShape(dy, addend.shape) : null);
    return grads;
  };
  // A norm whose output feeds a GEMM under autocast takes that GEMM's gradient in bfloat16 (the
  // kernel widens it exactly); its own gradients are float32.
  record(out, { name: 'layerNorm', attrs }, inputs, backward, {
    bf16Grad: out.dtype === 'bfloat16',
    accumulates: true,
  });
  if (!out.requiresGrad) {
    mean.dispose();
    rstd.dispose();
  }
  return out;
}
