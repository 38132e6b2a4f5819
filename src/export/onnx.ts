/**
 * ONNX export: the model's own forward pass, traced op by op (trace.ts), with each lape op stated as
 * ONNX nodes. There is no second statement of the model here: a LaPE block, an RPE bias or a distilled
 * head exports because its forward runs ops that have ONNX lowerings, and a new op without one fails
 * the export naming the op.
 *
 * The graph: input `pixel_values` float32 [batch, C, H, W] (normalized as for `forward`), output
 * `logits` float32 [batch, classes] (distilled models: the average of both heads, DeiT's eval output);
 * `batch` is a dynamic dimension. Parameters and buffers are initializers named by their state-dict keys.
 */
import { HOST_IS_LITTLE_ENDIAN } from '../io/host_tensor.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import { LAPE_VERSION } from '../version.js';
import {
  ATTR_FLOAT,
  ATTR_INT,
  ATTR_INTS,
  encodeOnnxModel,
  ONNX_FLOAT,
  ONNX_INT64,
  type OnnxAttribute,
  type OnnxNode,
  type OnnxTensor,
} from './onnx_proto.js';
import { traceForward, type SymDim, type SymShape, type TraceOp, type TraceValue } from './trace.js';

export const ONNX_INPUT_NAME = 'pixel_values';
export const ONNX_OUTPUT_NAME = 'logits';
/** The name of the dynamic batch dimension of the input and output. */
export const ONNX_BATCH_DIM = 'batch';
export const DEFAULT_OPSET = 17;
/** LayerNormalization is an ONNX op from opset 17 on; 21 is the newest opset this exporter was checked against. */
export const MIN_OPSET = 17;
export const MAX_OPSET = 21;

export interface OnnxExportOptions {
  /** ONNX opset version, MIN_OPSET..MAX_OPSET (default 17). */
  opset?: number;
  /** Extra `metadata_props` entries (string keys and values). */
  metadata?: Record<string, string>;
}

/** An export that cannot be done: the message names the option or op at fault. */
export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

const OPTION_KEYS: readonly (keyof OnnxExportOptions)[] = ['opset', 'metadata'];

function checkOptions(o: OnnxExportOptions): number {
  for (const k of Object.keys(o))
    if (!(OPTION_KEYS as readonly string[]).includes(k))
      throw new ExportError(`unsupported ONNX export option '${k}'; supported: ${OPTION_KEYS.join(', ')}`);
  const opset = o.opset ?? DEFAULT_OPSET;
  if (!(Number.isInteger(opset) && opset >= MIN_OPSET && opset <= MAX_OPSET))
    throw new ExportError(
      `unsupported opset ${o.opset}: lape exports opset ${MIN_OPSET}..${MAX_OPSET} (LayerNormalization needs ${MIN_OPSET})`,
    );
  for (const [k, v] of Object.entries(o.metadata ?? {}))
    if (typeof v !== 'string') throw new ExportError(`metadata '${k}' must be a string, got ${typeof v}`);
  return opset;
}

const isBatch = (d: SymDim): d is Exclude<SymDim, number> => typeof d === 'object';

const attr = {
  int: (name: string, i: number): OnnxAttribute => ({ name, type: ATTR_INT, i }),
  float: (name: string, f: number): OnnxAttribute => ({ name, type: ATTR_FLOAT, f }),
  ints: (name: string, ints: readonly number[]): OnnxAttribute => ({
    name,
    type: ATTR_INTS,
    ints: [...ints],
  }),
};

function float32Bytes(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return bytes;
  const out = new Uint8Array(bytes.length);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

function int64Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
  return out;
}

