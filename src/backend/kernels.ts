/**
 * Every kernel of lape's engine, declared once (tfjs-style): its typed fields, the buffer extents its
 * sizes imply, and its further constraints. Backends implement exactly these (`Backend` in
 * backend.ts); ops call them through `kernels` (dispatch.ts), which checks each call against its
 * declaration before any backend runs it.
 *
 * Kernels work on raw, contiguous typed arrays and plain numbers: no tensors, no autograd, no
 * allocation. Outputs are written in full unless a kernel says it accumulates (`beta`, `accumulate`).
 */
import {
  buffer,
  checkReach,
  choice,
  flag,
  int,
  ints,
  kernel,
  number,
  optionalBuffer,
  size,
  view,
  type Args,
  type CallArgs,
  type KernelSpec,
  type ResultOf,
} from './kernel.js';

/** Element-wise unary functions; forward `y = f(x)`. */
export const UNARY_OPS = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'tanh',
  'erf',
  'gelu', // exact: x * 0.5 * (1 + erf(x / sqrt(2)))
  'relu',
  'abs',
  'square',
  'reciprocal',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];
/** The unary ops whose derivative is computed from the output y (the others need only x). */
export const UNARY_OPS_WITH_Y_DERIVATIVE: readonly UnaryOp[] = ['exp', 'sqrt', 'rsqrt', 'tanh', 'reciprocal'];

/** Element-wise binary functions with broadcasting. */
export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'max', 'min'] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

/** Largest rank of the strided kernels (binary, stridedCopy). */
export const MAX_RANK = 8;

const product = (dims: readonly number[]): number => dims.reduce((p, d) => p * d, 1);

/** Elements a batch of `batch` items `stride` apart, each `item` long, spans (0 when empty). */
const span = (batch: number, stride: number, item: number): number =>
  batch === 0 || item === 0 ? 0 : (batch - 1) * stride + item;

function sameLength(
  name: string,
  a: { length: number },
  other: string,
  b: { length: number },
): string | null {
  return a.length === b.length ? null : `'${name}' has ${a.length} elements, '${other}' ${b.length}`;
}

function firstError(...checks: (string | null)[]): string | null {
  return checks.find((c) => c !== null) ?? null;
}

/** The geometry of one image's 2-D window op (im2col, col2im, max-pool). */
const window2d = {
  height: size(),
  width: size(),
  kernelH: size(),
  kernelW: size(),
  stride: size(),
  pad: size(),
  outH: size(),
  outW: size(),
} as const;

/** Elements of one [channels, height, width] image, and of its im2col matrix. */
const imageSize = (g: Args<typeof window2d> & { channels: number }): number =>
  g.channels * g.height * g.width;
const columnsSize = (g: Args<typeof window2d> & { channels: number }): number =>
  g.channels * g.kernelH * g.kernelW * g.outH * g.outW;

function checkWindow(a: Args<typeof window2d>): string | null {
  if (a.stride < 1) return `'stride' must be >= 1, got ${a.stride}`;
  if (a.kernelH < 1 || a.kernelW < 1) return `kernel size must be >= 1, got ${a.kernelH}x${a.kernelW}`;
  return null;
}

/** A and B of a GEMM share one element type; C may differ (bf16 inputs accumulate in float32). */
function sameInputType(a: { constructor: unknown }, b: { constructor: unknown }): string | null {
  return a.constructor === b.constructor ? null : "'a' and 'b' must have the same element type";
}

