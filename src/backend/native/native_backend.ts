/**
 * The native backend: lape's kernels on oneDNN and own OpenMP C++ (`native/`), loaded from
 * `native/build/Release/lape_native.node` when `npm install` could build it.
 *
 * Typed arrays are handed to the addon as they are (the C++ side reads their memory in place). Every
 * method validates its sizes here first, so a mistake surfaces as a JavaScript RangeError with a clear
 * message; the addon checks again and throws rather than read or write out of bounds.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type {
  Backend,
  BinaryOp,
  F32,
  I32,
  MatmulArgs,
  Strided,
  StridedMatmulArgs,
  UnaryOp,
} from '../backend.js';

/** The functions exported by lape_native.node (positional arguments; see native/src/*.cc). */
export interface NativeAddon {
  info(): { threads: number; dnnlVersion: string; isa: string };
  setThreads(n: number): void;
  noop(a: F32): void;
  matmul(
    a: F32,
    b: F32,
    c: F32,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    batch: number,
    strideA: number,
    strideB: number,
    strideC: number,
    alpha: number,
    beta: number,
    bias: F32 | null,
  ): void;
  matmulCacheSize(): number;
  matmulStrided(a: F32, b: F32, c: F32, meta: Float64Array): void;
  matmulImpl(
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    batch: number,
    strideA: number,
    strideB: number,
    strideC: number,
    alpha: number,
    beta: number,
    hasBias: boolean,
  ): string;
  unary(op: number, x: F32, out: F32): void;
  unaryBackward(op: number, x: F32, y: F32, dy: F32, dx: F32): void;
  affine(x: F32, alpha: number, beta: number, out: F32): void;
  pow(x: F32, p: number, out: F32): void;
  binary(op: number, a: F32, b: F32, out: F32, meta: Float64Array): void;
  reduceSum(x: F32, out: F32, outer: number, r: number, inner: number): void;
  reduceMax(x: F32, out: F32, outer: number, r: number, inner: number, argmax: I32 | null): void;
  stridedCopy(src: F32, dst: F32, meta: Float64Array, accumulate: boolean): void;
  softmax(x: F32, y: F32, rows: number, cols: number, log: boolean): void;
  softmaxBackward(y: F32, dy: F32, dx: F32, rows: number, cols: number, log: boolean): void;
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
    addend: F32 | null,
    addendRows: number,
  ): void;
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
  /** oneDNN's layer norm (keeps the variance); for benchmarks only. */
  layerNormDnnl(
    x: F32,
    gamma: F32,
    beta: F32,
    y: F32,
    mean: F32,
    variance: F32,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  layerNormBackwardDnnl(
    x: F32,
    gamma: F32,
    mean: F32,
    variance: F32,
    dy: F32,
    dx: F32,
    dgamma: F32,
    dbeta: F32,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  dropoutMask(seed: number, p: number, mask: F32): void;
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
  gatherRows(x: F32, idx: I32, out: F32, width: number): void;
  scatterAddRows(dy: F32, idx: I32, dx: F32, width: number): void;
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
  sumSquares(x: F32): number;
}

const ADDON_RELATIVE = path.join('native', 'build', 'Release', 'lape_native.node');

let loaded: { addon: NativeAddon | null; reason?: string } | null = null;

/** The package root: the nearest ancestor of this module that holds `native/binding.gyp`. */
function findAddon(): string | null {
  const override = process.env.LAPE_NATIVE_ADDON;
  if (override) return override;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'native', 'binding.gyp'))) {
      const file = path.join(dir, ADDON_RELATIVE);
      return existsSync(file) ? file : null;
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** Loads the addon once; null (with a reason) when it is not built or cannot be loaded. */
export function loadNativeAddon(): NativeAddon | null {
  if (loaded) return loaded.addon;
  const file = findAddon();
  if (!file) {
    loaded = {
      addon: null,
      reason: `${ADDON_RELATIVE} is not built (needs oneDNN: apt-get install libdnnl-dev, then npm rebuild lape)`,
    };
    return null;
  }
  try {
    const require = createRequire(import.meta.url);
    loaded = { addon: require(file) as NativeAddon };
  } catch (e) {
    loaded = { addon: null, reason: `cannot load ${file}: ${(e as Error).message}` };
  }
  return loaded.addon;
}

/** Whether the native kernels are available, and how they run. */
export function nativeInfo(): { available: boolean; reason?: string; threads: number; dnnlVersion: string } {
  const addon = loadNativeAddon();
  if (!addon) return { available: false, reason: loaded?.reason, threads: 0, dnnlVersion: '' };
  const i = addon.info();
  return { available: true, threads: i.threads, dnnlVersion: i.dnnlVersion };
}

/** Sets the OpenMP thread count shared by oneDNN and the own kernels. */
export function setNativeThreads(n: number): void {
  const addon = loadNativeAddon();
  if (addon) addon.setThreads(n);
}

// Op codes shared with native/src/eltwise.cc and binary.cc.
const UNARY_CODES: Record<UnaryOp, number> = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  rsqrt: 4,
  tanh: 5,
  erf: 6,
  gelu: 7,
  relu: 8,
  abs: 9,
  square: 10,
  reciprocal: 11,
};
const BINARY_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5 };

