import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { openDataset } from './datasets.js';
import { DataError } from './errors.js';
import { openIdxDataset, parseIdx } from './idx.js';
import type { ImageSource } from './source.js';

/** An IDX file of unsigned bytes with the given dims and values. */
function idx(dims: number[], values: number[], type = 0x08): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  header.set([0, 0, type, dims.length]);
  const view = new DataView(header.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.length + values.length);
  out.set(header);
  out.set(values, header.length);
  return out;
}

const NAMES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

describe('parseIdx', () => {
  it('reads dims big-endian and the payload row-major', () => {
    const a = parseIdx(idx([2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'x');
    assert.deepEqual(a.dims, [2, 2, 3]);
    assert.deepEqual([...a.data], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const big = parseIdx(idx([258], new Array<number>(258).fill(1)), 'x');
    assert.deepEqual(big.dims, [258]);
  });

  it('rejects a bad magic, a non-ubyte type and a payload that does not match the dims', () => {
    assert.throws(
      () => parseIdx(Uint8Array.of(1, 0, 8, 1, 0, 0, 0, 0), 'f.idx'),
      (e: unknown) => {
        assert.ok(e instanceof DataError);
        assert.equal(e.path, 'f.idx');
        assert.match(e.message, /^f\.idx: expected an IDX file/);
        return true;
      },
    );
    assert.throws(
      () => parseIdx(idx([1], [0], 0x0d), 'f'),
      /expected IDX type 0x08 \(unsigned byte\), found type 0x0d/,
    );
    assert.throws(
      () => parseIdx(idx([2, 2], [1, 2, 3]), 'f'),
      /expected 4 data bytes for dims \[2, 2\], found 3/,
    );
    assert.throws(() => parseIdx(idx([1], [1, 2]), 'f'), /expected 1 data bytes for dims \[1\], found 2/);
  });

  it('refuses zero-sized images and zero counts (a 0x0 IDX file trained to completion before)', () => {
    for (const dims of [[3, 0, 0], [3, 0, 5], [0, 28, 28], [0]]) {
      assert.throws(
        () => parseIdx(idx(dims, []), 'z.idx'),
        /z\.idx: expected an IDX file whose dimensions are all non-zero, found dims/,
        `dims [${dims}]`,
      );
    }
  });
});

describe('openIdxDataset', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lape-idx-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function write(sub: string, files: Record<string, Uint8Array>): Promise<string> {
    const d = join(dir, sub);
    await mkdir(d, { recursive: true });
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(d, name), bytes);
    return d;
  }

  const images = idx([2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const labels = idx([2], [3, 7]);

  it('opens gzipped train files and plain t10k files into HWC samples', async () => {
    const d = await write('ok', {
      'train-images-idx3-ubyte.gz': gzipSync(images),
      'train-labels-idx1-ubyte.gz': gzipSync(labels),
      't10k-images-idx3-ubyte': idx([1, 2, 3], [9, 9, 9, 9, 9, 9]),
      't10k-labels-idx1-ubyte': idx([1], [5]),
    });
    const train = await openIdxDataset({ dir: d, split: 'train', classNames: NAMES });
    assert.equal(train.length, 2);
    assert.equal(train.numClasses, 10);
    assert.equal(train.channels, 1);
    const s1 = train.get(1);
    assert.deepEqual([s1.height, s1.width, s1.channels, s1.label], [2, 3, 1, 7]);
    assert.deepEqual([...s1.data], [6, 7, 8, 9, 10, 11]);
    assert.equal(train.label(0), 3);
    assert.ok(train.describe().images.buffer instanceof SharedArrayBuffer, 'pixels live in shared memory');
    const val = await openIdxDataset({ dir: d, split: 'val', classNames: NAMES });
    assert.equal(val.length, 1);
    assert.equal(val.get(0).label, 5);
  });

  it('names the path and the expectation for every inconsistency', async () => {
    const countMismatch = await write('count', {
      'train-images-idx3-ubyte': images,
      'train-labels-idx1-ubyte': idx([3], [1, 2, 3]),
    });
    await assert.rejects(
      openIdxDataset({ dir: countMismatch, split: 'train', classNames: NAMES }),
      /train-labels-idx1-ubyte: expected 2 labels, one per image of .*, found 3/,
    );
    const badLabel = await write('label', {
      'train-images-idx3-ubyte': images,
      'train-labels-idx1-ubyte': idx([2], [3, 12]),
    });
    await assert.rejects(
      openIdxDataset({ dir: badLabel, split: 'train', classNames: NAMES }),
      /expected labels in \[0, 10\), found label 12 at index 1/,
    );
    const badDims = await write('dims', {
      'train-images-idx3-ubyte': idx([12], Array.from(images.subarray(16))),
      'train-labels-idx1-ubyte': labels,
    });
    await assert.rejects(
      openIdxDataset({ dir: badDims, split: 'train', classNames: NAMES }),
      /expected 3 dimensions \[N, rows, cols\], found \[12\]/,
    );
    const badGzip = await write('gz', {
      'train-images-idx3-ubyte.gz': Uint8Array.of(0x1f, 0x8b, 1, 2, 3),
      'train-labels-idx1-ubyte': labels,
    });
    await assert.rejects(
      openIdxDataset({ dir: badGzip, split: 'train', classNames: NAMES }),
      /expected valid gzip data/,
    );
    // A gzip bomb: 100 MiB of zeros in 100 KiB of gzip (more than 100 times the file, and 64 MiB).
    const bomb = await write('bomb', {
      'train-images-idx3-ubyte.gz': gzipSync(new Uint8Array(100 * 1024 * 1024), { level: 9 }),
      'train-labels-idx1-ubyte': labels,
    });
    await assert.rejects(
      openIdxDataset({ dir: bomb, split: 'train', classNames: NAMES }),
      /train-images-idx3-ubyte\.gz: expected gzip data that decompresses to at most 64 MiB .*found more \(a zip bomb/,
    );
    const missing = await write('missing', { 'train-images-idx3-ubyte': images });
    await assert.rejects(
      openIdxDataset({ dir: missing, split: 'train', classNames: NAMES }),
      (e: unknown) =>
        e instanceof DataError &&
        /train-labels-idx1-ubyte\[\.gz\]: expected the IDX labels file/.test(e.message),
    );
    await assert.rejects(
      openDataset({ kind: 'mnist', split: 'train', path: join(dir, 'nope') }),
      /nope: expected a folder holding \{train,t10k\}-\{images-idx3,labels-idx1\}-ubyte\[\.gz\], found no such folder/,
    );
  });
});

describe('Fashion-MNIST (real data)', () => {
  it('has 60000/10000 samples, 6000/1000 per class, and train label 0 is 9', async (t) => {
    let train: ImageSource;
    try {
      train = await openDataset({ kind: 'fashion-mnist', split: 'train' });
    } catch (e) {
      if (!(e instanceof DataError && /no such folder/.test(e.message))) throw e;
      t.skip('Fashion-MNIST is not installed at /usr/share/datasets/fashion-mnist');
      return;
    }
    const val = await openDataset({ kind: 'fashion-mnist', split: 'val' });
    for (const [src, n] of [
      [train, 60000],
      [val, 10000],
    ] as const) {
      assert.equal(src.length, n);
      assert.equal(src.numClasses, 10);
      const counts = new Array<number>(10).fill(0);
      for (let i = 0; i < src.length; i++) counts[src.label(i)]++;
      assert.deepEqual(counts, new Array<number>(10).fill(n / 10));
    }
    const first = await train.get(0);
    assert.deepEqual([first.label, first.height, first.width, first.channels], [9, 28, 28, 1]);
    assert.equal(train.classNames[9], 'Ankle boot');
  });
});
