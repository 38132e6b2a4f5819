/**
 * Unrecorded summation over axes, and `sumToShape`, which reduces a broadcast gradient back to an
 * input's shape. Below both ops/reduce.ts (whose `sum` records a graph) and ops/shape.ts (whose
 * `expandTo` backward needs `sumToShape`), so that neither imports the other's module in a cycle.
 */
import { dispatch } from '../backend/dispatch.js';
import { fmtShape, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * Sums x over `axes` (sorted, unique) without recording a graph: adjacent reduced axes are merged into
 * one [outer, r, inner] pass.
 */
export function reduceSumRaw(x: Tensor, axes: readonly number[]): Tensor {
  let cur = x;
  let shape = [...x.shape];
  // Reduce from the last group to the first so earlier axis indices stay valid.
  let i = axes.length - 1;
  while (i >= 0) {
    let j = i;
    while (j > 0 && axes[j - 1] === axes[j] - 1) j--;
    const first = axes[j];
    const last = axes[i];
    const outer = shape.slice(0, first).reduce((a, b) => a * b, 1);
    const r = shape.slice(first, last + 1).reduce((a, b) => a * b, 1);
    const inner = shape.slice(last + 1).reduce((a, b) => a * b, 1);
    const nextShape = [...shape.slice(0, first), ...shape.slice(last + 1)];
    const out = Tensor.empty(nextShape);
    dispatch.reduceSum({ x: cur, out, outer, r, inner });
    if (cur !== x) cur.dispose();
    cur = out;
    shape = nextShape;
    i = j - 1;
  }
  return cur === x ? x.view(x.shape) : cur;
}

/** Sums a broadcast gradient back to `shape` (the shape of the op's input). Not recorded. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (g.rank < shape.length)
    throw new Error(`sumToShape: ${fmtShape(g.shape)} is smaller than ${fmtShape(shape)}`);
  const offset = g.rank - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    const target = i < offset ? 1 : shape[i - offset];
    if (target === 1 && d !== 1) axes.push(i);
    else if (i < offset) axes.push(i);
  });
  if (axes.length === 0) return g.view(shape);
  const raw = reduceSumRaw(g, axes);
  const out = raw.view(shape);
  raw.dispose();
  return out;
}
