/**
 * Seeded random numbers for initialization, data order and dropout seeds.
 *
 * xoshiro128** (32-bit state words, so it is exact in JavaScript numbers); its state is four uint32s
 * that a checkpoint can store, which is what makes `--resume` bit-exact.
 */
import { mix32 } from './hash.js';

export type RngState = readonly [number, number, number, number];

export class Rng {
  private s: Uint32Array;
  /** A cached second Box-Muller normal. */
  private spare: number | null = null;

  constructor(seed: number | RngState = 0) {
    this.s = new Uint32Array(4);
    if (typeof seed === 'number') {
      // SplitMix-style expansion of the seed through the shared mixer; never all zero.
      let x = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        this.s[i] = mix32(x) || 1;
      }
    } else {
      this.s.set(seed);
    }
  }

  state(): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  /** Continues the stream from a saved `state()` (resume). */
  setState(state: RngState): void {
    this.s.set(state);
    this.spare = null;
  }

  /** Next uint32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

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

  /** A fresh 32-bit seed for a derived stream (dropout masks, data workers). */
  seed(): number {
    return this.nextU32();
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

  fillBernoulli(out: Float32Array, p: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.uniform() < p ? 1 : 0;
    return out;
  }

  /** Fisher-Yates permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let globalRng = new Rng(0);

/** The process-wide generator used when none is passed explicitly. */
export function defaultRng(): Rng {
  return globalRng;
}

/** Re-seeds the process-wide generator (`--seed`). */
export function manualSeed(seed: number): void {
  globalRng = new Rng(seed);
}
