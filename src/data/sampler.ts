/**
 * The order in which an epoch visits the dataset, a pure function of (seed, epoch).
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

function permutation(n: number, seed: number, epoch: number, shuffle: boolean): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (shuffle) Rng.derive(RngStream.order, seed, epoch).shuffle(order);
  return order;
}

/** Number of samples one epoch visits. */
export function epochLength(n: number, cfg: SamplerConfig): number {
  switch (cfg.kind) {
    case 'sequential':
    case 'shuffle':
      return n;
    case 'repeated-augmentation':
      return Math.floor(n / cfg.ra.multipleOf) * cfg.ra.multipleOf;
  }
}

/** Dataset indices in visiting order for one epoch. */
export function epochOrder(n: number, cfg: SamplerConfig, seed: number, epoch: number): Int32Array {
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
      // The repeated list is n * repeats long, at least as long as the kept prefix, so no wrap-around
      // padding (RASampler's `indices += indices[:...]`) is ever reached in the single-process case.
      for (let p = 0; p < out.length; p++) out[p] = base[Math.floor(p / repeats)];
      return out;
    }
  }
}

/** Batches per epoch: floor with dropLast (training), ceil otherwise. */
export function batchCount(samples: number, batchSize: number, dropLast: boolean): number {
  return dropLast ? Math.floor(samples / batchSize) : Math.ceil(samples / batchSize);
}
