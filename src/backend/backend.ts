/**
 * The kernel interface every backend implements.
 *
 * Kernels work on raw, contiguous typed arrays and plain numbers: no tensors, no autograd, no allocation.
 * The caller (an op in `src/ops`) has already validated shapes and allocated every output, so a kernel
 * never has to check anything a user passed. Outputs are written in full unless a kernel says it
 * accumulates (`beta`, `accumulate`).
 *
 * The portable backend (`src/backend/js`) implements all of them and is the reference in tests. The
 * native backend (`src/backend/native`) overrides the hot ones with oneDNN or its own multithreaded C++
 * and inherits the rest from the portable one.
 */

export type F32 = Float32Array;
export type I32 = Int32Array;

/** Element-wise unary functions; forward `y = f(x)`. */
export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'tanh'
  | 'erf'
  | 'gelu' // exact: x * 0.5 * (1 + erf(x / sqrt(2)))
  | 'relu'
  | 'abs'
  | 'square'
  | 'reciprocal';

/** Element-wise binary functions with broadcasting. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min';

/**
 * Strided view of one operand of a broadcast binary op. `strides[i]` is 0 on an axis the operand is
 * broadcast along. All strides are in elements and describe the operand against the output's shape.
 */
export interface Strided {
  data: F32;
  strides: readonly number[];
}

/** Batched GEMM: for each batch b, `C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] (+ bias)`. */
export interface MatmulArgs {
  a: F32;
  b: F32;
  c: F32;
  /** Rows of op(A) and C. */
  m: number;
  /** Columns of op(B) and C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** A is stored [k, m] (row-major) and used transposed. */
  transA: boolean;
  /** B is stored [n, k] (row-major) and used transposed (PyTorch Linear weight layout). */
  transB: boolean;
  batch: number;
  /** Elements between consecutive batch items; 0 broadcasts the operand over the batch. */
  strideA: number;
  strideB: number;
  strideC: number;
  alpha: number;
  /** 0 overwrites C, 1 accumulates into it. */
  beta: number;
  /** Optional bias of length n, added to every row of C (fused Linear). */
  bias?: F32;
}

/**
 * A matrix operand in its logical orientation inside a 2-level batch: element (b0, b1, r, c) is at
 * `data[offset + b0*strides[0] + b1*strides[1] + r*strides[2] + c*strides[3]]`. Transposing is swapping
 * the last two strides; a view into a packed tensor (the q, k or v part of qkv) is an offset.
 */
export interface MatrixView {
  data: F32;
  offset: number;
  strides: readonly [number, number, number, number];
}

/** `C = alpha * A @ B + beta * C` for every (b0, b1): A [m, k], B [k, n], C [m, n], all strided views. */
export interface StridedMatmulArgs {
  a: MatrixView;
  b: MatrixView;
  c: MatrixView;
  batch: readonly [number, number];
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
}

export interface Backend {
  readonly name: 'js' | 'native';

  matmul(args: MatmulArgs): void;
  /** Matmul over strided views (multi-head attention straight from the packed qkv, no copies). */
  matmulStrided(args: StridedMatmulArgs): void;

  /** `out = f(x)`, n elements. */
  unary(op: UnaryOp, x: F32, out: F32): void;
  /**
   * `dx = dy * f'(x)` for the ops whose gradient needs the input (`gelu`, `relu`, `erf`, `tanh` uses y).
   * `y` is the forward output, passed for ops whose derivative is cheapest from it (exp, tanh, sqrt, ...).
   */
  unaryBackward(op: UnaryOp, x: F32, y: F32, dy: F32, dx: F32): void;
  /** `out[i] = a[i] * alpha + beta` (scalar affine; covers add/mul by scalar). */
  affine(x: F32, alpha: number, beta: number, out: F32): void;
  /** `out[i] = x[i] ** p`. */
  pow(x: F32, p: number, out: F32): void;

  /** `out[idx] = a[idx·sa] op b[idx·sb]` over the output shape `shape` (rank <= 8). */
  binary(op: BinaryOp, a: Strided, b: Strided, out: F32, shape: readonly number[]): void;

  /**
   * Reduce a tensor viewed as [outer, r, inner] over the middle axis into [outer, inner].
   * `sum` and `max`; for `max`, `argmax` (same size as out) receives the index along r when given.
   */
  reduceSum(x: F32, out: F32, outer: number, r: number, inner: number): void;
  reduceMax(x: F32, out: F32, outer: number, r: number, inner: number, argmax?: I32): void;

