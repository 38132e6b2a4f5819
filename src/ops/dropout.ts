/**
 * Dropout and drop-path (per-sample stochastic depth). Masks come from the backend's counter-based
 * generator seeded by the caller's Rng, so they are identical on every backend.
 */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import type { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { binaryRaw } from './binary.js';

function applyMask(x: Tensor, mask: Tensor, name: string): Tensor {
  const out = binaryRaw('mul', x, mask);
  record(out, name, [x], (dy) => [binaryRaw('mul', dy, mask)]);
  if (!out.requiresGrad) mask.dispose();
  return out;
}

function checkP(op: string, p: number): void {
  if (!(p >= 0 && p < 1)) throw new Error(`${op}: probability must be in [0, 1), got ${p}`);
}

/** Zeroes each element with probability p and scales the rest by 1/(1-p); identity when not training. */
export function dropout(x: Tensor, p: number, training: boolean, rng: Rng): Tensor {
  checkP('dropout', p);
  if (!training || p === 0) return x;
  const mask = Tensor.empty(x.shape);
  dispatch.dropoutMask({ seed: rng.seed(), p, mask });
  return applyMask(x, mask, 'dropout');
}

/** Drops whole samples (axis 0) of a residual branch with probability p, scaling kept ones by 1/(1-p). */
export function dropPath(x: Tensor, p: number, training: boolean, rng: Rng): Tensor {
  checkP('dropPath', p);
  if (!training || p === 0) return x;
  const mask = Tensor.empty([x.shape[0], ...x.shape.slice(1).map(() => 1)]);
  dispatch.dropoutMask({ seed: rng.seed(), p, mask });
  return applyMask(x, mask, 'dropPath');
}