function fail(kernel: string, msg: string): never {
  throw new RangeError(`native ${kernel}: ${msg}`);
}

function isSize(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

function sizes(kernel: string, values: Record<string, number>): void {
  for (const k in values)
    if (!isSize(values[k])) fail(kernel, `${k} must be a non-negative integer, got ${values[k]}`);
}

function atLeast(kernel: string, name: string, arr: { length: number }, n: number): void {
  if (arr.length < n) fail(kernel, `${name} has ${arr.length} elements, needs ${n}`);
}

/** Highest element offset (+1) an operand reaches through `strides` over `shape`, and the lowest. */
function reach(shape: readonly number[], strides: readonly number[], offset: number): [number, number] {
  let lo = offset;
  let hi = offset;
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 0) return [0, 0];
    const span = (shape[i] - 1) * strides[i];
    if (span < 0) lo += span;
    else hi += span;
  }
  return [lo, hi + 1];
}

function checkStrided(
  kernel: string,
  name: string,
  data: F32,
  offset: number,
  strides: readonly number[],
  shape: readonly number[],
): void {
  if (strides.length !== shape.length)
    fail(kernel, `${name} has ${strides.length} strides for rank ${shape.length}`);
  for (const s of strides) if (!Number.isSafeInteger(s)) fail(kernel, `${name} strides must be integers`);
  const [lo, hi] = reach(shape, strides, offset);
  if (lo < 0 || hi > data.length)
    fail(kernel, `${name} (length ${data.length}) is too short for its strides`);
}

/**
 * The native backend, or null when the addon is unavailable (see `nativeInfo().reason`). Every kernel
 * of the interface runs natively; `fallback` (the portable backend) stands in for any kernel that the
 * loaded addon build does not export.
 */
