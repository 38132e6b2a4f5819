/**
 * y = x Wᵀ + b with W in PyTorch's [out, in] layout; the bias is fused into the GEMM. Leading axes of x
 * are flattened into rows, so one GEMM serves [B, N, D] token tensors. Under autocast the three GEMMs
 * (forward, dx, dW) multiply bfloat16 copies of x, W and dy; dW and db stay float32, y and dx too
 * unless their consumers take bfloat16 (`feedsGemm`, `emptyGrad`).
 */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { Tensor } from '../tensor/tensor.js';
import { emptyGrad, emptyResult, gemmDType, toBf16, type GemmOperandOptions } from './autocast.js';

export function linear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  opts?: GemmOperandOptions,
): Tensor {
  if (weight.rank !== 2) throw new Error(`linear: weight ${weight.describe()} must be [out, in]`);
  const [n, k] = weight.shape;
  if (x.shape[x.rank - 1] !== k) {
    throw new Error(
      `linear: input ${x.describe()} has ${x.shape[x.rank - 1]} features, weight ${weight.describe()} expects ${k}`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== n)) {
    throw new Error(`linear: bias ${bias.describe()} must be [${n}] for weight ${weight.describe()}`);
  }
  const rows = x.size / k;
  const half = gemmDType() === 'bfloat16';
  const xs = half ? toBf16(x) : x; // the GEMM operands (bfloat16 copies under autocast)
  const ws = half ? toBf16(weight) : weight;
  const out = emptyResult([...x.shape.slice(0, -1), n], opts);
  dispatch.matmul({ a: xs, b: ws, c: out, m: rows, n, k, transB: true, bias }); // [rows, k] @ [n, k]ᵀ
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const backward = (dy: Tensor): (Tensor | null)[] => {
    const dys = half ? toBf16(dy) : dy;
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = emptyGrad(x, half);
      dispatch.matmul({ a: dys, b: ws, c: dx, m: rows, n: k, k: n }); // [rows, n] @ [n, k]
    }
    if (weight.requiresGrad) {
      dw = Tensor.empty(weight.shape);
      dispatch.matmul({ a: dys, b: xs, c: dw, m: n, n: k, k: rows, transA: true }); // [rows, n]ᵀ @ [rows, k]
    }
    if (bias?.requiresGrad) {
      db = Tensor.empty(bias.shape);
      dispatch.reduceSum({ x: dy, out: db, outer: 1, r: rows, inner: n });
    }
    if (dys !== dy) dys.dispose();
    return bias ? [dx, dw, db] : [dx, dw];
  };
  // Under autocast dy may arrive in bfloat16 (all three GEMMs would round it anyway; db sums it).
  record(out, 'linear', inputs, backward, { bf16Grad: half });
  if (!out.requiresGrad) {
    if (xs !== x) xs.dispose();
    if (ws !== weight) ws.dispose();
  }
  return out;
}
