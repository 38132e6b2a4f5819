/**
 * Multi-head scaled dot-product self-attention straight from the packed qkv projection:
 * [B, M, 3D] -> context [B, M, D], with an optional additive logit bias [H, M, M] (relative position
 * bias) and dropout on the attention probabilities.
 *
 * q, k and v are strided views into qkv ([B, M, 3, H, hd] read as [B, H, M, hd]) and the context is
 * written straight into [B, M, H, hd] = [B, M, D], so neither direction copies a head permutation
 * (PyTorch's reference materializes four of them per layer). Forward and backward are side by side.
 *
 * Under autocast the four GEMMs multiply bfloat16 operands (qkv, the probabilities and the incoming
 * gradients, each rounded once) with float32 accumulation; the logits, the softmax arithmetic and its
 * gradient are float32. Dropout on the probabilities is fused into the softmax kernel in both
 * directions (it reads the mask), and under autocast the probabilities, their dropped copy and the
 * softmax gradient are each written once, in bfloat16.
 */
import { record } from '../autograd/tape.js';
import type { MatrixView } from '../backend/backend.js';
import { dispatch } from '../backend/dispatch.js';
import type { Rng } from '../tensor/random.js';
import { fmtShape, shapeEq } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { emptyGrad, emptyResult, gemmDType, toBf16, type GemmOperandOptions } from './autocast.js';
import { fillDropoutMask } from './dropout.js';

export interface AttentionOptions extends GemmOperandOptions {
  heads: number;
  /** Logit scale, usually headDim^-0.5. */
  scale: number;
  /** Added to the logits of every batch item: [H, M, M]. */
  bias?: Tensor | null;
  /** Dropout on the attention probabilities (training only). */
  dropout?: { p: number; rng: Rng } | null;
}

type View = MatrixView<Tensor>;