export const KERNELS = {
  matmul: kernel({
    doc: 'Batched GEMM: C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] (+ bias on every row)',
    fields: {
      /** float32, or bfloat16 (mixed precision: products accumulate in float32). */
      a: buffer('f32', 'bf16'),
      b: buffer('f32', 'bf16'),
      c: buffer('f32', 'bf16'),
      /** Rows of op(A) and C. */
      m: size(),
      /** Columns of op(B) and C. */
      n: size(),
      /** Inner dimension. */
      k: size(),
      /** A is stored [k, m] and used transposed. */
      transA: flag(false),
      /** B is stored [n, k] and used transposed (PyTorch's Linear weight layout). */
      transB: flag(false),
      batch: size(1),
      /** Elements between consecutive batch items; 0 broadcasts the operand over the batch. */
      strideA: size(0),
      strideB: size(0),
      strideC: size(0),
      alpha: number(1),
      /** 0 overwrites C, 1 accumulates into it. */
      beta: number(0),
      /** Length n, added to every row of C (fused Linear). */
      bias: optionalBuffer('f32'),
    },
    check: ({ a, b }) => sameInputType(a, b),
    extents: ({ m, n, k, batch, strideA, strideB, strideC }) =>
      batch === 0 || m === 0 || n === 0
        ? {}
        : {
            a: span(batch, strideA, m * k),
            b: span(batch, strideB, k * n),
            c: span(batch, strideC, m * n),
            bias: n,
          },
  }),

  matmulStrided: kernel({
    doc: 'C = alpha * A @ B + beta * C for every (b0, b1): A [m, k], B [k, n], C [m, n], all strided views',
    fields: {
      a: view('f32', 'bf16'),
      b: view('f32', 'bf16'),
      c: view('f32', 'bf16'),
      /** The two batch levels [b0, b1] (e.g. [batch, heads]). */
      batch: ints(),
      m: size(),
      n: size(),
      k: size(),
      alpha: number(1),
      beta: number(0),
    },
    check: ({ a, b, c, batch, m, n, k }) =>
      batch.length !== 2 || batch.some((d) => d < 0)
        ? `'batch' must be two sizes [b0, b1], got [${batch.join(', ')}]`
        : k === 0 && product(batch) * m * n > 0
          ? "'k' must be positive"
          : firstError(
              sameInputType(a.data, b.data),
              checkReach('a', a.data, a.offset, a.strides, [batch[0], batch[1], m, k]),
              checkReach('b', b.data, b.offset, b.strides, [batch[0], batch[1], k, n]),
              checkReach('c', c.data, c.offset, c.strides, [batch[0], batch[1], m, n]),
            ),
  }),

  cast: kernel({
    doc: 'out = x converted between float32 and bfloat16 (round to nearest even; NaN stays NaN)',
    fields: { x: buffer('f32', 'bf16'), out: buffer('f32', 'bf16') },
    check: ({ x, out }) => sameLength('x', x, 'out', out),
  }),

  unary: kernel({
    doc: 'out = f(x) element-wise (x and out may be bfloat16: computed in float32, rounded on the store)',
    fields: { op: choice('unaryOp', UNARY_OPS), x: buffer('f32', 'bf16'), out: buffer('f32', 'bf16') },
    check: ({ x, out }) => sameLength('x', x, 'out', out),
  }),

  unaryBackward: kernel({
    doc: "dx = dy * f'(x); y = f(x) is passed for the ops whose derivative is cheapest from it",
    fields: {
      op: choice('unaryOp', UNARY_OPS),
      /** The forward input, as the forward read it (float32 or bfloat16). */
      x: buffer('f32', 'bf16'),
      /** The forward output; needed only by the ops in UNARY_OPS_WITH_Y_DERIVATIVE. */
      y: optionalBuffer('f32'),
      /** float32 or bfloat16 (a gradient passed between bfloat16 GEMMs under autocast). */
      dy: buffer('f32', 'bf16'),
      /** float32, or bfloat16 (computed in float32, then rounded) for a GEMM's operand. */
      dx: buffer('f32', 'bf16'),
    },
    check: ({ op, y, dy, dx }) =>
      !y && UNARY_OPS_WITH_Y_DERIVATIVE.includes(op)
        ? `'${op}' needs its forward output 'y'`
        : sameLength('dy', dy, 'dx', dx),
    extents: ({ dy }) => ({ x: dy.length, y: dy.length }),
  }),

  affine: kernel({
    doc: 'out = x * alpha + beta element-wise (covers add and multiply by a scalar)',
    fields: { x: buffer('f32'), out: buffer('f32'), alpha: number(), beta: number(0) },
    check: ({ x, out }) => sameLength('x', x, 'out', out),
  }),

  pow: kernel({
    doc: 'out = x ** p element-wise',
    fields: { x: buffer('f32'), out: buffer('f32'), p: number() },
    check: ({ x, out }) => sameLength('x', x, 'out', out),
  }),

  binary: kernel({
    doc: 'out[idx] = a[idx . aStrides] op b[idx . bStrides] over the output shape (rank <= 8)',
    fields: {
      op: choice('binaryOp', BINARY_OPS),
      a: buffer('f32'),
      /** Strides of a against the output shape; 0 on a broadcast axis. */
      aStrides: ints(),
      b: buffer('f32'),
      bStrides: ints(),
      out: buffer('f32'),
      shape: ints(),
    },
    check: ({ a, aStrides, b, bStrides, shape }) =>
      shape.length > MAX_RANK
        ? `rank ${shape.length} > ${MAX_RANK}`
        : shape.some((d) => d < 0)
          ? `bad shape [${shape.join(', ')}]`
          : product(shape) === 0
            ? null
            : firstError(checkReach('a', a, 0, aStrides, shape), checkReach('b', b, 0, bStrides, shape)),
    extents: ({ shape }) => ({ out: product(shape) }),
  }),

  reduceSum: kernel({
    doc: 'Sum of x viewed as [outer, r, inner] over the middle axis into [outer, inner]',
    /** x may be bfloat16 (a bias gradient from a bfloat16 gradient); the sum is float32. */
    fields: { x: buffer('f32', 'bf16'), out: buffer('f32'), outer: size(), r: size(), inner: size() },
    extents: ({ outer, r, inner }) => ({ x: outer * r * inner, out: outer * inner }),
  }),

  reduceMax: kernel({
    doc: 'Max of x viewed as [outer, r, inner] over the middle axis (NaN propagates), with its index',
    fields: {
      x: buffer('f32'),
      out: buffer('f32'),
      /** Receives the index along r of each maximum. */
      argmax: optionalBuffer('i32'),
      outer: size(),
      r: size(),
      inner: size(),
    },
    check: ({ outer, r, inner }) => (r === 0 && outer * inner > 0 ? "empty reduction axis ('r' is 0)" : null),
    extents: ({ outer, r, inner }) => ({ x: outer * r * inner, out: outer * inner, argmax: outer * inner }),
  }),

  stridedCopy: kernel({
    doc: 'dst[dstOffset + idx . dstStrides] (+)= src[srcOffset + idx . srcStrides] over shape (rank <= 8)',
    fields: {
      src: buffer('f32'),
      srcOffset: size(0),
      srcStrides: ints(),
      dst: buffer('f32'),
      dstOffset: size(0),
      dstStrides: ints(),
      shape: ints(),
      /** Add into dst instead of overwriting it. */
      accumulate: flag(false),
    },
    check: ({ src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape }) =>
      shape.length > MAX_RANK
        ? `rank ${shape.length} > ${MAX_RANK}`
        : shape.some((d) => d < 0)
          ? `bad shape [${shape.join(', ')}]`
          : product(shape) === 0
            ? null
            : firstError(
                checkReach('src', src, srcOffset, srcStrides, shape),
                checkReach('dst', dst, dstOffset, dstStrides, shape),
              ),
  }),

  softmax: kernel({
    doc: 'Row-wise softmax (or log-softmax) over the last axis of [rows, cols]; y may be bfloat16',
    fields: {
      x: buffer('f32'),
      y: buffer('f32', 'bf16'),
      rows: size(),
      cols: size(),
      log: flag(false),
      /** Dropout fused into the same pass: `dropped = y * mask` (y in float32, then rounded). */
      mask: optionalBuffer('f32'),
      dropped: optionalBuffer('f32', 'bf16'),
    },
    check: ({ mask, dropped, log }) =>
      !mask !== !dropped
        ? "'mask' and 'dropped' go together"
        : mask && log
          ? 'dropout is fused into softmax, not log-softmax'
          : null,
    extents: ({ rows, cols }) => ({
      x: rows * cols,
      y: rows * cols,
      mask: rows * cols,
      dropped: rows * cols,
    }),
  }),

  softmaxBackward: kernel({
    doc: 'softmax: dx = y * (g - sum(g * y)), g = dy (* mask); log-softmax: dx = dy - exp(y) * sum(dy), row-wise',
    fields: {
      /** The forward output (float32, or bfloat16 as the forward wrote it). */
      y: buffer('f32', 'bf16'),
      dy: buffer('f32'),
      /** float32 (may be dy itself), or bfloat16 for a GEMM's operand. */
      dx: buffer('f32', 'bf16'),
      rows: size(),
      cols: size(),
      log: flag(false),
      /** The forward's dropout mask: dy is the gradient of `y * mask`. */
      mask: optionalBuffer('f32'),
    },
    check: ({ mask, log }) => (mask && log ? 'dropout is fused into softmax, not log-softmax' : null),
    extents: ({ rows, cols }) => ({ y: rows * cols, dy: rows * cols, dx: rows * cols, mask: rows * cols }),
  }),

  layerNorm: kernel({
    doc: 'Layer norm over the last axis of [rows, cols]: y = (x - mean) * rstd * gamma + beta (+ addend)',
    fields: {
      x: buffer('f32'),
      /** Affine scale and shift (length cols); null for no affine. */
      gamma: optionalBuffer('f32'),
      beta: optionalBuffer('f32'),
      /** float32, or bfloat16 (computed in float32, then rounded) for a GEMM's input. */
      y: buffer('f32', 'bf16'),
      /** Per-row statistics saved for the backward pass. */
      mean: buffer('f32'),
      rstd: buffer('f32'),
      rows: size(),
      cols: size(),
      eps: number(),
      /** Added afterwards: y += addend[row % addendRows] (LaPE's `norm1(x) + pe`, fused). */
      addend: optionalBuffer('f32'),
      addendRows: size(0),
    },
    check: ({ rows, cols, eps, addend, addendRows }) =>
      rows > 0 && cols === 0
        ? "'cols' must be positive"
        : !(eps > 0)
          ? `'eps' must be positive, got ${eps}`
          : addend && addendRows < 1
            ? "'addendRows' must be >= 1 with an addend"
            : null,
    extents: ({ rows, cols, addendRows }) => ({
      x: rows * cols,
      y: rows * cols,
      mean: rows,
      rstd: rows,
      gamma: cols,
      beta: cols,
      addend: addendRows * cols,
    }),
  }),

  layerNormBackward: kernel({
    doc: 'Gradients of layerNorm; dx is overwritten or accumulated into, dgamma and dbeta overwritten (null without affine)',
    fields: {
      x: buffer('f32'),
      gamma: optionalBuffer('f32'),
      mean: buffer('f32'),
      rstd: buffer('f32'),
      /** float32, or bfloat16 (the gradient a bfloat16 GEMM passed back), widened exactly. */
      dy: buffer('f32', 'bf16'),
      dx: buffer('f32'),
      dgamma: optionalBuffer('f32'),
      dbeta: optionalBuffer('f32'),
      rows: size(),
      cols: size(),
      /** Add into dx instead of overwriting it. */
      accumulate: flag(false),
    },
    extents: ({ rows, cols }) => ({
      x: rows * cols,
      dy: rows * cols,
      dx: rows * cols,
      mean: rows,
      rstd: rows,
      gamma: cols,
      dgamma: cols,
      dbeta: cols,
    }),
  }),

  addScaledRows: kernel({
    doc: 'out[r, c] = x[r, c] + y[r, c] * scale[r] over [rows, cols] (x null: 0): a residual add with drop-path, and its gradient',
    fields: {
      /** The residual; null for y * scale alone (the gradient of the branch). */
      x: optionalBuffer('f32'),
      y: buffer('f32'),
      /** One factor per row (drop-path's per-sample 0 or 1 / (1 - p)). */
      scale: buffer('f32'),
      /** float32, or bfloat16 (computed in float32, then rounded) for a GEMM's operand. */
      out: buffer('f32', 'bf16'),
      rows: size(),
      cols: size(),
    },
    extents: ({ rows, cols }) => ({ x: rows * cols, y: rows * cols, scale: rows, out: rows * cols }),
  }),

  dropoutMask: kernel({
    doc: 'mask[i] = u(seed, offset + i) >= p ? 1 / (1 - p) : 0, u the counter-based hashUniform (src/tensor/hash.ts)',
    fields: {
      seed: int(),
      p: number(),
      mask: buffer('f32'),
      /** Counter of mask[0]: a slice of a larger mask draws the same values as that mask's elements. */
      offset: size(0),
    },
    check: ({ seed, p, offset, mask }) =>
      seed < 0 || seed > 0xffffffff
        ? `'seed' must be a 32-bit unsigned integer, got ${seed}`
        : p < 0 || p > 1
          ? `'p' must be in [0, 1], got ${p}`
          : offset + mask.length > 2 ** 32
            ? `'offset' + the mask's length must fit the 32-bit counter, got ${offset} + ${mask.length}`
            : null,
  }),

  im2col: kernel({
    doc: 'im2col for conv2d: x [channels, height, width] of one image into cols [channels*kh*kw, outH*outW]',
    fields: { x: buffer('f32'), cols: buffer('f32'), channels: size(), ...window2d },
    check: checkWindow,
    extents: (g) => ({ x: imageSize(g), cols: columnsSize(g) }),
  }),

  col2im: kernel({
    doc: 'Adjoint of im2col: accumulates cols into dx [channels, height, width] (zeroed by the caller)',
    fields: { cols: buffer('f32'), dx: buffer('f32'), channels: size(), ...window2d },
    check: checkWindow,
    extents: (g) => ({ dx: imageSize(g), cols: columnsSize(g) }),
  }),

  maxPool2d: kernel({
    doc: 'Max-pool over [planes, height, width] with -inf padding; argmax holds flat h*width+w indices',
    fields: {
      x: buffer('f32'),
      y: buffer('f32'),
      argmax: buffer('i32'),
      planes: size(),
      ...window2d,
    },
    check: checkWindow,
    extents: (g) => ({
      x: g.planes * g.height * g.width,
      y: g.planes * g.outH * g.outW,
      argmax: g.planes * g.outH * g.outW,
    }),
  }),

  gatherRows: kernel({
    doc: 'out[i, :] = x[idx[i], :] (x is [rows, width])',
    fields: { x: buffer('f32'), idx: buffer('i32'), out: buffer('f32'), width: size() },
    check: ({ x, idx, width }) => (width === 0 ? null : rowIndexError(idx, Math.floor(x.length / width))),
    extents: ({ idx, width }) => ({ out: idx.length * width }),
  }),

  scatterAddRows: kernel({
    doc: 'Adjoint of gatherRows: dx[idx[i], :] += dy[i, :] (dx zeroed by the caller)',
    fields: { dy: buffer('f32'), idx: buffer('i32'), dx: buffer('f32'), width: size() },
    check: ({ dx, idx, width }) => (width === 0 ? null : rowIndexError(idx, Math.floor(dx.length / width))),
    extents: ({ idx, width }) => ({ dy: idx.length * width }),
  }),

  adamw: kernel({
    doc: 'Fused AdamW step with PyTorch semantics (decoupled weight decay, bias correction)',
    fields: {
      param: buffer('f32'),
      grad: buffer('f32'),
      expAvg: buffer('f32'),
      expAvgSq: buffer('f32'),
      lr: number(),
      beta1: number(),
      beta2: number(),
      eps: number(),
      weightDecay: number(),
      /** 1 on the first step. */
      step: size(),
    },
    check: ({ step }) => (step < 1 ? `'step' must be >= 1, got ${step}` : null),
    extents: ({ param }) => ({ grad: param.length, expAvg: param.length, expAvgSq: param.length }),
  }),

  sgd: kernel({
    doc: "Fused SGD step (PyTorch semantics): g' = g + wd p; buf = momentum buf + (1 - dampening) g'",
    fields: {
      param: buffer('f32'),
      grad: buffer('f32'),
      /** Momentum buffer (unused, and may be empty, when momentum is 0). */
      momentumBuffer: buffer('f32'),
      lr: number(),
      momentum: number(),
      dampening: number(),
      weightDecay: number(),
      nesterov: flag(),
      /** The buffer starts as g' on the first step. */
      firstStep: flag(),
    },
    extents: ({ param, momentum }) => ({
      grad: param.length,
      momentumBuffer: momentum === 0 ? 0 : param.length,
    }),
  }),

  sumSquares: kernel({
    doc: 'Sum of squares of x (gradient-norm clipping), accumulated in double precision',
    fields: { x: buffer('f32') },
    returns: 'number',
  }),
} as const;

function rowIndexError(idx: Int32Array, rows: number): string | null {
  for (let i = 0; i < idx.length; i++) {
    if (!(idx[i] >= 0 && idx[i] < rows)) return `'idx[${i}]' is ${idx[i]}, outside [0, ${rows})`;
  }
  return null;
}

export type KernelName = keyof typeof KERNELS;
export const KERNEL_NAMES = Object.keys(KERNELS) as KernelName[];

type SpecOf<K extends KernelName> = (typeof KERNELS)[K];
type FieldsOf<K extends KernelName> = SpecOf<K> extends KernelSpec<infer F> ? F : never;

/** The arguments a backend's implementation of kernel K receives. */
export type KernelArgs<K extends KernelName> = Args<FieldsOf<K>>;
/** The arguments a caller passes to kernel K. */
export type KernelCall<K extends KernelName> = CallArgs<FieldsOf<K>>;
export type KernelResult<K extends KernelName> = ResultOf<SpecOf<K>['returns']>;
