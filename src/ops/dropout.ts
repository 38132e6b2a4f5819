/**
 * Dropout and drop-path (per-sample stochastic depth). Masks come from the backend's counter-based
 * generator seeded by the caller's Rng, so they are identical on every backend.
 *
 * Under data parallelism (`withBatchShard`) and gradient accumulation (`withSampleWindow`) every pass
 * draws the same seed and takes its own rows of the mask of the whole step's batch, so N ranks of
 * batch B, or N micro-batches of B, drop exactly what one pass over N * B drops.
 */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import type { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { shapeEq } from '../tensor/shape.js';
import { emptyGrad, gemmDType } from './autocast.js';
import { add, binaryRaw } from './binary.js';

/**
 * Where the rows of one forward pass sit in the whole batch of an optimizer step, so that dropout and
 * drop-path masks are the rows a single pass over that whole batch would draw with the same seed:
 *   - a micro-batch of gradient accumulation (`withSampleWindow`) holds rows [offset, offset + rows)
 *     of its step's `total` rows;
 *   - a data-parallel rank (`withBatchShard`) holds rows k * replicas + rank of the global batch.
 * Both may hold at once (a micro-batch on one rank); axis 0 of every masked tensor is the batch.
 */
export interface SampleWindow {
  offset: number;
  total: number;
}

/** The samples of a data-parallel global batch this process holds: global row k * replicas + rank. */
export interface BatchShard {
  readonly rank: number;
  readonly replicas: number;
}

let sampleWindow: SampleWindow | null = null;
let batchShard: BatchShard | null = null;

/** Runs `fn` (a forward pass over one micro-batch) with the masks of `window`'s rows. */
export function withSampleWindow<T>(window: SampleWindow | null, fn: () => T): T {
  const prev = sampleWindow;
  sampleWindow = window;
  try {
    return fn();
  } finally {
    sampleWindow = prev;
  }
}

/** Runs `fn` (a forward pass over this rank's samples) with the masks of its rows of the global batch. */
export function withBatchShard<T>(shard: BatchShard | null, fn: () => T): T {
  const prev = batchShard;
  batchShard = shard && shard.replicas > 1 ? shard : null;
  try {
    return fn();
  } finally {
    batchShard = prev;
  }
}

/** Masks with at least this many elements per sample are drawn row by row at their offsets. */
const ROW_BY_ROW = 64;

/** Fills a dropout mask (values 1/(1-p) or 0) from `seed` for the rows the current pass holds. */
export function fillDropoutMask(seed: number, p: number, mask: Tensor): void {
  const window = sampleWindow;
  const shard = batchShard;
  const rows = mask.shape[0];
  if ((window === null || (window.offset === 0 && window.total === rows)) && shard === null) {
    dispatch.dropoutMask({ seed, p, mask });
    return;
  }
  const local = window ? window.total : rows; // rows of this process's share of the step
  if (window && !(window.offset >= 0 && window.offset + rows <= window.total))
    throw new RangeError(
      `dropout: rows ${window.offset}..${window.offset + rows} are outside a batch of ${window.total}`,
    );
  const replicas = shard?.replicas ?? 1;
  const rowOf = (k: number): number => ((window?.offset ?? 0) + k) * replicas + (shard?.rank ?? 0);
  const per = mask.size / rows; // elements of one sample
  if (per >= ROW_BY_ROW) {
    for (let k = 0; k < rows; k++) {
      const row = mask.data.subarray(k * per, (k + 1) * per);
      dispatch.dropoutMask({ seed, p, mask: row, offset: rowOf(k) * per });
    }
    return;
  }
  const whole = new Float32Array(local * replicas * per);
  dispatch.dropoutMask({ seed, p, mask: whole });
  for (let k = 0; k < rows; k++) mask.data.set(whole.subarray(rowOf(k) * per, (rowOf(k) + 1) * per), k * per);
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

/**
 * `x + dropPath(branch)`, a block's residual add with stochastic depth, in one pass each way: the
 * forward adds the branch scaled per sample (the same mask `dropPath` draws), the backward passes dy
 * to x and writes the branch's gradient dy * scale, in bfloat16 under autocast when the branch's
 * producer takes it (a GEMM's output, see `emptyGrad`). `add(x, branch)` when not dropping.
 */
export function addDropPath(x: Tensor, branch: Tensor, p: number, training: boolean, rng: Rng): Tensor {
  checkP('dropPath', p);
  if (!training || p === 0) return add(x, branch);
  if (!shapeEq(x.shape, branch.shape)) {
    throw new Error(
      `addDropPath: residual ${x.describe()} and branch ${branch.describe()} must have one shape`,
    );
  }
  const rows = x.shape[0];
  const cols = x.size / rows;
  const scale = Tensor.empty([rows]);
  fillDropoutMask(rng.seed(), p, scale);
  const out = Tensor.empty(x.shape);
  dispatch.addScaledRows({ x, y: branch, scale, out, rows, cols });
  const half = gemmDType() === 'bfloat16';
  record(out, 'addDropPath', [x, branch], (dy) => {
    let db: Tensor | null = null;
    if (branch.requiresGrad) {
      db = emptyGrad(branch, half);
      dispatch.addScaledRows({ x: null, y: dy, scale, out: db, rows, cols });
    }
    return [x.requiresGrad ? dy.view(x.shape) : null, db];
  });
  if (!out.requiresGrad) scale.dispose();
  return out;
}
