/**
 * Dropout and drop-path (per-sample stochastic depth). Masks come from the backend's counter-based
 * generator seeded by the caller's Rng, so they are identical on every backend.
 *
 * Under data parallelism (`withBatchShard`) every rank draws the same seed, generates the mask of the
 * whole global batch and keeps its own samples' rows, so N ranks of batch B drop exactly what one
 * process of batch N * B drops. Axis 0 of every masked tensor is then the batch.
 */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import type { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { binaryRaw } from './binary.js';

/** The samples of a data-parallel global batch this process holds: global row k * replicas + rank. */
export interface BatchShard {
  readonly rank: number;
  readonly replicas: number;
}

let batchShard: BatchShard | null = null;

/** Runs `fn` (a forward pass) with masks drawn for this rank's rows of the global batch. */
export function withBatchShard<T>(shard: BatchShard | null, fn: () => T): T {
  const prev = batchShard;
  batchShard = shard && shard.replicas > 1 ? shard : null;
  try {
    return fn();
  } finally {
    batchShard = prev;
  }
}

/** Fills `mask` (axis 0 = the batch) with keep-and-scale values for `seed`; see withBatchShard. */
export function fillDropoutMask(seed: number, p: number, mask: Tensor): void {
  const shard = batchShard;
  if (shard === null) {
    dispatch.dropoutMask({ seed, p, mask });
    return;
  }
  const rows = mask.shape[0];
  const per = mask.size / rows; // elements of one sample
  const global = Tensor.empty([rows * shard.replicas, ...mask.shape.slice(1)]);
  dispatch.dropoutMask({ seed, p, mask: global });
  for (let k = 0; k < rows; k++) {
    const from = (k * shard.replicas + shard.rank) * per;
    mask.data.set(global.data.subarray(from, from + per), k * per);
  }
  global.dispose();
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
