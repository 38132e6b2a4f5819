/**
 * CIFAR-10 / CIFAR-100 "binary version" files.
 *
 * CIFAR-10 records are <1 label byte><3072 pixel bytes> (data_batch_1..5.bin, test_batch.bin);
 * CIFAR-100 records are <1 coarse label><1 fine label><3072 pixel bytes> (train.bin, test.bin) and the
 * fine label is the class. Pixels are planar (1024 R, then G, then B, each 32x32 row-major); they are
 * converted once to HWC so samples are views like every other in-memory source.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { DataError } from './errors.js';
import type { Split } from './split.js';
import { MemorySource, sharedBytes, sharedInt32 } from './source.js';

export type CifarVariant = 'cifar10' | 'cifar100';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;

interface RecordFormat {
  /** Bytes before the pixels of a record; the class label is the last of them. */
  readonly labelBytes: 1 | 2;
  readonly numClasses: number;
  readonly namesFile: string;
}

const FORMAT: Record<CifarVariant, RecordFormat> = {
  cifar10: { labelBytes: 1, numClasses: 10, namesFile: 'batches.meta.txt' },
  cifar100: { labelBytes: 2, numClasses: 100, namesFile: 'fine_label_names.txt' },
};

function splitFiles(variant: CifarVariant, split: Split): string[] {
  switch (variant) {
    case 'cifar10':
      return split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
    case 'cifar100':
      return [split === 'train' ? 'train.bin' : 'test.bin'];
  }
}

const CIFAR10_NAMES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

/** Class names from the dataset's own names file when present (it ships with the binary version). */
async function readClassNames(dir: string, variant: CifarVariant): Promise<string[]> {
  const l = FORMAT[variant];
  const path = join(dir, l.namesFile);
  const text = await fs.readFile(path, 'utf8').catch(() => null);
  if (text !== null) {
    const names = text
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (names.length !== l.numClasses) {
      throw new DataError(path, `${l.numClasses} class names, one per line`, `${names.length}`);
    }
    return names;
  }
  return variant === 'cifar10' ? CIFAR10_NAMES : Array.from({ length: l.numClasses }, (_, i) => `class_${i}`);
}

/** Parses concatenated records into HWC pixels and labels. Exported for tests. */
export function decodeCifarRecords(
  chunks: readonly { readonly path: string; readonly bytes: Uint8Array }[],
  variant: CifarVariant,
): { images: Uint8Array; labels: Int32Array } {
  const l = FORMAT[variant];
  const record = l.labelBytes + PIXELS;
  let n = 0;
  for (const c of chunks) {
    if (c.bytes.length === 0 || c.bytes.length % record !== 0) {
      throw new DataError(
        c.path,
        `a whole number of ${record}-byte ${variant} records`,
        `${c.bytes.length} bytes`,
      );
    }
    n += c.bytes.length / record;
  }
  const images = sharedBytes(n * PIXELS);
  const labels = sharedInt32(n);
  let k = 0;
  for (const c of chunks) {
    const b = c.bytes;
    for (let off = 0; off < b.length; off += record, k++) {
      const label = b[off + l.labelBytes - 1];
      if (label >= l.numClasses) {
        throw new DataError(
          c.path,
          `labels in [0, ${l.numClasses})`,
          `label ${label} in record ${off / record}`,
        );
      }
      labels[k] = label;
      const src = off + l.labelBytes;
      const dst = k * PIXELS;
      for (let p = 0; p < PLANE; p++) {
        images[dst + 3 * p] = b[src + p];
        images[dst + 3 * p + 1] = b[src + PLANE + p];
        images[dst + 3 * p + 2] = b[src + 2 * PLANE + p];
      }
    }
  }
  return { images, labels };
}

/** Opens one split of a CIFAR binary folder (e.g. `cifar-10-batches-bin/`) into shared memory. */
export async function openCifarDataset(opts: {
  readonly dir: string;
  readonly variant: CifarVariant;
  readonly split: Split;
}): Promise<MemorySource> {
  const { dir, variant, split } = opts;
  const files = splitFiles(variant, split);
  const stat = await fs.stat(dir).catch(() => null);
  if (stat === null || !stat.isDirectory()) {
    throw new DataError(
      dir,
      `a folder holding the ${variant} binary files (${files.join(', ')})`,
      'no such folder',
    );
  }
  // Read in parallel, but report the first missing file in the files' order (not whichever read
  // happened to fail first).
  const reads = await Promise.allSettled(files.map((name) => fs.readFile(join(dir, name))));
  const chunks = reads.map((r, i) => {
    const path = join(dir, files[i]);
    if (r.status === 'fulfilled') return { path, bytes: new Uint8Array(r.value) };
    const code = (r.reason as NodeJS.ErrnoException).code;
    throw new DataError(path, `the ${variant} ${split} file ${files[i]}`, code);
  });
  const { images, labels } = decodeCifarRecords(chunks, variant);
  const classNames = await readClassNames(dir, variant);
  return new MemorySource({
    kind: 'memory',
    images,
    labels,
    height: SIDE,
    width: SIDE,
    channels: 3,
    classNames,
  });
}
