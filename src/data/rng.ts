/**
 * A small, fast, seedable PRNG (xoshiro128**) for data augmentation.
 *
 * Every random decision of the pipeline draws from an `Rng` derived from a tuple of integers, e.g.
 * (stream, seed, epoch, sample position). Because a sample's randomness depends only on that tuple and
 * never on which worker handled it or in what order, a loader is bit-reproducible from (seed, epoch)
 * whatever its number of workers.
 */

/** The four 32-bit words of xoshiro128** state. */
export type RngState = readonly [number, number, number, number];

const TWO_POW_32 = 4294967296;

/** splitmix32-style finalizer: a bijective 32-bit mixer with good avalanche. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97) >>> 0;
  return (x ^ (x >>> 15)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(s0: number, s1: number, s2: number, s3: number) {
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
    // The all-zero state is the one fixed point of xoshiro; never start there.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 0x9e3779b9;
  }

  /**
   * A generator keyed by a tuple of non-negative integers (each below 2^53). Different tuples, including
   * tuples of different lengths, give independent-looking streams.
   */
  static derive(...keys: readonly number[]): Rng {
    let h = mix32(0x6a09e667 ^ keys.length);
    for (const k of keys) {
      if (!Number.isSafeInteger(k) || k < 0)
        throw new RangeError(`Rng key must be a safe non-negative integer, got ${k}`);
      const lo = k >>> 0;
      const hi = Math.floor(k / TWO_POW_32) >>> 0;
      h = mix32((h ^ mix32((lo + 0x9e3779b9) >>> 0)) >>> 0);
      h = mix32((h ^ mix32((hi + 0x7f4a7c15) >>> 0)) >>> 0);
    }
    // Expand the 32-bit key hash into 128 bits of state with a splitmix32 sequence.
    const g = 0x9e3779b9;
    return new Rng(
      mix32((h + g) >>> 0),
      mix32((h + 2 * g) >>> 0),
      mix32((h + 3 * g) >>> 0),
      mix32((h + 4 * g) >>> 0),
    );
  }

  static fromState(state: RngState): Rng {
    return new Rng(state[0], state[1], state[2], state[3]);
  }

  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** The next raw 32-bit output, as an unsigned integer. */
  nextUint32(): number {
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

  /** Uniform in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling); n must be in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) throw new RangeError(`Rng.int: bad bound ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Uniform integer in [lo, hi] (inclusive both ends, like Python's random.randint). */
  intInclusive(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Standard normal (Box-Muller; the second variate is discarded so the state stays four words). */
  normal(): number {
    const u1 = 1 - this.uniform(); // (0, 1]: log stays finite
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Gamma(shape, 1) by Marsaglia and Tsang; shapes below 1 use the u^(1/shape) boost. */
  gamma(shape: number): number {
    if (!(shape > 0)) throw new RangeError(`Rng.gamma: shape must be > 0, got ${shape}`);
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(1 - this.uniform(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - this.uniform();
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

  /** In-place Fisher-Yates shuffle. */
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
