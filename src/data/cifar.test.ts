import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeCifarRecords } from './cifar.js';
import { openDataset } from './datasets.js';
import { DataError } from './errors.js';

/** One record: label byte(s), then planes R = base + p, G = base + 1, B = 255 - p (mod 256). */
function record(labels: number[], base: number): Uint8Array {
  const r = new Uint8Array(labels.length + 3072);
  r.set(labels);
  for (let p = 0; p < 1024; p++) {
    r[labels.length + p] = (base + p) & 255;
    r[labels.length + 1024 + p] = (base + 1) & 255;
    r[labels.length + 2048 + p] = (255 - p) & 255;
  }
  return r;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

describe('CIFAR binary', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lape-cifar-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('converts planar records to HWC and reads the label byte', () => {
    const { images, labels } = decodeCifarRecords(
      [{ path: 'b', bytes: concat(record([4], 10), record([9], 0)) }],
      'cifar10',
    );
    assert.deepEqual([...labels], [4, 9]);
    // Pixel (row 1, col 2) = plane index 34 of image 0: R = 10 + 34, G = 11, B = 255 - 34.
    const at = (32 + 2) * 3;
    assert.deepEqual([...images.subarray(at, at + 3)], [44, 11, 221]);
    assert.equal(images.length, 2 * 3072);
  });

  it('opens CIFAR-10 (5 train batches, names file) and CIFAR-100 (fine labels)', async () => {
    const c10 = join(dir, 'cifar-10-batches-bin');
    await mkdir(c10);
    for (let i = 1; i <= 5; i++) await writeFile(join(c10, `data_batch_${i}.bin`), record([i], i));
    await writeFile(join(c10, 'test_batch.bin'), concat(record([0], 0), record([7], 0)));
    await writeFile(join(c10, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n');
    const train = await openDataset({ kind: 'cifar10', split: 'train', path: c10 });
    assert.equal(train.length, 5);
    assert.equal(train.channels, 3);
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((i) => train.label(i)),
      [1, 2, 3, 4, 5],
    );
    assert.equal(train.classNames[9], 'j');
    const s = await train.get(2);
    assert.deepEqual(
      [s.height, s.width, s.channels, s.label, s.data[0], s.data[1], s.data[2]],
      [32, 32, 3, 3, 3, 4, 255],
    );
    const val = await openDataset({ kind: 'cifar10', split: 'val', path: c10 });
    assert.deepEqual([val.length, val.label(1)], [2, 7]);

    const c100 = join(dir, 'cifar-100-binary');
    await mkdir(c100);
    await writeFile(join(c100, 'train.bin'), concat(record([19, 99], 0), record([3, 42], 0)));
    const t100 = await openDataset({ kind: 'cifar100', split: 'train', path: c100 });
    assert.deepEqual([t100.length, t100.numClasses, t100.label(0), t100.label(1)], [2, 100, 99, 42]);
    assert.equal(t100.classNames[42], 'class_42');
  });

  it('reports truncated files, bad labels, missing batches and folders', async () => {
    const d = join(dir, 'bad');
    await mkdir(d);
    await writeFile(join(d, 'test_batch.bin'), record([0], 0).subarray(0, 3000));
    await assert.rejects(
      openDataset({ kind: 'cifar10', split: 'val', path: d }),
      /test_batch\.bin: expected a whole number of 3073-byte cifar10 records, found 3000 bytes/,
    );
    await writeFile(join(d, 'test.bin'), record([0, 100], 0));
    await assert.rejects(
      openDataset({ kind: 'cifar100', split: 'val', path: d }),
      /test\.bin: expected labels in \[0, 100\), found label 100 in record 0/,
    );
    await assert.rejects(
      openDataset({ kind: 'cifar10', split: 'train', path: d }),
      (e: unknown) =>
        e instanceof DataError && e.path === join(d, 'data_batch_1.bin') && /ENOENT/.test(e.message),
    );
    await assert.rejects(
      openDataset({ kind: 'cifar10', split: 'train', path: join(d, 'none') }),
      /found no such folder/,
    );
  });
});
