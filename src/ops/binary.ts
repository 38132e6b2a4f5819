/** add, sub, mul, div with NumPy broadcasting; gradients are summed back over broadcast axes. */
import { record } from '../autograd/tape.js';
import type { BinaryOp } from '../backend/backend.js';
import { dispatch } from '../backend/dispatch.js';
import { broadcastShapes, broadcastStrides, shapeEq } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { sumToShape } from './sum_to_shape.js';

function checkFloat(op: string, ...xs: Tensor[]): void {
  for (const x of xs) if (x.dtype !== 'float32') throw new Error(`${op}: ${x.describe()} must be float32`);
}

/** Raw broadcast binary kernel call (no graph). */
export function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = Tensor.empty(shape);
  if (shapeEq(a.shape, b.shape)) {
    dispatch.binary({ op, a, aStrides: [1], b, bStrides: [1], out, shape: [out.size] });
  } else {
    const aStrides = broadcastStrides(a.shape, shape);
    dispatch.binary({ op, a, aStrides, b, bStrides: broadcastStrides(b.shape, shape), out, shape });
  }
  return out;
}

export function add(a: Tensor, b: Tensor): Tensor {
  checkFloat('add', a, b);
  const out = binaryRaw('add', a, b);
  return record(out, 'add', [a, b], (dy) => [
    a.requiresGrad ? sumToShape(dy, a.shape) : null,
    b.requiresGrad ? sumToShape(dy, b.shape) : null,
  ]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  checkFloat('sub', a, b);
  const out = binaryRaw('sub', a, b);
  return record(out, 'sub', [a, b], (dy) => {
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      const s = sumToShape(dy, b.shape);
      gb = Tensor.empty(b.shape);
      dispatch.affine({ x: s, out: gb, alpha: -1 });
      s.dispose();
    }
    return [a.requiresGrad ? sumToShape(dy, a.shape) : null, gb];
  });
}

export function mul(a: Tensor, b: Tensor): Tensor {
  checkFloat('mul', a, b);
  const out = binaryRaw('mul', a, b);
  return record(out, 'mul', [a, b], (dy) => [
    a.requiresGrad ? reduceProduct(dy, b, a.shape) : null,
    b.requiresGrad ? reduceProduct(dy, a, b.shape) : null,
  ]);
}

/** sumToShape(dy * other, shape). */
function reduceProduct(dy: Tensor, other: Tensor, shape: readonly number[]): Tensor {
  const p = binaryRaw('mul', dy, other);
  const g = sumToShape(p, shape);
  p.dispose();
  return g;
}

export function div(a: Tensor, b: Tensor): Tensor {
  checkFloat('div', a, b);
  const out = binaryRaw('div', a, b);
  return record(out, 'div', [a, b], (dy) => {
    const ga = a.requiresGrad
      ? (() => {
          const q = binaryRaw('div', dy, b);
          const g = sumToShape(q, a.shape);
          q.dispose();
          return g;
        })()
      : null;
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      // d(a/b)/db = -out / b
      const q = binaryRaw('div', out, b);
      const p = binaryRaw('mul', dy, q);
      const s = sumToShape(p, b.shape);
      gb = Tensor.empty(b.shape);
      dispatch.affine({ x: s, out: gb, alpha: -1 });
      q.dispose();
      p.dispose();
      s.dispose();
    }
    return [ga, gb];
  });
}