  /**
   * Generic strided copy (permute, slice, concat, broadcast-expand, and their gradients).
   * Walks `shape` (rank <= 8) and copies `src[srcOffset + idx·srcStrides]` to
   * `dst[dstOffset + idx·dstStrides]`; with `accumulate` it adds instead of overwriting.
   */
  stridedCopy(
    src: F32,
    srcOffset: number,
    srcStrides: readonly number[],
    dst: F32,
    dstOffset: number,
    dstStrides: readonly number[],
    shape: readonly number[],
    accumulate: boolean,
  ): void;

  /** Row-wise softmax over the last axis of [rows, cols]. With `log`, log-softmax. */
  softmax(x: F32, y: F32, rows: number, cols: number, log: boolean): void;
  /**
   * Gradient of row-wise (log-)softmax from its output y:
   * softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy).
   */
  softmaxBackward(y: F32, dy: F32, dx: F32, rows: number, cols: number, log: boolean): void;

  /**
   * Layer norm over the last axis of [rows, cols]: y = (x - mean) * rstd * gamma + beta.
   * gamma/beta are optional (no affine). mean/rstd (length rows) are saved for the backward pass.
   * When `addend` is given, `y += addend[row % addendRows]` afterwards (LaPE's `norm1(x) + pe`, fused).
   */
  layerNorm(
    x: F32,
    gamma: F32 | null,
    beta: F32 | null,
    y: F32,
    mean: F32,
    rstd: F32,
    rows: number,
    cols: number,
    eps: number,
    addend?: { data: F32; rows: number },
  ): void;
  /** Gradients of layerNorm. dgamma/dbeta are overwritten (not accumulated); null when no affine. */
  layerNormBackward(
    x: F32,
    gamma: F32 | null,
    mean: F32,
    rstd: F32,
    dy: F32,
    dx: F32,
    dgamma: F32 | null,
    dbeta: F32 | null,
    rows: number,
    cols: number,
  ): void;

  /**
   * Dropout/drop-path mask, scaled: mask[i] = (u(seed, i) >= p) ? 1 / (1 - p) : 0 where u is the
   * counter-based uniform `hashUniform` in `src/tensor/random.ts` (identical in every backend).
   */
  dropoutMask(seed: number, p: number, mask: F32): void;

  /** im2col for conv2d: x [C, H, W] of one image into cols [C*kh*kw, outH*outW]. */
  im2col(
    x: F32,
    cols: F32,
    c: number,
    h: number,
    w: number,
    kh: number,
    kw: number,
    stride: number,
    pad: number,
    outH: number,
    outW: number,
  ): void;
  /** Adjoint of im2col: accumulates cols back into dx [C, H, W] (dx must be zeroed by the caller). */
  col2im(
    cols: F32,
    dx: F32,
    c: number,
    h: number,
    w: number,
    kh: number,
    kw: number,
    stride: number,
    pad: number,
    outH: number,
    outW: number,
  ): void;

  /** Max-pool 2-D over [N*C, H, W] planes with padding of -inf; argmax holds flat h*W+w indices. */
  maxPool2d(
    x: F32,
    y: F32,
    argmax: I32,
    planes: number,
    h: number,
    w: number,
    k: number,
    stride: number,
    pad: number,
    outH: number,
    outW: number,
  ): void;

  /** Rows gather: out[i, :] = x[idx[i], :] (x is [*, width]). */
  gatherRows(x: F32, idx: I32, out: F32, width: number): void;
  /** Adjoint of gatherRows: dx[idx[i], :] += dy[i, :] (dx zeroed by the caller). */
  scatterAddRows(dy: F32, idx: I32, dx: F32, width: number): void;

  /**
   * Fused AdamW step (PyTorch semantics): p -= lr * wd * p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
   * p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
   */
  adamw(
    p: F32,
    g: F32,
    m: F32,
    v: F32,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void;
  /**
   * Fused SGD step (PyTorch semantics): g' = g + wd p; buf = momentum buf + (1 - dampening) g'
   * (buf = g' on the first step); p -= lr * (nesterov ? g' + momentum buf : buf).
   */
  sgd(
    p: F32,
    g: F32,
    buf: F32,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
    firstStep: boolean,
  ): void;

  /** Sum of squares of x (for gradient-norm clipping), accumulated in double precision. */
  sumSquares(x: F32): number;
}
