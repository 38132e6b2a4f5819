/**
 * Kernel comparison cases (native against portable, src/backend/native/native_backend.test.ts): the
 * case type, tolerances, deterministic inputs and comparison helpers.
 */
import assert from 'node:assert/strict';

import { float32ToBf16 } from '../../../tensor/bf16.js';
import type { KernelArgs, KernelName } from '../../kernels.js';

/** Deterministic uniform floats in [lo, hi). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}

/** The same values rounded to bfloat16 (as raw 16-bit patterns). */
export function bf16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  float32ToBf16(x, out);
  return out;
}

export function close(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  atol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if ((Number.isNaN(e) && Number.isNaN(a)) || a === e) continue;
    const err = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(err))) {
      worst = i;
      worstErr = Number.isNaN(err) ? Infinity : err;
    }
  }
  if (worst >= 0)
    assert.fail(
      `${what}: element ${worst}: native ${actual[worst]} vs js ${expected[worst]} (of ${actual.length})`,
    );
}

export function exact(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i]))
      assert.fail(`${what}: element ${i}: native ${actual[i]} vs js ${expected[i]}`);
  }
}

/** How outputs are compared: within tolerance, or bit for bit. */
export type Tolerance = { rtol: number; atol: number } | 'exact';

export interface KernelCase<K extends KernelName> {
  what: string;
  /** Fresh arguments (same inputs on every call; output buffers new). */
  args: () => KernelArgs<K>;
  /** The fields the kernel writes. */
  outputs: readonly (keyof KernelArgs<K>)[];
  tol: Tolerance;
}
export type Cases = { readonly [K in KernelName]: () => KernelCase<K>[] };

export const tol = (rtol: number, atol: number): Tolerance => ({ rtol, atol });
