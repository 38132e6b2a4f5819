/**
 * Position-embedding similarity, as visualised in the LaPE paper: the cosine similarity between
 * the PEs of all patches (class/distillation tokens excluded) of one layer, and one token's row
 * of it reshaped to the patch grid.
 */

import type { LayerSimilarity } from './data.js';

/** Mirrors the reference's `F.normalize(pe, dim=-1, eps=1e-8)`: x / max(||x||, eps). */
export const COSINE_EPS = 1e-8;

/**
 * Cosine similarity between every pair of rows of a row-major [n, d] matrix, as an [n, n]
 * row-major matrix: normalize each row by max(||x||, 1e-8), then take all dot products.
 * A zero row therefore has similarity 0 with everything (itself included), as in the reference.
 * Accumulates in float64 because PEs after LayerNorm can have large norms and d up to 768+.
 */
export function cosineSimilarityMatrix(pe: Float32Array, n: number, d: number): Float32Array {
  assertDims(n, d);
  if (pe.length !== n * d) throw new RangeError(`pe has ${pe.length} values, expected n*d = ${n}*${d}`);
  const unit = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let ss = 0;
    for (let k = 0; k < d; k++) ss += pe[o + k] * pe[o + k];
    const inv = 1 / Math.max(Math.sqrt(ss), COSINE_EPS);
    for (let k = 0; k < d; k++) unit[o + k] = pe[o + k] * inv;
  }
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const oi = i * d;
    // The matrix is symmetric: compute the upper triangle once and mirror it.
    for (let j = i; j < n; j++) {
      const oj = j * d;
      let dot = 0;
      for (let k = 0; k < d; k++) dot += unit[oi + k] * unit[oj + k];
      out[i * n + j] = dot;
      out[j * n + i] = dot;
    }
  }
  return out;
}

/**
 * One token's similarity to every patch: row `token` of an [n, n] matrix, copied (length n,
 * row-major over the h x w grid when n = h*w).
 */
export function tokenMap(sim: Float32Array, n: number, token: number): Float32Array {
  assertDims(n, 1);
  if (sim.length !== n * n) throw new RangeError(`sim has ${sim.length} values, expected n*n = ${n * n}`);
  if (!Number.isInteger(token) || token < 0 || token >= n) {
    throw new RangeError(`token ${token} out of range [0, ${n})`);
  }
  return sim.slice(token * n, token * n + n);
}

/**
 * The patch rows of a [tokens, d] PE matrix whose first `prefix` rows are class/distillation
 * tokens (the model's `pos_embed` layout), i.e. rows prefix..tokens-1.
 */
export function dropPrefixTokens(pe: Float32Array, tokens: number, d: number, prefix: number): Float32Array {
  assertDims(tokens, d);
  if (pe.length !== tokens * d) {
    throw new RangeError(`pe has ${pe.length} values, expected tokens*d = ${tokens}*${d}`);
  }
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > tokens) {
    throw new RangeError(`prefix ${prefix} out of range [0, ${tokens}]`);
  }
  return pe.slice(prefix * d);
}

/**
 * `ReportData.layers` from per-layer PE matrices as the model holds them ([tokens, d], the first
 * `prefix` rows being class/distillation tokens, which the visualisation leaves out).
 */
export function layerSimilarities(
  pes: readonly { index: number; pe: Float32Array }[],
  tokens: number,
  d: number,
  prefix: number,
): LayerSimilarity[] {
  return pes.map(({ index, pe }) => ({
    index,
    similarity: cosineSimilarityMatrix(dropPrefixTokens(pe, tokens, d, prefix), tokens - prefix, d),
  }));
}

/** Patch index (row-major) of grid cell (row, col). */
export function patchIndex(row: number, col: number, w: number): number {
  return row * w + col;
}

/** Grid cell of a patch index (row-major). */
export function patchCell(index: number, w: number): { row: number; col: number } {
  return { row: Math.floor(index / w), col: index % w };
}

function assertDims(n: number, d: number): void {
  if (!Number.isInteger(n) || n <= 0 || !Number.isInteger(d) || d <= 0) {
    throw new RangeError(`invalid dimensions n=${n}, d=${d}`);
  }
}