/** Nodes and initializers of the graph being built, with cached constants. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private count = 0;
  private readonly constants = new Map<string, string>();
  private batchSize: string | null = null;

  constructor(
    readonly opset: number,
    private readonly input: string,
  ) {}

  node(opType: string, inputs: readonly string[], attributes: OnnxAttribute[] = []): string {
    const n = this.count++;
    const output = `${opType}_${n}`;
    this.nodes.push({
      input: [...inputs],
      output: [output],
      name: `${opType}_${n}`,
      op_type: opType,
      attribute: attributes,
    });
    return output;
  }

  initializer(name: string, dims: readonly number[], dataType: number, raw: Uint8Array): string {
    this.initializers.push({ name, dims: [...dims], data_type: dataType, raw_data: raw });
    return name;
  }

  private cached(key: string, make: (name: string) => void): string {
    let name = this.constants.get(key);
    if (name === undefined) {
      name = `const_${this.constants.size}`;
      make(name);
      this.constants.set(key, name);
    }
    return name;
  }

  /** An int64 constant; `dims` [] makes a scalar. */
  int64s(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.cached(`i64:${dims.join('x')}:${values.join(',')}`, (n) =>
      this.initializer(n, dims, ONNX_INT64, int64Bytes(values)),
    );
  }

  /** A float32 scalar constant. */
  scalar(v: number): string {
    return this.cached(`f32:${Object.is(v, -0) ? '-0' : v}`, (n) =>
      this.initializer(n, [], ONNX_FLOAT, float32Bytes(Float32Array.of(v))),
    );
  }

  floats(dims: readonly number[], data: Float32Array): string {
    return this.initializer(`const_f${this.count++}`, dims, ONNX_FLOAT, float32Bytes(data));
  }

  /** The batch size as an int64 [1] tensor, read from the input. */
  batch(): string {
    this.batchSize ??= this.node('Shape', [this.input], [attr.int('start', 0), attr.int('end', 1)]);
    return this.batchSize;
  }

  /** An int64 shape tensor for a symbolic shape: a constant, or fixed parts concatenated with k * batch. */
  shape(s: SymShape): string {
    if (!s.some(isBatch)) return this.int64s(s as number[]);
    const parts: string[] = [];
    let run: number[] = [];
    for (const d of s) {
      if (!isBatch(d)) {
        run.push(d);
        continue;
      }
      if (run.length) parts.push(this.int64s(run));
      run = [];
      parts.push(d.batch === 1 ? this.batch() : this.node('Mul', [this.batch(), this.int64s([d.batch])]));
    }
    if (run.length) parts.push(this.int64s(run));
    return this.node('Concat', parts, [attr.int('axis', 0)]);
  }

  /** A Reshape target: constant when at most one dimension follows the batch size (it becomes -1). */
  reshapeTarget(s: SymShape): string {
    return s.filter(isBatch).length <= 1 ? this.int64s(s.map((d) => (isBatch(d) ? -1 : d))) : this.shape(s);
  }
}

interface LoweringContext {
  readonly g: GraphBuilder;
  readonly op: TraceOp;
  /** The ONNX names of the op's inputs. */
  readonly x: readonly string[];
  /** The ONNX name of a value (a tensor-valued attribute). */
  value(v: TraceValue): string;
}

type Lowering = (c: LoweringContext) => string;

function num(op: TraceOp, key: string): number {
  const v = op.attrs[key];
  if (typeof v !== 'number') throw new ExportError(`op '${op.name}' lacks its numeric attribute '${key}'`);
  return v;
}

function flag(op: TraceOp, key: string): boolean {
  const v = op.attrs[key];
  if (typeof v !== 'boolean') throw new ExportError(`op '${op.name}' lacks its boolean attribute '${key}'`);
  return v;
}

function nums(op: TraceOp, key: string): readonly number[] {
  const v = op.attrs[key];
  if (!Array.isArray(v)) throw new ExportError(`op '${op.name}' lacks its list attribute '${key}'`);
  return v as readonly number[];
}

