/**
 * The data loader: an async iterator of Batches for one epoch.
 *
 * Batches are produced by `workers` worker threads (0 = inline on the calling thread) and requested up
 * to `prefetch` ahead of the consumer, so decoding and augmentation overlap training. Results are
 * delivered in order and are identical for any number of workers: a batch depends only on
 * (seed, epoch, batch index) and the dataset. Workers live for one iteration; they are terminated when it
 * ends, fails, or is abandoned with `return()` (e.g. `break` out of `for await`).
 */
import type { Batch } from './batch.js';
import { type DatasetSpec, openDataset } from './datasets.js';
import { DataError } from './errors.js';
import { type WarningSink, stderrWarning } from './image_folder.js';
import { type MixupConfig, validateMixup } from './mixup.js';
import { BatchProducer, type BatchJob, type ProducerConfig } from './producer.js';
import {
  type RepeatedAugmentation,
  type SamplerConfig,
  type Shard,
  WHOLE_EPOCH,
  batchCount,
  epochLength,
  epochOrder,
} from './sampler.js';
import type { ImageSource } from './source.js';
import { type TransformConfig, compileTransform } from './transforms/pipeline.js';
import { WorkerPool } from './worker_pool.js';

export interface LoaderOptions {
  /** What to load: a spec to open, or an already opened source (reused across loaders, no re-reading). */
  readonly source: DatasetSpec | ImageSource;
  readonly transform: TransformConfig;
  readonly batchSize: number;
  readonly shuffle: boolean;
  /** Non-negative integer; with the epoch it decides order, augmentation and mixing. */
  readonly seed: number;
  /** Epoch iterated by `for await (const b of loader)`; default 0. */
  readonly epoch?: number;
  /** Worker threads; 0 runs inline. Default 2. */
  readonly workers?: number;
  /** Batches requested ahead of the consumer; default 2 per worker (at least 2). */
  readonly prefetch?: number;
  /** Drop the last incomplete batch (training). Default false. */
  readonly dropLast?: boolean;
  /** DeiT's repeated-augmentation sampler; null/absent for plain (shuffled) order. */
  readonly repeatedAugmentation?: RepeatedAugmentation | null;
  /** Batch mixup/cutmix (implies soft targets); null/absent disables. */
  readonly mixup?: MixupConfig | null;
  /**
   * Batches per mixing batch (gradient accumulation): `batchSize` is then a micro-batch, and each run
   * of `accumulation` batches is produced exactly as the pieces of one batch of accumulation x
   * batchSize (same order, augmentation, mixup pairs and decisions). With dropLast the epoch keeps
   * whole runs only. Default 1.
   */
  readonly accumulation?: number;
  /** Width of the soft targets: the model's outputs (default: the source's class count). */
  readonly numClasses?: number;
  /** Label smoothing when there is no mixup (mixup carries its own); default 0 (no targets). */
  readonly labelSmoothing?: number;
  /** Where skipped-image warnings go (one line per bad file); stderr by default. */
  readonly onWarning?: WarningSink;
  /** This data-parallel rank's share of each epoch (default: all of it; see sampler.ts). */
  readonly shard?: Shard;
  /**
   * Mix each batch as this many interleaved groups, each with its own reverse pairing and lam, as that
   * many data-parallel ranks of batch batchSize / groups do (default 1; see producer.ts).
   */
  readonly mixupGroups?: number;
}

export interface DataLoader extends AsyncIterable<Batch> {
  readonly source: ImageSource;
  readonly batchSize: number;
  /** Samples per epoch (repeated augmentation may keep fewer than the dataset has). */
  readonly numSamples: number;
  /** Batches per epoch (a multiple of `accumulation` with dropLast). */
  readonly numBatches: number;
  /** Batches that together make one mixing batch (one optimizer step). */
  readonly accumulation: number;
  /** The batches of one epoch (default: the `epoch` option). */
  iterate(epoch?: number): AsyncGenerator<Batch, void, undefined>;
}

function isSource(s: DatasetSpec | ImageSource): s is ImageSource {
  return typeof (s as Partial<ImageSource>).describe === 'function';
}

function requireInt(value: number, key: string, min: number): void {
  if (!(Number.isSafeInteger(value) && value >= min))
    throw new DataError(key, `an integer >= ${min}`, String(value));
}

