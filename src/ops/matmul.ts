/**
 * Batched matrix multiply with optionally transposed operands: [..., M, K] @ [..., K, N].
 * Batch axes must match or one side must have none / a batch of 1 (broadcast without copying).
 */
import { record } from '../autograd/tape.js';
import { getBackend } from '../backend/registry.js';
import { fmtShape, shapeEq, sizeOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { sum } from './reduce.js';

export interface MatmulOptions {
  /** Use the last two axes of `a` transposed. */
  transA?: boolean;
  /** Use the last two axes of `b` transposed. */
  transB?: boolean;
}

interface Plan {
  m: number;
  n: number;
  k: number;
  batchShape: number[];
  batch: number;
  aBatched: boolean;
  bBatched: boolean;
}

function plan(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Plan {
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`matmul: operands need at least 2 axes, got ${a.describe()} and ${b.describe()}`);
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, ka] = transA ? [ac, ar] : [ar, ac];
  const [kb, n] = transB ? [bc, br] : [br, bc];
  if (ka !== kb) {
    throw new Error(
      `matmul: inner dimensions differ: ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} @ ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''} (${ka} vs ${kb})`,
    );
  }
  const ab = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const aN = sizeOf(ab);
  const bN = sizeOf(bb);
  let batchShape: number[];
  if (shapeEq(ab, bb)) batchShape = ab;
  else if (aN === 1) batchShape = bb;
  else if (bN === 1) batchShape = ab;
  else {
    throw new Error(`matmul: batch shapes ${fmtShape(ab)} and ${fmtShape(bb)} do not match`);
  }
  const batch = sizeOf(batchShape);
  return { m, n, k: ka, batchShape, batch, aBatched: aN === batch && batch > 1, bBatched: bN === batch && batch > 1 };
}

function matmulRaw(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const p = plan(a, b, transA, transB);
  const out = Tensor.empty([...p.batchShape, p.m, p.n]);
  getBackend().matmul({
    a: a.data,
    b: b.data,
    c: out.data,
    m: p.m,
    n: p.n,
    k: p.k,
    transA,
    transB,
    batch: p.batch,
    strideA: p.aBatched ? p.m * p.k : 0,
    strideB: p.bBatched ? p.k * p.n : 0,
    strideC: p.m * p.n,
    alpha: 1,
    beta: 0,
  });
  return out;
}

/** Sums a batched gradient over the batch when the operand was broadcast. */
function unbatch(g: Tensor, like: Tensor, batched: boolean): Tensor {
  if (batched || g.rank === like.rank && shapeEq(g.shape, like.shape)) return g.view(like.shape);
  const axes = g.shape.slice(0, -2).map((_, i) => i);
  const s = axes.length > 0 ? sum(g, axes) : g.view(g.shape);
  const out = s.view(like.shape);
  s.dispose();
  return out;
}

export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const p = plan(a, b, transA, transB);
  const out = matmulRaw(a, b, transA, transB);
  return record(out, 'matmul', [a, b], (dy) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a.requiresGrad) {
      // op(A)' = dY op(B)ᵀ, transposed back when A was used transposed.
      const g = transA ? matmulRaw(b, dy, transB, true) : matmulRaw(dy, b, false, !transB);
      ga = unbatch(g, a, p.aBatched);
      g.dispose();
    }
    if (b.requiresGrad) {
      const g = transB ? matmulRaw(dy, a, true, transA) : matmulRaw(a, dy, !transA, false);
      gb = unbatch(g, b, p.bBatched);
      g.dispose();
    }
    return [ga, gb];
  });
}