function fixed(op: TraceOp, s: SymShape, what: string): number[] {
  return s.map((d, i) => {
    if (isBatch(d)) {
      if (i === 0 && d.batch === 1) return 0; // Reshape's 0: copy the batch dimension from the input
      throw new ExportError(
        `op '${op.name}': ${what} has a batch-dependent dimension ${i}, which it cannot export`,
      );
    }
    return d;
  });
}

const binary =
  (opType: string): Lowering =>
  ({ g, x }) =>
    g.node(opType, [x[0], x[1]]);

const unary =
  (opType: string): Lowering =>
  ({ g, x }) =>
    g.node(opType, [x[0]]);

/** Reduction axes as an attribute (opset < 18 for ReduceMean/ReduceMax) or as an input. */
function reduce(g: GraphBuilder, opType: string, x: string, axes: readonly number[], keep: boolean): string {
  const axesAsInput = opType === 'ReduceSum' || g.opset >= 18;
  const keepdims = attr.int('keepdims', keep ? 1 : 0);
  return axesAsInput
    ? g.node(opType, [x, g.int64s(axes)], [keepdims])
    : g.node(opType, [x], [attr.ints('axes', axes), keepdims]);
}

/** Swaps the last two axes of a rank-r tensor. */
function transposeLast(g: GraphBuilder, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return g.node('Transpose', [x], [attr.ints('perm', perm)]);
}

