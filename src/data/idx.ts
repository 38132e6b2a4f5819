/**
 * MNIST-style IDX files (MNIST, Fashion-MNIST), gzipped or not.
 *
 * Format: two zero bytes, a type byte (0x08 = unsigned byte, the only type these datasets use), the
 * number of dimensions, then one big-endian uint32 per dimension, then the values row-major.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { INFLATE_FLOOR, formatBytes, resolveReadLimits } from '../io/limits.js';
import { DataError } from './errors.js';
import type { Split } from './split.js';
import { MemorySource, sharedBytes, sharedInt32 } from './source.js';

const gunzipAsync = promisify(gunzip);

const IDX_UBYTE = 0x08;

export interface IdxArray {
  readonly dims: readonly number[];
  /** Row-major values; a view into the (decompressed) file buffer. */
  readonly data: Uint8Array;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses an IDX buffer (already decompressed). `path` only names the file in errors. */
export function parseIdx(bytes: Uint8Array, path: string): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError(path, 'an IDX file (magic 0x0000TTDD)', `${bytes.length} bytes with another header`);
  }
  if (bytes[2] !== IDX_UBYTE) {
    throw new DataError(
      path,
      'IDX type 0x08 (unsigned byte)',
      `type 0x${bytes[2].toString(16).padStart(2, '0')}`,
    );
  }
  const ndims = bytes[3];
  const headerLength = 4 + 4 * ndims;
  if (ndims === 0 || bytes.length < headerLength) {
    throw new DataError(path, `an IDX header with ${ndims} dimension(s)`, `${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < ndims; d++) {
    const n = view.getUint32(4 + 4 * d, false);
    dims.push(n);
    count *= n;
  }
  // A zero dimension means no samples or empty images: nothing a model could train on.
  if (dims.includes(0)) {
    throw new DataError(path, 'an IDX file whose dimensions are all non-zero', `dims [${dims.join(', ')}]`);
  }
  const payload = bytes.length - headerLength;
  if (payload !== count) {
    throw new DataError(path, `${count} data bytes for dims [${dims.join(', ')}]`, `${payload}`);
  }
  return { dims, data: bytes.subarray(headerLength) };
}

/** Reads and parses an IDX file; gzip is detected from the content, not the name. */
export async function readIdxFile(path: string): Promise<IdxArray> {
  let raw: Uint8Array;
  try {
    raw = await fs.readFile(path);
  } catch (err) {
    throw new DataError(path, 'a readable IDX file', (err as NodeJS.ErrnoException).code ?? String(err));
  }
  if (isGzip(raw)) {
    // Bounded like every reader (see io/limits.ts): a gzip bomb stops at the limit, not at the RAM.
    const limits = resolveReadLimits();
    const max = Math.min(limits.maxBytes, Math.max(INFLATE_FLOOR, limits.maxInflateRatio * raw.length));
    try {
      raw = await gunzipAsync(raw, { maxOutputLength: max });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new DataError(
          path,
          `gzip data that decompresses to at most ${formatBytes(max)} (${limits.maxInflateRatio} times the file, or ${formatBytes(INFLATE_FLOOR)})`,
          'more (a zip bomb, or not an IDX file)',
        );
      }
      throw new DataError(path, 'valid gzip data', (err as Error).message);
    }
  }
  return parseIdx(raw, path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.access(path);
    return true;
  } catch {
    return false;
  }
}

/** The first existing file among the usual spellings (`-idx3-ubyte` or `.idx3-ubyte`, with or without .gz). */
async function findIdxFile(
  dir: string,
  prefix: string,
  what: 'images-idx3' | 'labels-idx1',
): Promise<string> {
  const base = [`${prefix}-${what}-ubyte`, `${prefix}-${what.replace('-', '.')}-ubyte`];
  for (const b of base) {
    for (const name of [`${b}.gz`, b]) {
      const p = join(dir, name);
      if (await exists(p)) return p;
    }
  }
  throw new DataError(
    join(dir, `${base[0]}[.gz]`),
    `the IDX ${what.split('-')[0]} file of the split`,
    'no such file',
  );
}

export interface IdxDatasetOptions {
  readonly dir: string;
  readonly split: Split;
  readonly classNames: readonly string[];
}

/**
 * Opens one split of an IDX dataset folder into a MemorySource on shared memory:
 * `train-*` for 'train', `t10k-*` for 'val'.
 */
export async function openIdxDataset(opts: IdxDatasetOptions): Promise<MemorySource> {
  const { dir, split, classNames } = opts;
  const stat = await fs.stat(dir).catch(() => null);
  if (stat === null || !stat.isDirectory()) {
    throw new DataError(
      dir,
      'a folder holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]',
      'no such folder',
    );
  }
  const prefix = split === 'train' ? 'train' : 't10k';
  const [imagePath, labelPath] = await Promise.all([
    findIdxFile(dir, prefix, 'images-idx3'),
    findIdxFile(dir, prefix, 'labels-idx1'),
  ]);
  const [images, labels] = await Promise.all([readIdxFile(imagePath), readIdxFile(labelPath)]);
  if (images.dims.length !== 3) {
    throw new DataError(imagePath, '3 dimensions [N, rows, cols]', `[${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1) {
    throw new DataError(labelPath, '1 dimension [N]', `[${labels.dims.join(', ')}]`);
  }
  const [n, height, width] = images.dims;
  if (labels.dims[0] !== n) {
    throw new DataError(labelPath, `${n} labels, one per image of ${imagePath}`, `${labels.dims[0]}`);
  }
  const numClasses = classNames.length;
  const labelArray = sharedInt32(n);
  for (let i = 0; i < n; i++) {
    const l = labels.data[i];
    if (l >= numClasses)
      throw new DataError(labelPath, `labels in [0, ${numClasses})`, `label ${l} at index ${i}`);
    labelArray[i] = l;
  }
  const pixels = sharedBytes(images.data.length);
  pixels.set(images.data);
  return new MemorySource({
    kind: 'memory',
    images: pixels,
    labels: labelArray,
    height,
    width,
    channels: 1,
    classNames,
  });
}
