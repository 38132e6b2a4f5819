/** Shared test helpers: value comparison, numerical gradient checks, and per-backend suites. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe } from 'node:test';
import { backward } from '../src/autograd/tape.js';
import { availableBackends, getBackend, setBackend, type BackendName } from '../src/backend/registry.js';
import { tidy } from '../src/tensor/memory.js';
import { Rng } from '../src/tensor/random.js';
import { Tensor } from '../src/tensor/tensor.js';

/** Asserts |a - e| <= atol + rtol |e| elementwise, reporting the worst element. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol = 1e-5,
  rtol = 1e-5,
  what = 'values',
): void {
  assert.equal(
    actual.length,
    expected.length,
    `${what}: length ${actual.length} vs expected ${expected.length}`,
  );
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(err))) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`,
    );
  }
}

/**
 * Runs a describe() block once per available backend, titled `name [js]`, `name [native]`. The backend
 * is selected in a `before` hook (so it is active when the tests run, not only while they are
 * collected) and restored afterwards, and every test first checks that it runs on the backend its
 * suite names. Work belongs in `it()`/hooks: the body itself runs at collection time.
 */
export function describeBackends(name: string, body: (backend: BackendName) => void): void {
  for (const b of availableBackends()) {
    describe(`${name} [${b}]`, () => {
      let previous: BackendName | null = null;
      before(() => {
        previous = getBackend().name;
        setBackend(b);
      });
      after(() => {
        if (previous) setBackend(previous);
      });
      beforeEach(() => {
        assert.equal(
          getBackend().name,
          b,
          `suite '${name} [${b}]' is running on the ${getBackend().name} backend`,
        );
      });
      body(b);
    });
  }
}

export function randTensor(shape: number[], rng: Rng, scale = 1, offset = 0): Tensor {
  const t = Tensor.empty(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = offset + scale * (rng.uniform() * 2 - 1);
  return t;
}

export function param(t: Tensor): Tensor {
  t.requiresGrad = true;
  return t.keep();
}

export interface GradcheckOptions {
  h?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

/**
 * Compares the analytical gradients of `f` (for the inputs that require grad) with central differences
 * of L = sum(f(inputs) * R) for a fixed random R, element by element.
 */
export function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  opts: GradcheckOptions = {},
): void {
  const h = opts.h ?? 1e-3;
  const atol = opts.atol ?? 1e-2;
  const rtol = opts.rtol ?? 2e-2;
  const rng = new Rng(opts.seed ?? 7);
  for (const x of inputs) if (x.requiresGrad) x.grad = null;
  let weights: Float64Array | null = null;
  const lossOf = (): number =>
    tidy(() => {
      const out = f(...inputs);
      if (!weights) {
        weights = new Float64Array(out.size);
        for (let i = 0; i < out.size; i++) weights[i] = rng.uniform() * 2 - 1;
      }
      let s = 0;
      for (let i = 0; i < out.size; i++) s += out.data[i] * weights[i];
      return s;
    });
  lossOf();
  tidy(() => {
    const out = f(...inputs);
    const seed = Tensor.fromData(Float32Array.from(weights as unknown as Float64Array), out.shape);
    backward(out, seed);
  });
  inputs.forEach((x, which) => {
    if (!x.requiresGrad) return;
    assert.ok(x.grad, `input ${which} received no gradient`);
    const analytic = Float64Array.from(x.grad.data);
    const numeric = new Float64Array(x.size);
    for (let i = 0; i < x.size; i++) {
      const orig = x.data[i];
      x.data[i] = orig + h;
      const up = lossOf();
      x.data[i] = orig - h;
      const down = lossOf();
      x.data[i] = orig;
      numeric[i] = (up - down) / (2 * h);
    }
    assertClose(analytic, numeric, atol, rtol, `gradient of input ${which}`);
  });
}

/** A tensor in the fixtures' JSON form. */
export interface JsonTensor {
  shape: number[];
  dtype: string;
  data: number[];
}

export function readJsonFixture<T>(relPath: string): T {
  const url = new URL(`./fixtures/${relPath}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

export function fromJson(t: JsonTensor): Tensor {
  if (t.dtype.startsWith('int')) {
    const out = Tensor.emptyInt(t.shape);
    out.ints.set(t.data);
    return out;
  }
  const out = Tensor.empty(t.shape);
  out.data.set(t.data);
  return out;
}
