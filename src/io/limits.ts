/**
 * Resource limits of the file readers. A checkpoint, an array file or a dataset file is untrusted
 * input: a few hundred kilobytes can claim gigabytes (a zip bomb, a pickle that repeats one reference
 * millions of times, a stride-0 view of one element expanded to a billion). Every reader charges what it
 * allocates to a `ReadBudget` before allocating it, and stops with a CheckpointError naming the file
 * and the limit when a limit would be passed, so memory stays bounded whatever the file says.
 *
 * What is bounded, and the defaults (`DEFAULT_READ_LIMITS`):
 * - `maxBytes` (8 GiB): everything one read holds, i.e. record and storage bytes read or decompressed
 *   plus tensors materialized from them. The one absolute cap; raise it for genuinely huge checkpoints
 *   (library: the `limits` option of every reader; CLI: `--max-checkpoint-bytes` or the environment
 *   variable `LAPE_MAX_CHECKPOINT_BYTES`, e.g. `24G`).
 * - `maxInflateRatio` (100): compressed data (a re-zipped checkpoint, a gzipped IDX file) may decompress
 *   to at most this many times the size of the file it comes from, or 64 MiB, whichever is more. Zip
 *   bombs reach about 1000; real weights compress by less than 2, pickles and images by less than 10.
 * - `maxExpandedBytes` (256 MiB): tensors are views of storages; a view may repeat elements (stride 0,
 *   overlapping windows) or several views may share a storage. Materializing them may take at most this
 *   many bytes more than the storages they view hold. Identical views are materialized once.
 * - `maxPickleObjects` (5 million): values a pickle creates, items it puts into containers, and memo
 *   entries, all counted together. A ViT-B training checkpoint needs about 10 thousand.
 * - `maxPickleDepth` (1000): nesting of MARKs and of containers in the loaded value; self-containing
 *   containers are refused, so anything that walks a loaded value terminates.
 */
import { CheckpointError } from './errors.js';

export interface ReadLimits {
  /** Most bytes one read may hold (records, storages, materialized tensors). Default 8 GiB. */
  readonly maxBytes: number;
  /** Most bytes views may materialize beyond the storages they view. Default 256 MiB. */
  readonly maxExpandedBytes: number;
  /** Decompressed data may be this many times the file's size (or 64 MiB). Default 100. */
  readonly maxInflateRatio: number;
  /** Most objects, container items and memo entries a pickle may create. Default 5,000,000. */
  readonly maxPickleObjects: number;
  /** Deepest nesting of MARKs and containers in a pickle. Default 1000. */
  readonly maxPickleDepth: number;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** The built-in limits (see the module comment for the reasoning behind each). */
export const DEFAULT_READ_LIMITS: ReadLimits = Object.freeze({
  maxBytes: 8 * GiB,
  maxExpandedBytes: 256 * MiB,
  maxInflateRatio: 100,
  maxPickleObjects: 5_000_000,
  maxPickleDepth: 1000,
});

/** Decompressed data is always allowed up to this size, whatever the ratio. */
export const INFLATE_FLOOR = 64 * MiB;

let processDefaults: ReadLimits = DEFAULT_READ_LIMITS;

/**
 * Changes the limits readers use when a call passes none (the CLI sets them from its flags). Returns the
 * previous defaults, so a caller can restore them.
 */
export function setDefaultReadLimits(limits: Partial<ReadLimits>): ReadLimits {
  const previous = processDefaults;
  processDefaults = resolveReadLimits(limits, DEFAULT_READ_LIMITS);
  return previous;
}

/** The limits a read uses: the given ones over the current defaults, each checked to be positive. */
export function resolveReadLimits(
  limits: Partial<ReadLimits> = {},
  base: ReadLimits = processDefaults,
): ReadLimits {
  const out = { ...base };
  for (const key of Object.keys(base) as (keyof ReadLimits)[]) {
    const v = limits[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0) || Number.isNaN(v)) {
      throw new RangeError(`read limit ${key} must be a positive number, got ${String(v)}`);
    }
    out[key] = v;
  }
  return Object.freeze(out);
}

/**
 * Parses a byte size as the CLI and the environment give it: a plain or exponent number of bytes, or
 * one with a binary unit (K, M, G, T: powers of 1024; an optional trailing B or iB).
 */
