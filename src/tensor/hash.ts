/**
 * Counter-based random numbers shared by every backend.
 *
 * Dropout masks are drawn from `hashUniform(seed, i)`, a pure function of the seed and the element
 * index, so the portable and the native backend produce bit-identical masks and a run is reproducible
 * whatever backend or thread count it uses. The C++ kernels implement exactly the same arithmetic.
 */

/** A 32-bit integer mixer (bijective; "lowbias32"). All arithmetic is on uint32. */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x;
}

/** Uniform in [0, 1) with 24 random bits: mix32(mix32(i ^ mix32(seed)) + seed) >> 8, times 2^-24. */
export function hashUniform(seed: number, i: number): number {
  const k = mix32(seed >>> 0);
  const h = mix32((mix32((i ^ k) >>> 0) + (seed >>> 0)) >>> 0);
  return (h >>> 8) * (1 / 16777216);
}
