/**
 * y = x Wᵀ + b with W in PyTorch's [out, in] layout; the bias is fused into the GEMM. Leading axes of x
 * are flattened into rows, so one GEMM serves [B, N, D] token tensors.
 */
import { record } from '../autograd/tape.js';
import { getBackend } from '../backend/registry.js';
import { Tensor } from '../tensor/tensor.js';

export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
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
  const out = Tensor.empty([...x.shape.slice(0, -1), n]);
  const backend = getBackend();
  backend.matmul({
    a: x.data,
    b: weight.data,
    c: out.data,
    m: rows,
    n,
    k,
    transA: false,
    transB: true,
    batch: 1,
    strideA: 0,
    strideB: 0,
    strideC: 0,
    alpha: 1,
    beta: 0,
    bias: bias?.data,
  });
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(out, 'linear', inputs, (dy) => {
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape); // [rows, n] @ [n, k]
      backend.matmul({
        a: dy.data,
        b: weight.data,
        c: dx.data,
        m: rows,
        n: k,
        k: n,
        transA: false,
        transB: false,
        batch: 1,
        strideA: 0,
        strideB: 0,
        strideC: 0,
        alpha: 1,
        beta: 0,
      });
    }
    if (weight.requiresGrad) {
      dw = Tensor.empty(weight.shape); // [n, rows] @ [rows, k]
      backend.matmul({
        a: dy.data,
        b: x.data,
        c: dw.data,
        m: n,
        n: k,
        k: rows,
        transA: true,
        transB: false,
        batch: 1,
        strideA: 0,
        strideB: 0,
        strideC: 0,
        alpha: 1,
        beta: 0,
      });
    }
    if (bias?.requiresGrad) {
      db = Tensor.empty(bias.shape);
      backend.reduceSum(dy.data, db.data, 1, rows, n);
    }
    return bias ? [dx, dw, db] : [dx, dw];
  });
}