export async function createLoader(opts: LoaderOptions): Promise<DataLoader> {
  const workers = opts.workers ?? 2;
  const defaultEpoch = opts.epoch ?? 0;
  const dropLast = opts.dropLast ?? false;
  const labelSmoothing = opts.labelSmoothing ?? 0;
  const mixup = opts.mixup ?? null;
  const onWarning = opts.onWarning ?? stderrWarning;
  const shard = opts.shard ?? WHOLE_EPOCH;
  const mixupGroups = opts.mixupGroups ?? 1;
  const accumulation = opts.accumulation ?? 1;
  requireInt(opts.batchSize, 'batchSize', 1);
  requireInt(mixupGroups, 'mixupGroups', 1);
  requireInt(accumulation, 'accumulation', 1);
  if (accumulation > 1 && !dropLast)
    throw new DataError(
      'accumulation',
      '1 without dropLast (only training loaders accumulate)',
      String(accumulation),
    );
  requireInt(workers, 'workers', 0);
  requireInt(opts.seed, 'seed', 0);
  requireInt(defaultEpoch, 'epoch', 0);
  const prefetch = opts.prefetch ?? Math.max(2, 2 * workers);
  requireInt(prefetch, 'prefetch', 1);
  if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
    throw new DataError('labelSmoothing', 'a value in [0, 1)', String(labelSmoothing));
  }
  if (mixup !== null) validateMixup(mixup);
  compileTransform(opts.transform); // fail here, not in a worker

  const source = isSource(opts.source) ? opts.source : await openDataset(opts.source, { onWarning });
  const sampler: SamplerConfig =
    opts.repeatedAugmentation != null
      ? { kind: 'repeated-augmentation', shuffle: opts.shuffle, ra: opts.repeatedAugmentation }
      : opts.shuffle
        ? { kind: 'shuffle' }
        : { kind: 'sequential' };
  const numSamples = epochLength(source.length, sampler, shard);
  const batchSize = opts.batchSize;
  const whole = batchSize * accumulation;
  const numBatches = dropLast
    ? batchCount(numSamples, whole, true) * accumulation
    : batchCount(numSamples, batchSize, false);
  if (numBatches === 0) {
    const ra =
      sampler.kind === 'repeated-augmentation'
        ? ` (repeated augmentation keeps floor(${source.length} / ${sampler.ra.multipleOf}) * ${sampler.ra.multipleOf} = ${numSamples} of the ${source.length} images per epoch, DeiT's rule: use --no-repeated-aug for a dataset this small)`
        : '';
    throw new DataError(
      accumulation > 1 ? 'batchSize x accumulation' : 'batchSize',
      `at most the ${numSamples} samples an epoch has${dropLast ? ' (dropLast drops a partial batch)' : ''}${ra}`,
      String(whole),
    );
  }
  // Each worker of each epoch warns once per bad file; the consumer should hear of it once in all.
  const warned = new Set<string>();
  const warnOnce = (line: string): void => {
    if (!warned.has(line)) {
      warned.add(line);
      onWarning(line);
    }
  };

  async function* iterate(epoch: number = defaultEpoch): AsyncGenerator<Batch, void, undefined> {
    requireInt(epoch, 'epoch', 0);
    const order = epochOrder(source.length, sampler, opts.seed, epoch, shard);
    const job = (b: number): BatchJob => {
      // slice, not subarray: a cloned view would drag the whole order array along.
      const indices = order.slice(b * batchSize, Math.min((b + 1) * batchSize, numSamples));
      if (accumulation === 1 || mixup === null)
        return { batchIndex: b, indices, firstPosition: b * batchSize };
      const index = Math.floor(b / accumulation);
      const start = index * whole;
      return {
        batchIndex: b,
        indices,
        firstPosition: b * batchSize,
        mixing: {
          index,
          size: whole,
          offset: b * batchSize - start,
          indices: order.slice(start, start + whole),
        },
      };
    };
    const config: ProducerConfig = {
      transform: opts.transform,
      seed: opts.seed,
      epoch,
      mixup,
      labelSmoothing,
      numClasses: opts.numClasses ?? source.numClasses,
      shard,
      mixupGroups,
    };

    if (workers === 0) {
      const producer = new BatchProducer(source, config);
      for (let b = 0; b < numBatches; b++) yield await producer.produce(job(b));
      return;
    }

    const pool = new WorkerPool(workers, { descriptor: source.describe(), producer: config }, warnOnce);
    yield* pool.inOrder(numBatches, prefetch, job);
  }

  return {
    source,
    batchSize,
    numSamples,
    numBatches,
    accumulation,
    iterate,
    [Symbol.asyncIterator]: () => iterate(),
  };
}
