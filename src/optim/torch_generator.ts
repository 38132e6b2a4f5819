/**
 * The exact numbers of `torch.randn(1, generator=g)` after `g.manual_seed(seed)` on the CPU, which timm's
 * schedulers use for their learning-rate noise: torch's mt19937 seeded with the seed, 64-bit draws made
 * of two 32-bit outputs (first one high), doubles from their low 53 bits, and a Box-Muller normal
 * that keeps its second (sine) value for the next call. Checked against PyTorch in the fixtures.
 */
const N = 624;
const M = 397;

export class TorchGenerator {
  private readonly mt = new Uint32Array(N);
  private index = N;
  private nextNormal: number | null = null;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`generator seed must be a non-negative integer, got ${seed}`);
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      // 1812433253 * prev + i, modulo 2^32 (split to stay exact in doubles).
      this.mt[i] =
        (((((prev & 0xffff0000) >>> 16) * 1812433253) << 16) + (prev & 0x0000ffff) * 1812433253 + i) >>> 0;
    }
  }

  /** Next 32-bit output of mt19937. */
  nextU32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
      mt[i] = (mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0)) >>> 0;
    }
    this.index = 0;
  }

  /** torch's uniform double in [0, 1): the low 53 bits of (first << 32 | second) over 2^53. */
  uniform(): number {
    const hi = this.nextU32();
    const lo = this.nextU32();
    // (hi << 32 | lo) & (2^53 - 1) = (hi & 0x1fffff) * 2^32 + lo.
    return ((hi & 0x1fffff) * 4294967296 + lo) / 9007199254740992;
  }

  /** One standard normal, as torch.randn(1) (double precision, before the cast to float32). */
  randn(): number {
    if (this.nextNormal !== null) {
      const v = this.nextNormal;
      this.nextNormal = null;
      return v;
    }
    const u1 = this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.nextNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}