const LOWERINGS: Readonly<Record<string, Lowering>> = {
  reshape: ({ g, op, x }) => g.node('Reshape', [x[0], g.reshapeTarget(op.output.shape)]),
  expand: ({ g, op, x }) => g.node('Expand', [x[0], g.shape(op.output.shape)]),
  permute: ({ g, op, x }) => g.node('Transpose', [x[0]], [attr.ints('perm', nums(op, 'perm'))]),
  concat: ({ g, op, x }) => g.node('Concat', x, [attr.int('axis', num(op, 'axis'))]),
  slice: ({ g, op, x }) => {
    const axis = num(op, 'axis');
    if (isBatch(op.inputs[0].shape[axis]))
      throw new ExportError(`op 'slice': slicing the batch axis cannot be exported`);
    return g.node('Slice', [
      x[0],
      g.int64s([num(op, 'start')]),
      g.int64s([num(op, 'end')]),
      g.int64s([axis]),
      g.int64s([num(op, 'step')]),
    ]);
  },
  add: binary('Add'),
  sub: binary('Sub'),
  mul: binary('Mul'),
  div: binary('Div'),
  affine: ({ g, op, x }) => {
    const [alpha, beta] = [num(op, 'alpha'), num(op, 'beta')];
    let y = x[0];
    if (alpha !== 1) y = g.node('Mul', [y, g.scalar(alpha)]);
    if (beta !== 0) y = g.node('Add', [y, g.scalar(beta)]);
    return alpha === 1 && beta === 0 ? g.node('Identity', [y]) : y;
  },
  pow: ({ g, op, x }) => g.node('Pow', [x[0], g.scalar(num(op, 'p'))]),
  neg: unary('Neg'),
  exp: unary('Exp'),
  log: unary('Log'),
  sqrt: unary('Sqrt'),
  tanh: unary('Tanh'),
  erf: unary('Erf'),
  relu: unary('Relu'),
  abs: unary('Abs'),
  rsqrt: ({ g, x }) => g.node('Reciprocal', [g.node('Sqrt', [x[0]])]),
  square: ({ g, x }) => g.node('Mul', [x[0], x[0]]),
  // Exact (erf) GELU: x * 0.5 * (1 + erf(x / sqrt 2)), the pattern onnxruntime fuses into one kernel.
  gelu: ({ g, x }) => {
    const e = g.node('Erf', [g.node('Div', [x[0], g.scalar(Math.SQRT2)])]);
    return g.node('Mul', [g.node('Mul', [x[0], g.node('Add', [e, g.scalar(1)])]), g.scalar(0.5)]);
  },
  softmax: ({ g, x }) => g.node('Softmax', [x[0]], [attr.int('axis', -1)]),
  logSoftmax: ({ g, x }) => g.node('LogSoftmax', [x[0]], [attr.int('axis', -1)]),
  layerNorm: ({ g, op, x }) => {
    const cols = op.inputs[0].shape[op.inputs[0].shape.length - 1];
    if (isBatch(cols)) throw new ExportError(`op 'layerNorm' over the batch axis cannot be exported`);
    let i = 1;
    const weight = flag(op, 'weight') ? x[i++] : g.floats([cols], new Float32Array(cols).fill(1));
    const bias = flag(op, 'bias') ? x[i++] : null;
    const attrs = [attr.int('axis', -1), attr.float('epsilon', num(op, 'eps'))];
    const y = g.node('LayerNormalization', bias ? [x[0], weight, bias] : [x[0], weight], attrs);
    if (!flag(op, 'addend')) return y;
    // The fused addend tiles the rows; as an ONNX Add it must broadcast (PE [T, D] over [B, T, D]).
    const addend = op.inputs[i].shape;
    const xs = op.inputs[0].shape;
    const broadcasts =
      addend.length <= xs.length &&
      addend.every((d, j) => d === 1 || d === xs[xs.length - addend.length + j]);
    if (!broadcasts) throw new ExportError(`op 'layerNorm': its addend does not broadcast over its input`);
    return g.node('Add', [y, x[i]]);
  },
  linear: ({ g, x }) => {
    const y = g.node('MatMul', [x[0], g.node('Transpose', [x[1]], [attr.ints('perm', [1, 0])])]);
    return x.length > 2 ? g.node('Add', [y, x[2]]) : y;
  },
  matmul: ({ g, op, x }) => {
    const a = flag(op, 'transA') ? transposeLast(g, x[0], op.inputs[0].shape.length) : x[0];
    const b = flag(op, 'transB') ? transposeLast(g, x[1], op.inputs[1].shape.length) : x[1];
    const y = g.node('MatMul', [a, b]);
    const alpha = num(op, 'alpha');
    return alpha === 1 ? y : g.node('Mul', [y, g.scalar(alpha)]);
  },
  // Multi-head attention from the packed qkv [B, M, 3D], as the attention op defines it.
  attention: ({ g, op, x }) => {
    if (flag(op, 'dropout'))
      throw new ExportError(`op 'attention' with dropout cannot be exported (eval mode has none)`);
    const [, m, three] = fixed(op, op.inputs[0].shape, 'qkv');
    const h = num(op, 'heads');
    const d = three / 3;
    const hd = d / h;
    const split = g.node(
      'Transpose',
      [g.node('Reshape', [x[0], g.int64s([0, m, 3, h, hd])])],
      [attr.ints('perm', [2, 0, 3, 1, 4])],
    ); // [3, B, H, M, hd]
    const part = (i: number): string => g.node('Gather', [split, g.int64s([i], [])], [attr.int('axis', 0)]); // [B, H, M, hd]
    const [q, k, v] = [part(0), part(1), part(2)];
    let logits = g.node('Mul', [g.node('MatMul', [q, transposeLast(g, k, 4)]), g.scalar(num(op, 'scale'))]); // [B, H, M, M]
    if (x.length > 1) logits = g.node('Add', [logits, x[1]]); // + bias [H, M, M]
    const ctx = g.node('MatMul', [g.node('Softmax', [logits], [attr.int('axis', -1)]), v]); // [B, H, M, hd]
    const tokens = g.node('Transpose', [ctx], [attr.ints('perm', [0, 2, 1, 3])]); // [B, M, H, hd]
    return g.node('Reshape', [tokens, g.int64s([0, m, d])]); // [B, M, D]
  },
  indexSelect: ({ g, op, x, value }) => {
    const index = op.attrs.index;
    if (typeof index !== 'object' || Array.isArray(index))
      throw new ExportError(`op 'indexSelect' lacks its index`);
    return g.node('Gather', [x[0], value(index as TraceValue)], [attr.int('axis', 0)]);
  },
  padLeading2d: ({ g, op, x }) => {
    const p = num(op, 'p');
    const rank = op.inputs[0].shape.length;
    const begin = Array.from({ length: rank }, (_, i) => (i >= rank - 2 ? p : 0));
    return g.node('Pad', [x[0], g.int64s([...begin, ...new Array<number>(rank).fill(0)])]);
  },
  // [B, C, H, W] -> [B, gh*gw, C*p*p], patches row-major, each (c, i, j).
  patchify: ({ g, op, x }) => {
    const p = num(op, 'p');
    const [, c, h, w] = fixed(op, op.inputs[0].shape, 'the image');
    const [gh, gw] = [h / p, w / p];
    const blocks = g.node('Reshape', [x[0], g.int64s([0, c, gh, p, gw, p])]);
    const patches = g.node('Transpose', [blocks], [attr.ints('perm', [0, 2, 4, 1, 3, 5])]); // [B, gh, gw, C, p, p]
    return g.node('Reshape', [patches, g.int64s([0, gh * gw, c * p * p])]);
  },
  // [B, C, H, W] -> [B, C*kh*kw, L]: a convolution with one-hot kernels gathers each window, row (c, i, j).
  im2col: ({ g, op, x }) => {
    const [kh, kw, stride, pad] = ['kh', 'kw', 'stride', 'pad'].map((k) => num(op, k));
    const [, c] = fixed(op, op.inputs[0].shape, 'the image');
    const rows = c * kh * kw;
    const eye = new Float32Array(rows * rows);
    for (let r = 0; r < rows; r++) eye[r * rows + r] = 1; // weight [rows, C, kh, kw] flattens to [rows, rows]
    const cols = g.node(
      'Conv',
      [x[0], g.floats([rows, c, kh, kw], eye)],
      [
        attr.ints('kernel_shape', [kh, kw]),
        attr.ints('strides', [stride, stride]),
        attr.ints('pads', [pad, pad, pad, pad]),
      ],
    );
    return g.node('Reshape', [cols, g.reshapeTarget(op.output.shape)]);
  },
  maxPool2d: ({ g, op, x }) => {
    const [k, s, p] = [num(op, 'kernel'), num(op, 'stride'), num(op, 'padding')];
    return g.node(
      'MaxPool',
      [x[0]],
      [attr.ints('kernel_shape', [k, k]), attr.ints('strides', [s, s]), attr.ints('pads', [p, p, p, p])],
    );
  },
  sum: ({ g, op, x }) => reduce(g, 'ReduceSum', x[0], nums(op, 'axes'), flag(op, 'keepDim')),
  mean: ({ g, op, x }) => reduce(g, 'ReduceMean', x[0], nums(op, 'axes'), flag(op, 'keepDim')),
  max: ({ g, op, x }) => reduce(g, 'ReduceMax', x[0], [num(op, 'axis')], true),
};