export function createNativeBackend(fallback: Backend): Backend | null {
  const n = loadNativeAddon();
  if (!n) return null;
  // Scratch for shape/stride metadata (rank <= 8): reused by every binary / stridedCopy call.
  const meta = new Float64Array(3 + 3 * 8);
  // Offsets, strides, sizes and scalars of one strided matmul (see native/src/matmul_strided.cc).
  const stridedMeta = new Float64Array(22);

  const backend: Backend = {
    name: 'native',

    matmulStrided(args: StridedMatmulArgs): void {
      const { a, b, c, batch, m, n: cols, k } = args;
      stridedMeta.set([
        a.offset,
        ...a.strides,
        b.offset,
        ...b.strides,
        c.offset,
        ...c.strides,
        batch[0],
        batch[1],
        m,
        cols,
        k,
        args.alpha,
        args.beta,
      ]);
      n.matmulStrided(a.data, b.data, c.data, stridedMeta);
    },

    matmul(args: MatmulArgs): void {
      const {
        a,
        b,
        c,
        m,
        n: nn,
        k,
        transA,
        transB,
        batch,
        strideA,
        strideB,
        strideC,
        alpha,
        beta,
        bias,
      } = args;
      if (!(
        isSize(m) &&
        isSize(nn) &&
        isSize(k) &&
        isSize(batch) &&
        isSize(strideA) &&
        isSize(strideB) &&
        isSize(strideC)
      ))
        sizes('matmul', { m, n: nn, k, batch, strideA, strideB, strideC });
      if (batch === 0 || m === 0 || nn === 0) return;
      if (k > 0) {
        atLeast('matmul', 'a', a, (batch - 1) * strideA + m * k);
        atLeast('matmul', 'b', b, (batch - 1) * strideB + k * nn);
      }
      atLeast('matmul', 'c', c, (batch - 1) * strideC + m * nn);
      if (bias) atLeast('matmul', 'bias', bias, nn);
      n.matmul(
        a,
        b,
        c,
        m,
        nn,
        k,
        transA,
        transB,
        batch,
        strideA,
        strideB,
        strideC,
        alpha,
        beta,
        bias ?? null,
      );
    },

    unary(op: UnaryOp, x: F32, out: F32): void {
      const code = UNARY_CODES[op];
      if (code === undefined) fail('unary', `unknown op ${op}`);
      if (x.length !== out.length) fail('unary', `x has ${x.length} elements, out ${out.length}`);
      n.unary(code, x, out);
    },

    unaryBackward(op: UnaryOp, x: F32, y: F32, dy: F32, dx: F32): void {
      const code = UNARY_CODES[op];
      if (code === undefined) fail('unaryBackward', `unknown op ${op}`);
      const len = dy.length;
      if (dx.length !== len) fail('unaryBackward', `dy has ${len} elements, dx ${dx.length}`);
      atLeast('unaryBackward', 'x', x, len);
      atLeast('unaryBackward', 'y', y, len);
      n.unaryBackward(code, x, y, dy, dx);
    },

    affine(x: F32, alpha: number, beta: number, out: F32): void {
      if (x.length !== out.length) fail('affine', `x has ${x.length} elements, out ${out.length}`);
      n.affine(x, alpha, beta, out);
    },

    pow(x: F32, p: number, out: F32): void {
      if (x.length !== out.length) fail('pow', `x has ${x.length} elements, out ${out.length}`);
      n.pow(x, p, out);
    },

    binary(op: BinaryOp, a: Strided, b: Strided, out: F32, shape: readonly number[]): void {
      const code = BINARY_CODES[op];
      if (code === undefined) fail('binary', `unknown op ${op}`);
      const rank = shape.length;
      if (rank > 8) fail('binary', `rank ${rank} > 8`);
      let total = 1;
      for (const d of shape) {
        if (!isSize(d)) fail('binary', `bad shape [${shape.join(', ')}]`);
        total *= d;
      }
      atLeast('binary', 'out', out, total);
      if (total === 0) return;
      checkStrided('binary', 'a', a.data, 0, a.strides, shape);
      checkStrided('binary', 'b', b.data, 0, b.strides, shape);
      meta[0] = rank;
      for (let i = 0; i < rank; i++) {
        meta[1 + i] = shape[i];
        meta[1 + rank + i] = a.strides[i];
        meta[1 + 2 * rank + i] = b.strides[i];
      }
      n.binary(code, a.data, b.data, out, meta);
    },

    reduceSum(x: F32, out: F32, outer: number, r: number, inner: number): void {
      if (!(isSize(outer) && isSize(r) && isSize(inner))) sizes('reduceSum', { outer, r, inner });
      atLeast('reduceSum', 'x', x, outer * r * inner);
      atLeast('reduceSum', 'out', out, outer * inner);
      n.reduceSum(x, out, outer, r, inner);
    },

    reduceMax(x: F32, out: F32, outer: number, r: number, inner: number, argmax?: I32): void {
      if (!(isSize(outer) && isSize(r) && isSize(inner))) sizes('reduceMax', { outer, r, inner });
      atLeast('reduceMax', 'x', x, outer * r * inner);
      atLeast('reduceMax', 'out', out, outer * inner);
      if (argmax) atLeast('reduceMax', 'argmax', argmax, outer * inner);
      if (r === 0 && outer * inner > 0) fail('reduceMax', 'empty reduction axis');
      n.reduceMax(x, out, outer, r, inner, argmax ?? null);
    },

    stridedCopy(
      src: F32,
      srcOffset: number,
      srcStrides: readonly number[],
      dst: F32,
      dstOffset: number,
      dstStrides: readonly number[],
      shape: readonly number[],
      accumulate: boolean,
    ): void {
      const rank = shape.length;
      if (rank > 8) fail('stridedCopy', `rank ${rank} > 8`);
      if (!(isSize(srcOffset) && isSize(dstOffset))) sizes('stridedCopy', { srcOffset, dstOffset });
      let total = 1;
      for (const d of shape) {
        if (!isSize(d)) fail('stridedCopy', `bad shape [${shape.join(', ')}]`);
        total *= d;
      }
      if (total === 0) return;
      checkStrided('stridedCopy', 'src', src, srcOffset, srcStrides, shape);
      checkStrided('stridedCopy', 'dst', dst, dstOffset, dstStrides, shape);
      meta[0] = rank;
      meta[1] = srcOffset;
      meta[2] = dstOffset;
      for (let i = 0; i < rank; i++) {
        meta[3 + i] = shape[i];
        meta[3 + rank + i] = srcStrides[i];
        meta[3 + 2 * rank + i] = dstStrides[i];
      }
      n.stridedCopy(src, dst, meta, accumulate);
    },

    softmax(x: F32, y: F32, rows: number, cols: number, log: boolean): void {
      if (!(isSize(rows) && isSize(cols))) sizes('softmax', { rows, cols });
      atLeast('softmax', 'x', x, rows * cols);
      atLeast('softmax', 'y', y, rows * cols);
      n.softmax(x, y, rows, cols, log);
    },

    softmaxBackward(y: F32, dy: F32, dx: F32, rows: number, cols: number, log: boolean): void {
      if (!(isSize(rows) && isSize(cols))) sizes('softmaxBackward', { rows, cols });
      atLeast('softmaxBackward', 'y', y, rows * cols);
      atLeast('softmaxBackward', 'dy', dy, rows * cols);
      atLeast('softmaxBackward', 'dx', dx, rows * cols);
      n.softmaxBackward(y, dy, dx, rows, cols, log);
    },

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
    ): void {
      if (!(isSize(rows) && isSize(cols))) sizes('layerNorm', { rows, cols });
      if (rows > 0 && cols === 0) fail('layerNorm', 'cols must be positive');
      atLeast('layerNorm', 'x', x, rows * cols);
      atLeast('layerNorm', 'y', y, rows * cols);
      atLeast('layerNorm', 'mean', mean, rows);
      atLeast('layerNorm', 'rstd', rstd, rows);
      if (gamma) atLeast('layerNorm', 'gamma', gamma, cols);
      if (beta) atLeast('layerNorm', 'beta', beta, cols);
      if (addend) {
        if (!Number.isSafeInteger(addend.rows) || addend.rows < 1)
          fail('layerNorm', 'addend.rows must be >= 1');
        atLeast('layerNorm', 'addend', addend.data, addend.rows * cols);
      }
      n.layerNorm(
        x,
        gamma,
        beta,
        y,
        mean,
        rstd,
        rows,
        cols,
        eps,
        addend ? addend.data : null,
        addend ? addend.rows : 0,
      );
    },

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
    ): void {
      if (!(isSize(rows) && isSize(cols))) sizes('layerNormBackward', { rows, cols });
      atLeast('layerNormBackward', 'x', x, rows * cols);
      atLeast('layerNormBackward', 'dy', dy, rows * cols);
      atLeast('layerNormBackward', 'dx', dx, rows * cols);
      atLeast('layerNormBackward', 'mean', mean, rows);
      atLeast('layerNormBackward', 'rstd', rstd, rows);
      if (gamma) atLeast('layerNormBackward', 'gamma', gamma, cols);
      if (dgamma) atLeast('layerNormBackward', 'dgamma', dgamma, cols);
      if (dbeta) atLeast('layerNormBackward', 'dbeta', dbeta, cols);
      n.layerNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta, rows, cols);
    },

    dropoutMask(seed: number, p: number, mask: F32): void {
      n.dropoutMask(seed >>> 0, p, mask);
    },

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
    ): void {
      sizes('im2col', { c, h, w, kh, kw, stride, pad, outH, outW });
      if (stride < 1) fail('im2col', 'stride must be >= 1');
      atLeast('im2col', 'x', x, c * h * w);
      atLeast('im2col', 'cols', cols, c * kh * kw * outH * outW);
      n.im2col(x, cols, c, h, w, kh, kw, stride, pad, outH, outW);
    },

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
    ): void {
      sizes('col2im', { c, h, w, kh, kw, stride, pad, outH, outW });
      if (stride < 1) fail('col2im', 'stride must be >= 1');
      atLeast('col2im', 'dx', dx, c * h * w);
      atLeast('col2im', 'cols', cols, c * kh * kw * outH * outW);
      n.col2im(cols, dx, c, h, w, kh, kw, stride, pad, outH, outW);
    },

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
    ): void {
      sizes('maxPool2d', { planes, h, w, k, stride, pad, outH, outW });
      if (stride < 1 || k < 1) fail('maxPool2d', 'k and stride must be >= 1');
      atLeast('maxPool2d', 'x', x, planes * h * w);
      atLeast('maxPool2d', 'y', y, planes * outH * outW);
      atLeast('maxPool2d', 'argmax', argmax, planes * outH * outW);
      n.maxPool2d(x, y, argmax, planes, h, w, k, stride, pad, outH, outW);
    },

    gatherRows(x: F32, idx: I32, out: F32, width: number): void {
      sizes('gatherRows', { width });
      atLeast('gatherRows', 'out', out, idx.length * width);
      n.gatherRows(x, idx, out, width);
    },

    scatterAddRows(dy: F32, idx: I32, dx: F32, width: number): void {
      sizes('scatterAddRows', { width });
      atLeast('scatterAddRows', 'dy', dy, idx.length * width);
      n.scatterAddRows(dy, idx, dx, width);
    },

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
    ): void {
      atLeast('adamw', 'g', g, p.length);
      atLeast('adamw', 'm', m, p.length);
      atLeast('adamw', 'v', v, p.length);
      if (!(step >= 1)) fail('adamw', `step must be >= 1, got ${step}`);
      n.adamw(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step);
    },

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
    ): void {
      atLeast('sgd', 'g', g, p.length);
      if (momentum !== 0) atLeast('sgd', 'buf', buf, p.length);
      n.sgd(p, g, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
    },

    sumSquares(x: F32): number {
      return n.sumSquares(x);
    },
  };

  // An addon built from older sources may lack a kernel: the portable one stands in for it.
  const target = backend as unknown as Record<string, unknown>;
  const source = fallback as unknown as Record<string, unknown>;
  const addonFns = n as unknown as Record<string, unknown>;
  for (const key of Object.keys(backend)) {
    if (key !== 'name' && typeof addonFns[key] !== 'function' && typeof source[key] === 'function') {
      target[key] = (source[key] as (...a: unknown[]) => unknown).bind(fallback);
    }
  }
  return backend;
}
