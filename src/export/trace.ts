/**
 * Tracing a model's own forward pass: every op it runs, as recorded by the autograd tape, with its
 * inputs, output and attributes. The exporter states these ops in ONNX; nothing here knows what a
 * Vision Transformer is.
 *
 * The forward runs twice, at two batch sizes, so that every dimension can be classified as fixed or
 * as a multiple of the batch size (`k * batch`): the exported graph keeps the batch axis dynamic.
 */
import { noGrad, withTracer, type OpAttrs, type TracedOp } from '../autograd/tape.js';
import type { Module } from '../nn/module.js';
import { tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';

/** A dimension: fixed, or `k` times the batch size. */
export type SymDim = number | { readonly batch: number };
export type SymShape = readonly SymDim[];

/** Where a value of the traced graph comes from. */
export type ValueSource =
  | { readonly kind: 'input' }
  | { readonly kind: 'state'; readonly name: string; readonly tensor: Tensor }
  | { readonly kind: 'op'; readonly index: number }
  | {
      readonly kind: 'constant';
      readonly dtype: Tensor['dtype'];
      readonly shape: readonly number[];
      readonly data: Float32Array | Int32Array;
    };

export interface TraceValue {
  readonly id: number;
  readonly source: ValueSource;
  readonly shape: SymShape;
}

export interface TraceOp {
  readonly name: string;
  readonly inputs: readonly TraceValue[];
  readonly output: TraceValue;
  /** The op's attributes; tensor-valued attributes (an index table) are resolved to values. */
  readonly attrs: Readonly<Record<string, number | boolean | readonly number[] | TraceValue>>;
}

export interface Trace {
  readonly input: TraceValue;
  readonly ops: readonly TraceOp[];
  readonly output: TraceValue;
}

export class TraceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

interface RawValue {
  readonly tensor: Tensor;
  readonly source: ValueSource;
}

interface RawOp {
  readonly name: string;
  readonly inputs: readonly RawValue[];
  readonly output: Tensor;
  readonly attrs: Readonly<Record<string, number | boolean | readonly number[] | RawValue>>;
}

/** Runs `forward` on a zero input of `shape` and records every op, resolving where each input comes from. */
function traceOnce(
  model: Module,
  shape: readonly number[],
  forward: (x: Tensor) => Tensor,
): { input: Tensor; ops: RawOp[]; output: Tensor } {
  const state = new Map<Tensor, string>();
  for (const [name, t] of model.stateDict()) state.set(t, name);
  const produced = new Set<Tensor>();
  const constants = new Map<Tensor, RawValue>();
  const ops: RawOp[] = [];
  let input: Tensor | null = null;
  const resolve = (t: Tensor): RawValue => {
    if (t === input) return { tensor: t, source: { kind: 'input' } };
    const stateName = state.get(t);
    if (stateName !== undefined) return { tensor: t, source: { kind: 'state', name: stateName, tensor: t } };
    if (produced.has(t)) return { tensor: t, source: { kind: 'op', index: -1 } };
    // Made inside forward by no recorded op: its values are captured now (it may be freed later).
    let c = constants.get(t);
    if (!c) {
      const data = t.dtype === 'float32' ? Float32Array.from(t.data) : Int32Array.from(t.ints);
      c = { tensor: t, source: { kind: 'constant', dtype: t.dtype, shape: [...t.shape], data } };
      constants.set(t, c);
    }
    return c;
  };
  const onOp = (op: TracedOp): void => {
    const attrs: Record<string, number | boolean | readonly number[] | RawValue> = {};
    for (const [k, v] of Object.entries(op.attrs as OpAttrs)) attrs[k] = v instanceof Tensor ? resolve(v) : v;
    ops.push({ name: op.name, inputs: op.inputs.map(resolve), output: op.output, attrs });
    produced.add(op.output);
  };
  let output: Tensor | null = null;
  noGrad(() =>
    tidy(() => {
      input = Tensor.empty(shape);
      input.data.fill(0);
      output = withTracer(onOp, () => forward(input as Tensor));
      return [];
    }),
  );
  return { input: input as unknown as Tensor, ops, output: output as unknown as Tensor };
}

function symShape(
  a: readonly number[],
  b: readonly number[],
  batchA: number,
  batchB: number,
  what: string,
): SymShape {
  if (a.length !== b.length) throw new TraceError(`${what}: its rank depends on the batch size`);
  return a.map((da, i) => {
    const db = b[i];
    if (da === db) return da;
    const k = da / batchA;
    if (Number.isInteger(k) && k * batchB === db) return { batch: k };
    throw new TraceError(
      `${what}: dimension ${i} is ${da} at batch ${batchA} and ${db} at batch ${batchB}, not a multiple of the batch size`,
    );
  });
}

/**
 * Traces `forward` on inputs [batch, ...sampleShape] at two batch sizes and merges the two runs into
 * one graph whose shapes are symbolic in the batch size. Throws a TraceError when the two runs differ
 * in anything but batch-proportional dimensions (an op, an attribute, a constant).
 */
export function traceForward(
  model: Module,
  sampleShape: readonly number[],
  forward: (x: Tensor) => Tensor,
): Trace {
  const [batchA, batchB] = [2, 3];
  const a = traceOnce(model, [batchA, ...sampleShape], forward);
  const b = traceOnce(model, [batchB, ...sampleShape], forward);
  if (a.ops.length !== b.ops.length)
    throw new TraceError(
      `the forward pass runs ${a.ops.length} ops at batch ${batchA} and ${b.ops.length} at batch ${batchB}`,
    );

  const values = new Map<Tensor, TraceValue>();
  let nextId = 0;
  const input: TraceValue = {
    id: nextId++,
    source: { kind: 'input' },
    shape: [{ batch: 1 }, ...sampleShape],
  };
  values.set(a.input, input);
  const valueOf = (ra: RawValue, rb: RawValue, what: string): TraceValue => {
    if (ra.source.kind !== rb.source.kind)
      throw new TraceError(`${what} comes from different places at different batch sizes`);
    switch (ra.source.kind) {
      case 'input':
        return input;
      case 'op': {
        const v = values.get(ra.tensor);
        if (!v) throw new TraceError(`${what}: produced by an op outside the trace`);
        return v;
      }
      case 'state': {
        const sb = rb.source as typeof ra.source;
        if (sb.name !== ra.source.name) throw new TraceError(`${what}: ${ra.source.name} vs ${sb.name}`);
        let v = values.get(ra.tensor);
        if (!v) {
          v = { id: nextId++, source: ra.source, shape: [...ra.tensor.shape] };
          values.set(ra.tensor, v);
        }
        return v;
      }
      case 'constant': {
        const ca = ra.source;
        const cb = rb.source as typeof ca;
        const same = cb.shape.join() === ca.shape.join() && cb.data.every((x, i) => Object.is(x, ca.data[i]));
        if (!same)
          throw new TraceError(`${what}: a tensor made inside the forward pass depends on the batch size`);
        let v = values.get(ra.tensor);
        if (!v) {
          v = { id: nextId++, source: ra.source, shape: [...ra.source.shape] };
          values.set(ra.tensor, v);
        }
        return v;
      }
    }
  };

  const ops: TraceOp[] = a.ops.map((oa, i) => {
    const ob = b.ops[i];
    const what = `op ${i} (${oa.name})`;
    if (oa.name !== ob.name || oa.inputs.length !== ob.inputs.length)
      throw new TraceError(`${what} differs between batch sizes (${ob.name} at batch ${batchB})`);
    const inputs = oa.inputs.map((x, j) => valueOf(x, ob.inputs[j], `input ${j} of ${what}`));
    const attrs: Record<string, number | boolean | readonly number[] | TraceValue> = {};
    for (const [k, va] of Object.entries(oa.attrs)) {
      const vb = ob.attrs[k];
      if (typeof va === 'object' && 'tensor' in va) {
        attrs[k] = valueOf(va, vb as RawValue, `attribute ${k} of ${what}`);
      } else {
        if (JSON.stringify(va) !== JSON.stringify(vb))
          throw new TraceError(
            `${what}: attribute ${k} depends on the batch size (${JSON.stringify(va)} vs ${JSON.stringify(vb)})`,
          );
        attrs[k] = va;
      }
    }
    const output: TraceValue = {
      id: nextId++,
      source: { kind: 'op', index: i },
      shape: symShape(oa.output.shape, ob.output.shape, batchA, batchB, `the output of ${what}`),
    };
    values.set(oa.output, output);
    return { name: oa.name, inputs, output, attrs };
  });
  const output = values.get(a.output);
  if (!output || output.source.kind !== 'op')
    throw new TraceError('the model output is not computed by a recorded op');
  return { input, ops, output };
}
