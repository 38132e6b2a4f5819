/**
 * What the training loop asks of data parallelism (DDP's role): this rank's share of the data, its
 * rows of the global batch's dropout masks, one agreed loss and stop decision per step, averaged
 * gradients, evaluation metrics over all ranks, and start-up and per-epoch consistency checks.
 *
 * Every method that communicates is collective: all ranks call it at the same point of the loop.
 */
import { createHash } from 'node:crypto';
import { DataError } from '../data/errors.js';
import type { Shard } from '../data/sampler.js';
import { withBatchShard } from '../ops/dropout.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { EvalResult } from '../train/evaluate.js';
import { DEFAULT_BUCKET_ELEMENTS, GradientAverager } from './gradients.js';
import type { World } from './world.js';

/**
 * An error every rank raised together (they all know it): rank 0 reports it once, then the job ends
 * normally with a non-zero status.
 */
export class CollectiveError extends Error {}

/** Named hashes of what must be equal on every rank (see `fingerprint.ts`). */
export type Fingerprint = Record<string, string>;

interface StartupRecord {
  host: string;
  error?: string;
  fingerprint?: Fingerprint;
}

/** A short content hash of a model's float32 parameters and buffers, for comparing ranks. */
export function hashWeights(model: Module): string {
  const h = createHash('sha1');
  for (const t of model.stateDict().values()) {
    if (t.dtype === 'float32') h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

export interface DataParallelOptions {
  /** Aborting on any rank stops every rank after the same step (Ctrl-C on the launcher). */
  signal?: AbortSignal;
  bucketElements?: number;
}

export class DataParallel {
  readonly gradients: GradientAverager;
  private stop = false;
  private started = false;

  constructor(
    readonly world: World,
    private readonly opts: DataParallelOptions = {},
  ) {
    this.gradients = new GradientAverager(world, opts.bucketElements ?? DEFAULT_BUCKET_ELEMENTS);
  }

  get rank(): number {
    return this.world.rank;
  }

  get size(): number {
    return this.world.size;
  }

  /** Rank 0 alone prints progress and writes checkpoints and log.txt. */
  get isLead(): boolean {
    return this.world.rank === 0;
  }

  /** Whether verifyStartup has run (errors before it are reported through it, after it by abort). */
  get startupVerified(): boolean {
    return this.started;
  }

  /** This rank's share of an epoch: padded for training (equal step counts), exact for evaluation. */
  shard(kind: 'train' | 'eval'): Shard {
    return { rank: this.world.rank, replicas: this.world.size, pad: kind === 'train' };
  }

  /** A loader's "batch larger than the epoch" error, restated for a split shared by the ranks. */
  explainShardError(e: unknown, split: 'train' | 'val', images: number, batch: number): unknown {
    if (!(e instanceof DataError && e.path === 'batchSize')) return e;
    const need = split === 'train' ? `a batch of ${batch} (--batch-size)` : 'one image (--dist-eval)';
    return new Error(
      `the ${split} split has ${images} images, too few for ${this.size} ranks: each rank's share of an epoch must hold at least ${need}; use fewer ranks${split === 'train' ? ' or a smaller --batch-size' : ''}`,
    );
  }

  /** Runs a training forward pass with dropout masks drawn for this rank's rows of the global batch. */
  forward<T>(fn: () => T): T {
    return withBatchShard({ rank: this.world.rank, replicas: this.world.size }, fn);
  }

  /**
   * The mean of the ranks' batch losses (the loss of the global batch), and whether any rank was
   * asked to stop: both decided together, so every rank takes the same branch afterwards.
   */
  reduceStep(localLoss: number): number {
    const v = Float64Array.of(localLoss, this.opts.signal?.aborted ? 1 : 0);
    this.world.allreduce(v);
    this.stop = v[1] > 0;
    return v[0] / this.world.size;
  }

  /** Whether the last step's agreement asked every rank to stop (after that step). */
  get stopRequested(): boolean {
    return this.stop;
  }

  /** Gradients := their mean over the ranks (between backward and clipping / the optimizer step). */
  averageGradients(params: readonly Tensor[]): void {
    this.gradients.average(params);
  }

  /** Metrics of a sharded evaluation (`--dist-eval`) summed over the ranks' disjoint shards. */
  reduceEval(r: EvalResult): EvalResult {
    const v = Float64Array.of(
      Math.round((r.acc1 * r.images) / 100),
      Math.round((r.acc5 * r.images) / 100),
      r.loss * r.images,
      r.images,
    );
    this.world.allreduce(v);
    const images = v[3];
    return { acc1: (100 * v[0]) / images, acc5: (100 * v[1]) / images, loss: v[2] / images, images };
  }

  /**
   * The start-up agreement: every rank brings its fingerprint, or the error that stopped its setup.
   * Throws a CollectiveError, on every rank, when any rank failed or the fingerprints differ.
   */
  verifyStartup(mine: Fingerprint | { error: string }): void {
    this.started = true;
    const record: StartupRecord =
      'error' in mine && typeof mine.error === 'string'
        ? { host: this.world.host, error: mine.error.slice(0, 3000) }
        : { host: this.world.host, fingerprint: mine as Fingerprint };
    const all = this.world.allgatherJson(record, 4096);
    const failed = all.flatMap((r, rank) => (r.error !== undefined ? [{ rank, r }] : []));
    if (failed.length > 0) {
      const first = failed[0];
      const everywhere = failed.length === all.length && failed.every((f) => f.r.error === first.r.error);
      throw new CollectiveError(
        everywhere ? (first.r.error as string) : `rank ${first.rank} on ${first.r.host}: ${first.r.error}`,
      );
    }
    const ref = all[0].fingerprint ?? {};
    for (const key of Object.keys(ref)) {
      const other = all.findIndex((r) => r.fingerprint?.[key] !== ref[key]);
      if (other > 0) {
        throw new CollectiveError(
          `ranks disagree on the ${key}: rank ${other} on ${all[other].host} differs from rank 0 on ${all[0].host}; every rank must run the same lape train command on the same data`,
        );
      }
    }
  }

  /** Checks that every rank still holds the same weights (an all-reduce that differed across ranks). */
  checkInSync(model: Module, epoch: number): void {
    const hashes = this.world.allgatherJson(hashWeights(model), 64);
    const other = hashes.findIndex((h) => h !== hashes[0]);
    if (other > 0) {
      throw new CollectiveError(
        `the weights of rank ${other} differ from rank 0's after epoch ${epoch + 1}: this MPI's all-reduce did not give every rank the same result; resume from the last checkpoint`,
      );
    }
  }
}