export function attention(qkv: Tensor, opts: AttentionOptions): Tensor {
  if (qkv.rank !== 3 || qkv.shape[2] % (3 * opts.heads) !== 0) {
    throw new Error(
      `attention: qkv ${qkv.describe()} must be [batch, tokens, 3 * heads * headDim] with ${opts.heads} heads`,
    );
  }
  const [b, m, three] = qkv.shape;
  const d = three / 3;
  const h = opts.heads;
  const hd = d / h;
  const bias = opts.bias ?? null;
  if (bias && !shapeEq(bias.shape, [h, m, m])) {
    throw new Error(`attention: bias ${bias.describe()} must be ${fmtShape([h, m, m])}`);
  }
  const half = gemmDType() === 'bfloat16';
  const gemmIn = (t: Tensor): Tensor => (half ? toBf16(t) : t);
  const qkvS = gemmIn(qkv); // the GEMMs' copy of qkv
  // Views into a [B, M, 3, H, hd] tensor as [B, H, M, hd] (row = token, col = channel).
  const part = (i: number, data: Tensor): View => ({
    data,
    offset: i * d,
    strides: [m * three, hd, three, 1],
  });
  const transposed = (v: View): View => ({
    ...v,
    strides: [v.strides[0], v.strides[1], v.strides[3], v.strides[2]],
  });
  const square = (data: Tensor): View => ({ data, offset: 0, strides: [h * m * m, m * m, m, 1] });
  // The context [B, M, H, hd] viewed as [B, H, M, hd].
  const ctx = (data: Tensor): View => ({ data, offset: 0, strides: [m * d, hd, d, 1] });
  const batch = [b, h];

  // logits = scale * q kᵀ (+ bias): the bias is copied in first and accumulated into (beta = 1).
  const logits = Tensor.empty([b, h, m, m]);
  if (bias) {
    const [srcStrides, dstStrides] = [
      [0, m * m, m, 1],
      [h * m * m, m * m, m, 1],
    ];
    dispatch.stridedCopy({ src: bias, srcStrides, dst: logits, dstStrides, shape: [b, h, m, m] });
  }
  const [q, k, v] = [part(0, qkvS), part(1, qkvS), part(2, qkvS)];
  const qk = { m, n: m, k: hd, alpha: opts.scale, beta: bias ? 1 : 0 };
  dispatch.matmulStrided({ a: q, b: transposed(k), c: square(logits), batch, ...qk });
  // The probabilities P are kept for the softmax gradient; the P v GEMM reads P, or P * mask with
  // dropout, which the same softmax pass writes. Under autocast both are written once, in bfloat16
  // (as PyTorch's autocast keeps them); in float32, P overwrites the logits.
  const dropout = opts.dropout && opts.dropout.p > 0 ? opts.dropout : null;
  const probs = half ? Tensor.emptyBf16([b, h, m, m]) : logits;
  let mask: Tensor | null = null;
  let usedS = probs; // the P v GEMM's operand
  if (dropout) {
    mask = Tensor.empty([b, h, m, m]);
    fillDropoutMask(dropout.rng.seed(), dropout.p, mask);
    usedS = half ? Tensor.emptyBf16([b, h, m, m]) : Tensor.empty([b, h, m, m]);
  }
  const rows = b * h * m;
  dispatch.softmax({ x: logits, y: probs, rows, cols: m, mask, dropped: mask ? usedS : null });
  if (probs !== logits) logits.dispose();
  const out = emptyResult([b, m, d], opts);
  dispatch.matmulStrided({ a: square(usedS), b: v, c: ctx(out), batch, m, n: hd, k: m });

  const inputs = bias ? [qkv, bias] : [qkv];
  const attrs = { heads: h, scale: opts.scale, dropout: mask !== null };
  const backward = (dy: Tensor): (Tensor | null)[] => {
    const dyS = gemmIn(dy);
    const dqkv = emptyGrad(qkv, half);
    // dv = Pᵀ dY ; dP = dY vᵀ
    dispatch.matmulStrided({
      a: transposed(square(usedS)),
      b: ctx(dyS),
      c: part(2, dqkv),
      batch,
      m,
      n: hd,
      k: m,
    });
    const dp = Tensor.empty([b, h, m, m]);
    dispatch.matmulStrided({ a: ctx(dyS), b: transposed(v), c: square(dp), batch, m, n: m, k: hd });
    if (dyS !== dy) dyS.dispose();
    // dS = softmax'(P) (dP * mask), then dq = scale dS k, dk = scale dSᵀ q. Under autocast dS is
    // written in bfloat16 for those GEMMs, unless the bias gradient needs it in float32 too.
    const wantBiasGrad = bias?.requiresGrad ?? false;
    const ds = half && !wantBiasGrad ? Tensor.emptyBf16([b, h, m, m]) : dp;
    dispatch.softmaxBackward({ y: probs, dy: dp, dx: ds, rows, cols: m, mask });
    const dsS = gemmIn(ds);
    const grad = { batch, m, n: hd, k: m, alpha: opts.scale };
    dispatch.matmulStrided({ a: square(dsS), b: k, c: part(0, dqkv), ...grad });
    dispatch.matmulStrided({ a: transposed(square(dsS)), b: q, c: part(1, dqkv), ...grad });
    if (dsS !== ds) dsS.dispose();
    if (ds !== dp) ds.dispose();
    let dbias: Tensor | null = null;
    if (bias?.requiresGrad) {
      dbias = Tensor.empty(bias.shape);
      dispatch.reduceSum({ x: dp, out: dbias, outer: 1, r: b, inner: h * m * m });
    }
    dp.dispose();
    return bias ? [dqkv, dbias] : [dqkv];
  };
  // Under autocast dy may arrive in bfloat16: both GEMMs that read it would round it anyway.
  record(out, { name: 'attention', attrs }, inputs, backward, { bf16Grad: half });
  if (!out.requiresGrad) {
    for (const t of new Set([logits, probs, mask, usedS, qkvS])) if (t && t !== qkv) t.dispose();
  }
  return out;
}
