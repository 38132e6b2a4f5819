import type { BinaryOp, KernelArgs, UnaryOp } from '../kernels.js';
import { fromBf16Bits, toBf16Bits } from '../../tensor/bf16.js';
import { erf } from './erf.js';

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

export function unaryFn(op: UnaryOp): (x: number) => number {
  switch (op) {
    case 'neg':
      return (x) => -x;
    case 'exp':
      return Math.exp;
    case 'log':
      return Math.log;
    case 'sqrt':
      return Math.sqrt;
    case 'rsqrt':
      return (x) => 1 / Math.sqrt(x);
    case 'tanh':
      return Math.tanh;
    case 'erf':
      return erf;
    case 'gelu':
      return (x) => 0.5 * x * (1 + erf(x * SQRT1_2));
    case 'relu':
      return (x) => (x > 0 ? x : 0);
    case 'abs':
      return Math.abs;
    case 'square':
      return (x) => x * x;
    case 'reciprocal':
      return (x) => 1 / x;
  }
}

/** f'(x) given x and y = f(x). */
function derivative(op: UnaryOp): (x: number, y: number) => number {
  switch (op) {
    case 'neg':
      return () => -1;
    case 'exp':
      return (_x, y) => y;
    case 'log':
      return (x) => 1 / x;
    case 'sqrt':
      return (_x, y) => 0.5 / y;
    case 'rsqrt':
      return (_x, y) => -0.5 * y * y * y;
    case 'tanh':
      return (_x, y) => 1 - y * y;
    case 'erf':
      return (x) => TWO_OVER_SQRT_PI * Math.exp(-x * x);
    case 'gelu':
      return (x) => 0.5 * (1 + erf(x * SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    case 'relu':
      return (x) => (x > 0 ? 1 : 0);
    case 'abs':
      return (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    case 'square':
      return (x) => 2 * x;
    case 'reciprocal':
      return (_x, y) => -y * y;
  }
}

/** A bfloat16 buffer widened to float32 (exact); a float32 one as it is. */
const widened = (a: Float32Array | Uint16Array): Float32Array =>
  a instanceof Uint16Array ? Float32Array.from(a, fromBf16Bits) : a;

export function unary({ op, out, ...args }: KernelArgs<'unary'>): void {
  const f = unaryFn(op);
  const x = widened(args.x);
  if (out instanceof Uint16Array) for (let i = 0; i < x.length; i++) out[i] = toBf16Bits(f(x[i]));
  else for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
}

export function unaryBackward({ op, y, dx, ...args }: KernelArgs<'unaryBackward'>): void {
  const d = derivative(op);
  const [x, g] = [widened(args.x), widened(args.dy)];
  if (dx instanceof Uint16Array) {
    for (let i = 0; i < g.length; i++) dx[i] = toBf16Bits(g[i] * d(x[i], y ? y[i] : NaN));
  } else {
    for (let i = 0; i < g.length; i++) dx[i] = g[i] * d(x[i], y ? y[i] : NaN);
  }
}

export function affine({ x, out, alpha, beta }: KernelArgs<'affine'>): void {
  for (let i = 0; i < x.length; i++) out[i] = x[i] * alpha + beta;
}

export function pow({ x, out, p }: KernelArgs<'pow'>): void {
  for (let i = 0; i < x.length; i++) out[i] = Math.pow(x[i], p);
}

function binaryFn(op: BinaryOp): (a: number, b: number) => number {
  switch (op) {
    case 'add':
      return (a, b) => a + b;
    case 'sub':
      return (a, b) => a - b;
    case 'mul':
      return (a, b) => a * b;
    case 'div':
      return (a, b) => a / b;
    case 'max':
      return (a, b) => (a >= b ? a : b);
    case 'min':
      return (a, b) => (a <= b ? a : b);
  }
}

export function binary({ op, a, aStrides, b, bStrides, out, shape }: KernelArgs<'binary'>): void {
  const f = binaryFn(op);
  const rank = shape.length;
  const total = shape.reduce((p, d) => p * d, 1);
  if (rank === 0 || total === 0) {
    if (total === 1) out[0] = f(a[0], b[0]);
    return;
  }
  // Odometer over all but the last axis; the last axis is a tight loop.
  const last = rank - 1;
  const n = shape[last];
  const sa = aStrides[last];
  const sb = bStrides[last];
  const idx = new Array<number>(rank).fill(0);
  let oa = 0;
  let ob = 0;
  for (let o = 0; o < total; o += n) {
    for (let j = 0; j < n; j++) out[o + j] = f(a[oa + j * sa], b[ob + j * sb]);
    for (let ax = last - 1; ax >= 0; ax--) {
      idx[ax]++;
      oa += aStrides[ax];
      ob += bStrides[ax];
      if (idx[ax] < shape[ax]) break;
      oa -= aStrides[ax] * shape[ax];
      ob -= bStrides[ax] * shape[ax];
      idx[ax] = 0;
    }
  }
}
