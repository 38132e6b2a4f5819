/**
 * Reverse-mode automatic differentiation.
 *
 * Every op records a GradFn on its output when gradients are enabled and one of its inputs requires
 * them; `backward` walks the recorded graph from the loss in reverse topological order. Intermediate
 * gradients are disposed as soon as they are consumed, and leaf gradients are accumulated into
 * `leaf.grad`, which outlives every `tidy` scope.
 */
import { dispatch } from '../backend/dispatch.js';
import { Tensor } from '../tensor/tensor.js';
import type { GradFn } from './grad_fn.js';

let gradEnabled = true;

/**
 * Attributes of an op as it ran (axis, eps, heads, ...): what a tracer needs besides the op's name,
 * inputs and output to state the op elsewhere (the ONNX exporter). Not used by autograd.
 */
export type OpAttrs = Readonly<Record<string, number | boolean | readonly number[] | Tensor>>;

/** One op as it ran, seen by a tracer. */
export interface TracedOp {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly attrs: OpAttrs;
}

let tracer: ((op: TracedOp) => void) | null = null;

/**
 * Runs `fn` with every recorded op (whether or not a graph is built) also reported to `onOp`, in
 * execution order. Tracers do not nest.
 */
export function withTracer<T>(onOp: (op: TracedOp) => void, fn: () => T): T {
  if (tracer) throw new Error('withTracer: a trace is already running');
  tracer = onOp;
  try {
    return fn();
  } finally {
    tracer = null;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording any graph (evaluation, optimizer updates, backward itself). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** An op's name, with its attributes where a tracer needs them to state the op elsewhere. */
export type OpLabel = string | { readonly name: string; readonly attrs: OpAttrs };

/**
 * Attaches a backward function to `out` when any input requires a gradient and recording is on.
 * Returns `out` so ops can end with `return record(...)`.
 */
export function record(
  out: Tensor,
  label: OpLabel,
  inputs: readonly Tensor[],
  backward: (dy: Tensor, into?: readonly (Tensor | null)[]) => readonly (Tensor | null)[],
  options: { bf16Grad?: boolean; accumulates?: boolean } = {},
): Tensor {
  const name = typeof label === 'string' ? label : label.name;
  tracer?.({ name, inputs, output: out, attrs: typeof label === 'string' ? {} : label.attrs });
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    const { bf16Grad = false, accumulates = false } = options;
    out.gradFn = { name, inputs, backward, bf16Grad, accumulates };
  }
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<number>();
  // Iterative DFS (graphs of deep models overflow the call stack when recursed).
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root.id);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.requiresGrad && !seen.has(next.id)) {
        seen.add(next.id);
        stack.push([next, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

/**
 * Backpropagates from `root`. Without `seed`, root must hold a single value and the seed is 1.
 * Leaf gradients accumulate (call `zeroGrad` between steps).
 */
export function backward(root: Tensor, seed?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error(`backward: ${root.describe()} does not require grad (no parameter contributed to it)`);
  }
  if (!seed && root.size !== 1) {
    throw new Error(`backward: ${root.describe()} is not a scalar; pass the gradient of the output`);
  }
  const order = topoOrder(root);
  const grads = new Map<number, Tensor>();
  noGrad(() => {
    const start = seed ? seed.view(root.shape) : Tensor.empty(root.shape);
    if (!seed) start.data[0] = 1;
    grads.set(root.id, start);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const got = grads.get(t.id);
      if (!got) continue;
      grads.delete(t.id);
      const fn: GradFn | null = t.gradFn;
      // A bfloat16 gradient reaches only ops that take one; the others (and leaves) get it widened.
      const g = got.dtype === 'bfloat16' && !fn?.bf16Grad ? widen(got) : got;
      if (fn === null) {
        accumulateLeaf(t, g);
        g.dispose();
        continue;
      }
      // Gradients an op may add into in place: float32 ones no other tensor shares.
      const into = fn.accumulates
        ? fn.inputs.map((input) => {
            const prev = grads.get(input.id);
            return prev && prev.dtype === 'float32' && prev.ownsStorage ? prev : null;
          })
        : undefined;
      const inputGrads = fn.backward(g, into);
      const accumulated = (j: number): boolean => into !== undefined && inputGrads[j] === into[j];
      fn.inputs.forEach((input, j) => {
        const ig = inputGrads[j];
        if (!ig || !input.requiresGrad || accumulated(j)) return;
        // Each entry owns its own view, so that an op returning one tensor for several inputs
        // (add returns dy for both) never sees it disposed twice.
        const prev = grads.get(input.id);
        grads.set(input.id, prev ? addInto(prev, ig) : ig.view(input.shape));
      });
      inputGrads.forEach((ig, j) => {
        if (!accumulated(j)) ig?.dispose();
      });
      g.dispose();
    }
  });
  for (const g of grads.values()) g.dispose();
}

/** A float32 copy of a bfloat16 gradient (exact). */
function widened(g: Tensor): Tensor {
  const out = Tensor.empty(g.shape);
  dispatch.cast({ x: g, out });
  return out;
}

/** widened(g), and g disposed. */
function widen(g: Tensor): Tensor {
  const out = widened(g);
  g.dispose();
  return out;
}

/** prev + g (in float32) as a fresh tensor; prev is disposed. */
function addInto(prev: Tensor, g: Tensor): Tensor {
  const a = prev.dtype === 'bfloat16' ? widen(prev) : prev;
  const b = g.dtype === 'bfloat16' ? widened(g) : g;
  const out = Tensor.empty(a.shape);
  dispatch.binary({ op: 'add', a, aStrides: [1], b, bStrides: [1], out, shape: [a.size] });
  a.dispose();
  if (b !== g) b.dispose();
  return out;
}

/** Adds g into leaf.grad; the first gradient is adopted (a view of g) when nothing else shares it. */
function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.grad === null || leaf.grad.isDisposed) {
    let first: Tensor;
    if (g.ownsStorage) {
      first = g.view(leaf.shape);
    } else {
      first = Tensor.empty(leaf.shape);
      first.data.set(g.data);
    }
    first.name = leaf.name ? `${leaf.name}.grad` : undefined;
    leaf.grad = first.keep();
    return;
  }
  const acc = leaf.grad;
  dispatch.binary({ op: 'add', a: acc, aStrides: [1], b: g, bStrides: [1], out: acc, shape: [acc.size] });
}
