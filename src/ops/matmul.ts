/**
 * Batched matrix multiply with optionally transposed operands: [..., M, K] @ [..., K, N].
 * Batch axes must match or one side must have none / a batch of 1 (broadcast without copying). Under
 * autocast the GEMMs multiply bfloat16 copies of the operands (and of the incoming gradient); results
 * and gradients stay float32.
 */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { broadcastShapes, fmtShape, shapeEq, sizeOf } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { gemmDType, toBf16 } from './autocast.js';
import { sum } from './reduce.js';
import { expandTo } from './shape.js';

export interface MatmulOptions {
  /** Use the last two axes of `a` transposed. */
  transA?: boolean;
  /** Use the last two axes of `b` transposed. */
  transB?: boolean;
  /** Scale of the product (attention's 1/sqrt(headDim)), fused into the GEMM. */
  alpha?: number;
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
  const batchShape = broadcastShapes('matmul (batch axes)', ab, bb);
  const batch = sizeOf(batchShape);
  return { m, n, k: ka, batchShape, batch, aBatched: sizeOf(ab) > 1, bBatched: sizeOf(bb) > 1 };
}

/**
 * An operand whose batch axes are neither complete nor a single matrix is expanded to the full batch
 * (a copy, whose gradient sums back); a single matrix is broadcast with batch stride 0 instead.
 */
function alignBatch(x: Tensor, batchShape: number[]): Tensor {
  const own = x.shape.slice(0, -2);
  if (sizeOf(own) === 1 || shapeEq(own, batchShape)) return x;
  return expandTo(x, [...batchShape, ...x.shape.slice(-2)]);
}

function matmulRaw(a: Tensor, b: Tensor, transA: boolean, transB: boolean, alpha: number): Tensor {
  const p = plan(a, b, transA, transB);
  const out = Tensor.empty([...p.batchShape, p.m, p.n]);
  dispatch.matmul({
    a,
    b,
    c: out,
    m: p.m,
    n: p.n,
    k: p.k,
    transA,
    transB,
    batch: p.batch,
    strideA: p.aBatched ? p.m * p.k : 0,
    strideB: p.bBatched ? p.k * p.n : 0,
    strideC: p.m * p.n,
    alpha,
  });
  return out;
}

/** Sums a batched gradient over the batch when the operand was broadcast. */
function unbatch(g: Tensor, like: Tensor, batched: boolean): Tensor {
  if (batched || (g.rank === like.rank && shapeEq(g.shape, like.shape))) return g.view(like.shape);
  const axes = g.shape.slice(0, -2).map((_, i) => i);
  const s = axes.length > 0 ? sum(g, axes) : g.view(g.shape);
  const out = s.view(like.shape);
  s.dispose();
  return out;
}

export function matmul(a0: Tensor, b0: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const alpha = opts.alpha ?? 1;
  const batchShape = plan(a0, b0, transA, transB).batchShape;
  const a = alignBatch(a0, batchShape);
  const b = alignBatch(b0, batchShape);
  const p = plan(a, b, transA, transB);
  const half = gemmDType() === 'bfloat16';
  const as = half ? toBf16(a) : a; // the GEMM operands (bfloat16 copies under autocast)
  const bs = half ? toBf16(b) : b;
  const out = matmulRaw(as, bs, transA, transB, alpha);
  record(out, { name: 'matmul', attrs: { transA, transB, alpha } }, [a, b], (dy0) => {
    const dy = half ? toBf16(dy0) : dy0;
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a.requiresGrad) {
      // op(A)' = dY op(B)ᵀ, transposed back when A was used transposed.
      const g = transA ? matmulRaw(bs, dy, transB, true, alpha) : matmulRaw(dy, bs, false, !transB, alpha);
      ga = unbatch(g, a, p.aBatched);
      g.dispose();
    }
    if (b.requiresGrad) {
      const g = transB ? matmulRaw(dy, as, true, transA, alpha) : matmulRaw(as, dy, !transA, false, alpha);
      gb = unbatch(g, b, p.bBatched);
      g.dispose();
    }
    if (dy !== dy0) dy.dispose();
    return [ga, gb];
  });
  if (!out.requiresGrad) {
    if (as !== a) as.dispose();
    if (bs !== b) bs.dispose();
  }
  return out;
}
