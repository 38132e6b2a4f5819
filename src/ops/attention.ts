/**
 * Multi-head scaled dot-product self-attention straight from the packed qkv projection:
 * [B, M, 3D] -> context [B, M, D], with an optional additive logit bias [H, M, M] (relative position
 * bias) and dropout on the attention probabilities.
 *
 * q, k and v are strided views into qkv ([B, M, 3, H, hd] read as [B, H, M, hd]) and the context is
 * written straight into [B, M, H, hd] = [B, M, D], so neither direction copies a head permutation
 * (PyTorch's reference materializes four of them per layer). Forward and backward are side by side.
 */
import { record } from '../autograd/tape.js';
import type { MatrixView } from '../backend/backend.js';
import { dispatch } from '../backend/dispatch.js';
import type { Rng } from '../tensor/random.js';
import { fmtShape, shapeEq } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

export interface AttentionOptions {
  heads: number;
  /** Logit scale, usually headDim^-0.5. */
  scale: number;
  /** Added to the logits of every batch item: [H, M, M]. */
  bias?: Tensor | null;
  /** Dropout on the attention probabilities (training only). */
  dropout?: { p: number; rng: Rng } | null;
}

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
  const qkvData = qkv.data;
  // Views into qkv [B, M, 3, H, hd] as [B, H, M, hd] (row = token, col = channel).
  const part = (i: number, data = qkvData): MatrixView => ({
    data,
    offset: i * d,
    strides: [m * three, hd, three, 1],
  });
  const transposed = (v: MatrixView): MatrixView => ({
    ...v,
    strides: [v.strides[0], v.strides[1], v.strides[3], v.strides[2]],
  });
  const square = (data: Float32Array): MatrixView => ({ data, offset: 0, strides: [h * m * m, m * m, m, 1] });
  const batch = [b, h] as const;

  // logits = scale * q kᵀ (+ bias): the bias is copied in first and accumulated into (beta = 1).
  const probs = Tensor.empty([b, h, m, m]);
  if (bias) {
    const [srcStrides, dstStrides] = [
      [0, m * m, m, 1],
      [h * m * m, m * m, m, 1],
    ];
    dispatch.stridedCopy({ src: bias, srcStrides, dst: probs, dstStrides, shape: [b, h, m, m] });
  }
  dispatch.matmulStrided({
    a: part(0),
    b: transposed(part(1)),
    c: square(probs.data),
    batch,
    m,
    n: m,
    k: hd,
    alpha: opts.scale,
    beta: bias ? 1 : 0,
  });
  dispatch.softmax({ x: probs, y: probs, rows: b * h * m, cols: m });
  let mask: Tensor | null = null;
  let used = probs;
  if (opts.dropout && opts.dropout.p > 0) {
    mask = Tensor.empty([b, h, m, m]);
    dispatch.dropoutMask({ seed: opts.dropout.rng.seed(), p: opts.dropout.p, mask });
    used = Tensor.empty([b, h, m, m]);
    const flat = { aStrides: [1], bStrides: [1], shape: [used.size] };
    dispatch.binary({ op: 'mul', a: probs, b: mask, out: used, ...flat });
  }
  // context [B, M, H, hd] viewed as [B, H, M, hd].
  const out = Tensor.empty([b, m, d]);
  const ctx = (data: Float32Array): MatrixView => ({ data, offset: 0, strides: [m * d, hd, d, 1] });
  dispatch.matmulStrided({
    a: square(used.data),
    b: part(2),
    c: ctx(out.data),
    batch,
    m,
    n: hd,
    k: m,
    alpha: 1,
    beta: 0,
  });

  const inputs = bias ? [qkv, bias] : [qkv];
  const attrs = { heads: h, scale: opts.scale, dropout: mask !== null };
  record(out, { name: 'attention', attrs }, inputs, (dy) => {
    const dqkv = Tensor.empty(qkv.shape);
    const g = dqkv.data;
    const dyv = ctx(dy.data);
    // dv = Pᵀ dY ; dP = dY vᵀ
    dispatch.matmulStrided({
      a: transposed(square(used.data)),
      b: dyv,
      c: part(2, g),
      batch,
      m,
      n: hd,
      k: m,
      alpha: 1,
      beta: 0,
    });
    const dp = Tensor.empty([b, h, m, m]);
    dispatch.matmulStrided({
      a: dyv,
      b: transposed(part(2)),
      c: square(dp.data),
      batch,
      m,
      n: m,
      k: hd,
      alpha: 1,
      beta: 0,
    });
    if (mask) {
      const flat = { aStrides: [1], bStrides: [1], shape: [dp.size] };
      dispatch.binary({ op: 'mul', a: dp, b: mask, out: dp, ...flat });
    }
    // dS = softmax'(P) dP, then dq = scale dS k, dk = scale dSᵀ q.
    dispatch.softmaxBackward({ y: probs, dy: dp, dx: dp, rows: b * h * m, cols: m });
    dispatch.matmulStrided({
      a: square(dp.data),
      b: part(1),
      c: part(0, g),
      batch,
      m,
      n: hd,
      k: m,
      alpha: opts.scale,
      beta: 0,
    });
    dispatch.matmulStrided({
      a: transposed(square(dp.data)),
      b: part(0),
      c: part(1, g),
      batch,
      m,
      n: hd,
      k: m,
      alpha: opts.scale,
      beta: 0,
    });
    let dbias: Tensor | null = null;
    if (bias?.requiresGrad) {
      dbias = Tensor.empty(bias.shape);
      dispatch.reduceSum({ x: dp, out: dbias, outer: 1, r: b, inner: h * m * m });
    }
    dp.dispose();
    return bias ? [dqkv, dbias] : [dqkv];
  });
  if (!out.requiresGrad) {
    probs.dispose();
    mask?.dispose();
    if (used !== probs) used.dispose();
  }
  return out;
}
