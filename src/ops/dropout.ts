/**
 * Dropout and drop-path (per-sample stochastic depth). Masks come from the backend's counter-based
 * generator seeded by the caller's Rng, so they are identical on every backend.
 */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import type { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { binaryRaw } from './binary.js';

/**
 * Rows [offset, offset + rows) of a batch of `total` samples: a forward pass over one micro-batch of a
 * gradient-accumulation step. Masks are then the matching rows of the masks a forward pass over the
 * whole batch would draw with the same seed (samples are axis 0 of every masked tensor).
 */
export interface SampleWindow {
  offset: number;
  total: number;
}

let sampleWindow: SampleWindow | null = null;

/** Runs `fn` with every dropout/drop-path mask taken from `window`'s rows of the whole batch's mask. */
export function withSampleWindow<T>(window: SampleWindow | null, fn: () => T): T {
  const prev = sampleWindow;
  sampleWindow = window;
  try {
    return fn();
  } finally {
    sampleWindow = prev;
  }
}

/** Fills a dropout mask (scale 1/(1-p) or 0) from `seed`, honouring the sample window. */
export function fillDropoutMask(seed: number, p: number, mask: Tensor): void {
  const w = sampleWindow;
  const rows = mask.shape[0];
  if (w === null || (w.offset === 0 && w.total === rows)) {
    dispatch.dropoutMask({ seed, p, mask });
    return;
  }
  if (!(w.offset >= 0 && w.offset + rows <= w.total))
    throw new RangeError(`dropout: rows ${w.offset}..${w.offset + rows} are outside a batch of ${w.total}`);
  const per = mask.size / rows;
  const full = new Float32Array(w.total * per);
  dispatch.dropoutMask({ seed, p, mask: full });
  mask.data.set(full.subarray(w.offset * per, (w.offset + rows) * per));
}

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
  fillDropoutMask(rng.seed(), p, mask);
  return applyMask(x, mask, 'dropout');
}

/** Drops whole samples (axis 0) of a residual branch with probability p, scaling kept ones by 1/(1-p). */
export function dropPath(x: Tensor, p: number, training: boolean, rng: Rng): Tensor {
  checkP('dropPath', p);
  if (!training || p === 0) return x;
  const mask = Tensor.empty([x.shape[0], ...x.shape.slice(1).map(() => 1)]);
  fillDropoutMask(rng.seed(), p, mask);
  return applyMask(x, mask, 'dropPath');
}