/** The ops of the trace that the output depends on, in order. */
function liveOps(ops: readonly TraceOp[], output: TraceValue): TraceOp[] {
  const needed = new Set<number>([output.id]);
  const live: TraceOp[] = [];
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i];
    if (!needed.has(op.output.id)) continue;
    live.push(op);
    for (const v of op.inputs) needed.add(v.id);
    for (const a of Object.values(op.attrs))
      if (typeof a === 'object' && !Array.isArray(a)) needed.add((a as TraceValue).id);
  }
  return live.reverse();
}

const symDims = (s: SymShape): (number | string)[] =>
  s.map((d) => (isBatch(d) ? (d.batch === 1 ? ONNX_BATCH_DIM : `${ONNX_BATCH_DIM}*${d.batch}`) : d));

/** What to trace: any module whose forward maps one float32 input to one output tensor. */
export interface TracedGraph {
  module: Module;
  /** The input's shape without its batch axis. */
  sampleShape: readonly number[];
  forward: (x: Tensor) => Tensor;
  docString: string;
  metadata: Record<string, string>;
}

/** Traces `forward` and states it as an ONNX model (bytes). */
export function exportGraph(spec: TracedGraph, opset: number): Uint8Array {
  const trace = traceForward(spec.module, spec.sampleShape, spec.forward);
  const g = new GraphBuilder(opset, ONNX_INPUT_NAME);
  const names = new Map<number, string>([[trace.input.id, ONNX_INPUT_NAME]]);
  const value = (v: TraceValue): string => {
    const known = names.get(v.id);
    if (known !== undefined) return known;
    let name: string;
    switch (v.source.kind) {
      case 'state': {
        const t = v.source.tensor;
        name =
          t.dtype === 'float32'
            ? g.initializer(v.source.name, t.shape, ONNX_FLOAT, float32Bytes(t.data))
            : g.initializer(v.source.name, t.shape, ONNX_INT64, int64Bytes(t.ints));
        break;
      }
      case 'constant': {
        const c = v.source;
        name =
          c.data instanceof Float32Array
            ? g.floats(c.shape, c.data)
            : g.initializer(`const_i${names.size}`, c.shape, ONNX_INT64, int64Bytes(c.data));
        break;
      }
      case 'input':
      case 'op':
        throw new ExportError(`value ${v.id} is used before it is computed`);
    }
    names.set(v.id, name);
    return name;
  };
  for (const op of liveOps(trace.ops, trace.output)) {
    const lower = LOWERINGS[op.name];
    if (!lower)
      throw new ExportError(
        `cannot export op '${op.name}' to ONNX (no lowering); ops with one: ${Object.keys(LOWERINGS).join(', ')}`,
      );
    names.set(op.output.id, lower({ g, op, x: op.inputs.map(value), value }));
  }
  // The last node's output takes the graph output's name.
  const last = names.get(trace.output.id) as string;
  for (const n of g.nodes) {
    n.output = n.output.map((o) => (o === last ? ONNX_OUTPUT_NAME : o));
    n.input = n.input.map((i) => (i === last ? ONNX_OUTPUT_NAME : i));
  }
  return encodeOnnxModel({
    opset,
    producerVersion: LAPE_VERSION,
    graphName: 'lape',
    docString: spec.docString,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: [{ name: ONNX_INPUT_NAME, elemType: ONNX_FLOAT, shape: symDims(trace.input.shape) }],
    outputs: [{ name: ONNX_OUTPUT_NAME, elemType: ONNX_FLOAT, shape: symDims(trace.output.shape) }],
    metadata: { 'lape.version': LAPE_VERSION, ...spec.metadata },
  });
}

/**
 * The model as an ONNX file (bytes): its eval-mode forward, traced, with input `pixel_values`
 * [batch, C, H, W] and output `logits` [batch, classes]. Throws an ExportError naming an unsupported
 * option or op. The model is left in the training mode it was in.
 */
export function exportOnnx(model: VisionTransformer, options: OnnxExportOptions = {}): Uint8Array {
  const opset = checkOptions(options);
  const { inChans, imgSize } = model.config;
  const wasTraining = model.training;
  model.eval();
  try {
    return exportGraph(
      {
        module: model,
        sampleShape: [inChans, imgSize, imgSize],
        forward: (x) => model.forward(x).logits,
        docString: `lape ${LAPE_VERSION}: input ${ONNX_INPUT_NAME} [batch, ${inChans}, ${imgSize}, ${imgSize}] float32 (normalized), output ${ONNX_OUTPUT_NAME} [batch, ${model.config.numClasses}]`,
        metadata: { 'lape.config': JSON.stringify(model.config), ...options.metadata },
      },
      opset,
    );
  } finally {
    model.train(wasTraining);
  }
}