export function parseByteSize(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$/.exec(text);
  const unit = m ? { '': 1, k: 1024, m: MiB, g: GiB, t: 1024 * GiB }[m[2].toLowerCase()] : undefined;
  const v = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!(Number.isFinite(v) && v >= 1)) {
    throw new RangeError(`${what} expects a size in bytes such as 8G, 512M or 2e9, got '${text}'`);
  }
  return Math.floor(v);
}

/** A byte count for messages: `512 MiB`, `4 GiB`, `1.5 KiB`, `17 bytes`. */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${n} bytes`;
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

const HOW_TO_RAISE =
  'raise it with --max-checkpoint-bytes or LAPE_MAX_CHECKPOINT_BYTES, or the limits option of the reader';

/**
 * What one read of one file may still allocate. Readers charge before they allocate; a charge that
 * would pass a limit throws a CheckpointError naming the file, the limit and how to raise it.
 */
export class ReadBudget {
  readonly limits: ReadLimits;
  private bytes = 0;
  private inflated = 0;
  private expanded = 0;
  private objects = 0;

  constructor(
    readonly file: string,
    limits: Partial<ReadLimits> | ReadLimits = {},
    /** Size of the file on disk: the base of the decompression allowance. */
    private readonly fileSize = 0,
  ) {
    this.limits = resolveReadLimits(limits);
  }

  private fail(problem: string): never {
    throw new CheckpointError(this.file, problem);
  }

  /** Charges `n` bytes about to be allocated for `what` against `maxBytes`. */
  allocate(n: number, what: string): void {
    if (this.bytes + n > this.limits.maxBytes) {
      this.fail(
        `${what} would take ${formatBytes(n)}, past the limit of ${formatBytes(this.limits.maxBytes)} for one file ` +
          `(maxBytes; ${HOW_TO_RAISE})`,
      );
    }
    this.bytes += n;
  }

  /** How many bytes of decompressed output the file may still produce. */
  inflateAllowance(): number {
    const cap = Math.max(INFLATE_FLOOR, this.limits.maxInflateRatio * this.fileSize);
    return Math.max(0, cap - this.inflated);
  }

  /** Charges `n` decompressed bytes of `what` (checked against the ratio allowance, then maxBytes). */
  inflate(n: number, what: string): void {
    if (n > this.inflateAllowance()) {
      const cap = Math.max(INFLATE_FLOOR, this.limits.maxInflateRatio * this.fileSize);
      this.fail(
        `${what} decompresses to ${formatBytes(n)}, more than the ${formatBytes(cap)} this ${formatBytes(this.fileSize)} ` +
          `file may decompress to (maxInflateRatio ${this.limits.maxInflateRatio}, at least ${formatBytes(INFLATE_FLOOR)}): ` +
          'a zip bomb, or a corrupt size field',
      );
    }
    this.allocate(n, what);
    this.inflated += n;
  }

  /**
   * For a tensor view about to be materialized: `copy` new bytes, `excess` of them beyond what its
   * storage holds. Charges both and returns null when they fit, else returns (without charging) the
   * problem, completing "tensor 'name' ..." with `what()` (which describes the view).
   */
  problemWith(copy: number, excess: number, what: () => string): string | null {
    if (this.expanded + excess > this.limits.maxExpandedBytes) {
      return (
        `${what()}: materializing it takes ${formatBytes(excess)} more than the storage holds, past the ` +
        `limit of ${formatBytes(this.limits.maxExpandedBytes)} for expanded views (maxExpandedBytes; ${HOW_TO_RAISE})`
      );
    }
    if (this.bytes + copy > this.limits.maxBytes) {
      return (
        `${what()}: materializing it takes ${formatBytes(copy)}, past the limit of ` +
        `${formatBytes(this.limits.maxBytes)} for one file (maxBytes; ${HOW_TO_RAISE})`
      );
    }
    this.expanded += excess;
    this.bytes += copy;
    return null;
  }

  /** Charges `n` objects (pickle values, container items, memo entries; header entries). */
  objectsCreated(n: number, what = 'pickle'): void {
    this.objects += n;
    if (this.objects > this.limits.maxPickleObjects) {
      this.fail(
        `${what} creates more than ${this.limits.maxPickleObjects.toLocaleString('en')} objects ` +
          '(maxPickleObjects): a bomb, or not a checkpoint',
      );
    }
  }

  /** Fails when a nesting depth passes maxPickleDepth. */
  depth(d: number, what: string): void {
    if (d > this.limits.maxPickleDepth) {
      this.fail(`${what} nests deeper than ${this.limits.maxPickleDepth} levels (maxPickleDepth)`);
    }
  }
}
