/**
 * The order in which an epoch visits the dataset, a pure function of (seed, epoch), and its share for
 * one of several data-parallel processes.
 *
 * Sharding follows torch's DistributedSampler and DeiT's RASampler: every process builds the same
 * global order and takes every `replicas`-th position starting at its `rank`, so the union of the
 * processes' batch b is exactly positions [b * replicas * batch, (b + 1) * replicas * batch) of the
 * global order: the batch one process of batch size replicas * batch would train on.
 */
import { DataError } from './errors.js';
import { Rng, RngStream } from '../tensor/random.js';

/**
 * DeiT's RASampler for one process: each index of the (shuffled) order is repeated `repeats` times in a
 * row, and the epoch keeps only the first floor(N / multipleOf) * multipleOf positions, so an epoch still
 * has about N samples (of about N / repeats distinct images, each augmented `repeats` ways).
 */
export interface RepeatedAugmentation {
  readonly repeats: number;
  readonly multipleOf: number;
}

export const DEIT_REPEATED_AUGMENTATION: RepeatedAugmentation = { repeats: 3, multipleOf: 256 };

export type SamplerConfig =
  | { readonly kind: 'sequential' }
  | { readonly kind: 'shuffle' }
  | { readonly kind: 'repeated-augmentation'; readonly shuffle: boolean; readonly ra: RepeatedAugmentation };

/** One process's share of an epoch: global position p belongs to rank p % replicas. */
export interface Shard {
  readonly rank: number;
  readonly replicas: number;
  /**
   * Pad the global order to a multiple of `replicas` by repeating its first samples, so every rank
   * gets as many (torch's DistributedSampler: training); without it ranks differ by at most one
   * sample and no sample is seen twice (exact distributed evaluation).
   */
  readonly pad: boolean;
}

export const WHOLE_EPOCH: Shard = { rank: 0, replicas: 1, pad: false };

function checkShard(shard: Shard): void {
  if (!(Number.isInteger(shard.replicas) && shard.replicas >= 1))
    throw new DataError('shard.replicas', 'an integer >= 1', String(shard.replicas));
  if (!(Number.isInteger(shard.rank) && shard.rank >= 0 && shard.rank < shard.replicas))
    throw new DataError('shard.rank', `an integer in [0, ${shard.replicas})`, String(shard.rank));
}

/** The global epoch position of a rank's local position `local`. */
export function globalPosition(local: number, shard: Shard): number {
  return local * shard.replicas + shard.rank;
}

function permutation(n: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (shuffle) Rng.derive(RngStream.order, seed, epoch).shuffle(order);
  return order;
}

/** Number of samples one epoch visits (on one rank of `shard`). */
export function epochLength(n: number, cfg: SamplerConfig, shard: Shard = WHOLE_EPOCH): number {
  checkShard(shard);
  const { rank, replicas } = shard;
  switch (cfg.kind) {
    case 'sequential':
    case 'shuffle':
      return shard.pad ? Math.ceil(n / replicas) : Math.max(0, Math.ceil((n - rank) / replicas));
    case 'repeated-augmentation':
      // RASampler's num_selected_samples: the kept multiple of multipleOf, split evenly (floor).
      return Math.floor((Math.floor(n / cfg.ra.multipleOf) * cfg.ra.multipleOf) / replicas);
  }
}

/** Dataset indices in visiting order for one epoch (this rank's share of it). */
export function epochOrder(
  n: number,
  cfg: SamplerConfig,
  seed: number,
  epoch: number,
  shard: Shard = WHOLE_EPOCH,
): Int32Array {
  const global = globalOrder(n, cfg, seed, epoch);
  const out = new Int32Array(epochLength(n, cfg, shard));
  // Positions past the global order are DistributedSampler's padding: the order again from its start.
  for (let j = 0; j < out.length; j++) out[j] = global[globalPosition(j, shard) % global.length];
  return out;
}

function globalOrder(n: number, cfg: SamplerConfig, seed: number, epoch: number): Int32Array {
  switch (cfg.kind) {
    case 'sequential':
      return permutation(n, seed, epoch, false);
    case 'shuffle':
      return permutation(n, seed, epoch, true);
    case 'repeated-augmentation': {
      const { repeats, multipleOf } = cfg.ra;
      if (!(Number.isInteger(repeats) && repeats >= 1))
        throw new DataError('repeatedAugmentation.repeats', 'an integer >= 1', String(repeats));
      if (!(Number.isInteger(multipleOf) && multipleOf >= 1)) {
        throw new DataError('repeatedAugmentation.multipleOf', 'an integer >= 1', String(multipleOf));
      }
      const base = permutation(n, seed, epoch, cfg.shuffle);
      const out = new Int32Array(epochLength(n, cfg));
      // The repeated list is n * repeats long, at least as long as the kept prefix, so RASampler's
      // wrap-around padding (`indices += indices[:...]`) is never reached, on any number of ranks.
      for (let p = 0; p < out.length; p++) out[p] = base[Math.floor(p / repeats)];
      return out;
    }
  }
}

/** Batches per epoch: floor with dropLast (training), ceil otherwise. */
export function batchCount(samples: number, batchSize: number, dropLast: boolean): number {
  return dropLast ? Math.floor(samples / batchSize) : Math.ceil(samples / batchSize);
}
