/** Reductions over axes (sum, mean, max). */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { normAxis, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { expandTo, reshape } from './shape.js';
import { reduceSumRaw } from './sum_to_shape.js';

function normAxes(op: string, x: Tensor, axes: number | readonly number[] | undefined): number[] {
  const list = axes === undefined ? x.shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : [...axes];
  const norm = [...new Set(list.map((a) => normAxis(op, a, x.rank)))];
  return norm.sort((a, b) => a - b);
}

function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

export function sum(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  const ax = normAxes('sum', x, axes);
  const raw = reduceSumRaw(x, ax);
  const out = keepDim ? raw.view(keptShape(x.shape, ax)) : raw;
  if (out !== raw) raw.dispose();
  const attrs = { axes: ax, keepDim };
  return record(out, { name: 'sum', attrs }, [x], (dy) => [
    expandTo(dy.view(keptShape(x.shape, ax)), x.shape),
  ]);
}

export function mean(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  const ax = normAxes('mean', x, axes);
  const count = ax.reduce((n, a) => n * x.shape[a], 1);
  const raw = reduceSumRaw(x, ax);
  const out = Tensor.empty(keepDim ? keptShape(x.shape, ax) : raw.shape);
  dispatch.affine({ x: raw, out, alpha: 1 / count });
  raw.dispose();
  return record(out, { name: 'mean', attrs: { axes: ax, keepDim } }, [x], (dy) => {
    const scaled = Tensor.empty(dy.shape);
    dispatch.affine({ x: dy, out: scaled, alpha: 1 / count });
    const g = expandTo(scaled.view(keptShape(x.shape, ax)), x.shape);
    scaled.dispose();
    return [g];
  });
}

/** Maximum over axes (all by default); the gradient flows to the (first) arg-max. */
export function max(x: Tensor, axes?: number | readonly number[], keepDim = false): Tensor {
  const ax = normAxes('max', x, axes);
  // One axis at a time, last first, keeping dims so the remaining indices stay valid.
  let cur = x;
  for (let i = ax.length - 1; i >= 0; i--) cur = maxAxis(cur, ax[i]);
  return keepDim
    ? cur
    : reshape(
        cur,
        x.shape.filter((_, i) => !ax.includes(i)),
      );
}

/** Max over one axis, keeping it with size 1. */
function maxAxis(x: Tensor, a: number): Tensor {
  const outer = x.shape.slice(0, a).reduce((p, d) => p * d, 1);
  const r = x.shape[a];
  const inner = x.shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const kept = keptShape(x.shape, [a]);
  const out = Tensor.empty(kept);
  const arg = Tensor.emptyInt([outer * inner]);
  dispatch.reduceMax({ x, out, argmax: arg, outer, r, inner });
  return record(out, { name: 'max', attrs: { axis: a } }, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dx.data.fill(0);
    const g = dy.data;
    const idx = arg.ints;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        dx.data[(o * r + idx[o * inner + i]) * inner + i] = g[o * inner + i];
      }
    }
    return [dx];
  });
}
