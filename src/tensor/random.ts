/**
 * lape's one seeded random-number generator: xoshiro128** (32-bit state words, so it is exact in
 * JavaScript numbers). Its state is four uint32s that a checkpoint can store, which is what makes
 * `--resume` bit-exact.
 *
 * Two seeding schemes, because two families of streams must stay bit-identical to what earlier lape
 * versions produced (trained models, the README's numbers and resumable checkpoints depend on them):
 *
 * - `new Rng(seed)`: model initialization, dropout / drop-path seeds and test data. The seed is
 *   expanded SplitMix-style through `mix32` (tensor/hash.ts). These streams draw with 53-bit
 *   `uniform()` and the pairwise `normal()`, and the `fill*` helpers.
 * - `Rng.derive(...keys)`: the data pipeline. A generator keyed by a tuple of integers, e.g.
 *   (stream, seed, epoch, sample position): a sample's randomness depends only on that tuple, never on
 *   which worker handled it or in what order, so a loader is bit-reproducible from (seed, epoch)
 *   whatever its number of workers. These streams draw one uint32 per variate: `uniform32()`,
 *   `range()`, the unbiased `int()`, `normal32()`, `gamma()`, `beta()`, `shuffle()`.
 *
 * Every draw works on every generator; the split above is which draws each family's results use.
 */
import { mix32 } from './hash.js';

/** The four 32-bit words of xoshiro128** state. */
export type RngState = readonly [number, number, number, number];

const TWO_POW_32 = 4294967296;

/** The key mixer of `Rng.derive` (a bijective 32-bit finalizer; not `mix32`, whose streams differ). */
function mixKey(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97) >>> 0;
  return (x ^ (x >>> 15)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** The second variate of the last pairwise `normal()` (not part of `state()`). */
  private spare: number | null = null;

  /** A generator for model initialization and dropout seeds (see the module comment). */
  constructor(seed = 0) {
    // SplitMix-style expansion of the seed through the shared mixer; no word is ever zero.
    let x = seed >>> 0;
    const s: number[] = [];
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      s.push(mix32(x) || 1);
    }
    this.setState(s as unknown as RngState);
  }

  /**
   * A generator keyed by a tuple of non-negative integers (each below 2^53), for the data pipeline.
   * Different tuples, including tuples of different lengths, give independent-looking streams.
   */
  static derive(...keys: readonly number[]): Rng {
    let h = mixKey(0x6a09e667 ^ keys.length);
    for (const k of keys) {
      if (!Number.isSafeInteger(k) || k < 0)
        throw new RangeError(`Rng key must be a safe non-negative integer, got ${k}`);
      const lo = k >>> 0;
      const hi = Math.floor(k / TWO_POW_32) >>> 0;
      h = mixKey((h ^ mixKey((lo + 0x9e3779b9) >>> 0)) >>> 0);
      h = mixKey((h ^ mixKey((hi + 0x7f4a7c15) >>> 0)) >>> 0);
    }
    // Expand the 32-bit key hash into 128 bits of state with a splitmix32 sequence.
    const g = 0x9e3779b9;
    return Rng.fromState([
      mixKey((h + g) >>> 0),
      mixKey((h + 2 * g) >>> 0),
      mixKey((h + 3 * g) >>> 0),
      mixKey((h + 4 * g) >>> 0),
    ]);
  }

  /** Continues a stream from a saved `state()`. */
  static fromState(state: RngState): Rng {
    const r = new Rng();
    r.setState(state);
    return r;
  }

  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** Continues the stream from a saved `state()` (resume). */
  setState(state: RngState): void {
    this.s0 = state[0] >>> 0;
    this.s1 = state[1] >>> 0;
    this.s2 = state[2] >>> 0;
    this.s3 = state[3] >>> 0;
    // The all-zero state is the one fixed point of xoshiro; never start there.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 0x9e3779b9;
    this.spare = null;
  }

  /** The next raw 32-bit output, as an unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A fresh 32-bit seed for a derived stream (dropout masks). */
  seed(): number {
    return this.nextU32();
  }

  // --- 53-bit draws (model initialization) ---------------------------------------------------------

  /** Uniform in [0, 1) with 53 random bits (two outputs). */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal, Box-Muller on two 53-bit uniforms; the second variate is kept for the next call. */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  fillUniform(out: Float32Array, low = 0, high = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * this.uniform();
    return out;
  }

  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /**
   * Truncated normal with absolute bounds [a, b], as timm's `trunc_normal_` (whose a, b are absolute
   * values, so with std 0.02 and bounds ±2 it is effectively an ordinary normal). Rejection sampling.
   */
  fillTruncNormal(out: Float32Array, mean = 0, std = 1, a = -2, b = 2): Float32Array {
    if (!(a < b)) throw new Error(`truncNormal: lower bound ${a} must be below upper bound ${b}`);
    for (let i = 0; i < out.length; i++) {
      let v: number;
      let tries = 0;
      do {
        v = mean + std * this.normal();
        if (++tries > 1000) {
          v = Math.min(b, Math.max(a, v));
          break;
        }
      } while (v < a || v > b);
      out[i] = v;
    }
    return out;
  }

  // --- 32-bit draws (the data pipeline) ------------------------------------------------------------

  /** Uniform in [0, 1) with 32 random bits (one output). */
  uniform32(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform in [lo, hi), from `uniform32()`. */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform32();
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling); n must be in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) throw new RangeError(`Rng.int: bad bound ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Uniform integer in [lo, hi] (inclusive both ends, like Python's random.randint). */
  intInclusive(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Standard normal, Box-Muller on two 32-bit uniforms; the second variate is discarded. */
  normal32(): number {
    const u1 = 1 - this.uniform32(); // (0, 1]: log stays finite
    const u2 = this.uniform32();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Gamma(shape, 1) by Marsaglia and Tsang; shapes below 1 use the u^(1/shape) boost. */
  gamma(shape: number): number {
    if (!(shape > 0)) throw new RangeError(`Rng.gamma: shape must be > 0, got ${shape}`);
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(1 - this.uniform32(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal32();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - this.uniform32();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x / (x + y);
  }

  /** In-place Fisher-Yates shuffle (with the unbiased `int`). */
  shuffle<T extends { length: number; [i: number]: number }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }
}

/** Stream tags keep the RNGs of different pipeline stages independent even for equal (seed, epoch, n). */
export const RngStream = {
  order: 1,
  sample: 2,
  batch: 3,
} as const;

const globalRng = new Rng(0);

/** The process-wide generator used when none is passed explicitly (tests, scratch tensors). */
export function defaultRng(): Rng {
  return globalRng;
}
