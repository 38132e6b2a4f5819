import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { openDataset } from './datasets.js';
import { DataError } from './errors.js';
import { decodeImage } from './image_folder.js';

/** A width x height image whose pixel (x, y) is [x * 10, y * 10, 200] (+ alpha 7 when 4 channels). */
function raw(width: number, height: number, channels: 1 | 3 | 4): Buffer {
  const b = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const px = [x * 10, y * 10, 200, 7].slice(0, channels);
      b.set(channels === 1 ? [x * 10 + y] : px, (y * width + x) * channels);
    }
  }
  return b;
}

async function image(path: string, width: number, height: number, channels: 1 | 3 | 4): Promise<void> {
  const img = sharp(raw(width, height, channels), { raw: { width, height, channels } });
  if (path.endsWith('.png')) await img.png().toFile(path);
  else if (path.endsWith('.webp')) await img.webp({ lossless: true }).toFile(path);
  else await img.jpeg({ quality: 95 }).toFile(path);
}

describe('image folder', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'lape-folder-'));
    for (const d of ['ok/train/dog/sub', 'ok/train/cat', 'ok/val/cat', 'ok/val/dog'])
      await mkdir(join(root, d), { recursive: true });
    await image(join(root, 'ok/train/dog/b.png'), 3, 2, 3);
    await image(join(root, 'ok/train/dog/A.JPG'), 8, 8, 3);
    await image(join(root, 'ok/train/dog/sub/c.webp'), 4, 6, 4);
    await image(join(root, 'ok/train/cat/grey.png'), 2, 2, 1);
    await writeFile(join(root, 'ok/train/cat/notes.txt'), 'not an image');
    await image(join(root, 'ok/val/cat/x.png'), 2, 2, 3);
    await image(join(root, 'ok/val/dog/y.png'), 2, 2, 3);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('sorts classes and files like torchvision and decodes to RGB', async () => {
    const src = await openDataset({ kind: 'image-folder', split: 'train', path: join(root, 'ok') });
    assert.deepEqual(src.classNames, ['cat', 'dog']);
    assert.equal(src.channels, 3);
    const files = src.describe();
    assert.equal(files.kind, 'image-folder');
    if (files.kind !== 'image-folder') return;
    // Sorted by (folder, name): uppercase sorts first; the subfolder comes after its parent's files.
    assert.deepEqual(
      files.files.map((f) => f.slice(join(root, 'ok/train').length + 1)),
      ['cat/grey.png', 'dog/A.JPG', 'dog/b.png', 'dog/sub/c.webp'],
    );
    assert.deepEqual([...files.labels], [0, 1, 1, 1]);
    const grey = await src.get(0);
    assert.deepEqual([grey.width, grey.height, grey.channels, grey.label], [2, 2, 3, 0]);
    assert.deepEqual([...grey.data.subarray(9, 12)], [11, 11, 11], 'grey pixel (1, 1) = 11 repeated');
    const png = await src.get(2);
    assert.deepEqual([png.width, png.height], [3, 2]);
    assert.deepEqual([...png.data.subarray(15, 18)], [20, 10, 200], 'lossless pixel (2, 1)');
    const webp = await src.get(3);
    assert.deepEqual([webp.width, webp.height, webp.channels], [4, 6, 3], 'alpha dropped');
    assert.deepEqual([...webp.data.subarray((5 * 4 + 3) * 3, (5 * 4 + 3) * 3 + 3)], [30, 50, 200]);
    const jpg = await src.get(1);
    assert.deepEqual([jpg.width, jpg.height, jpg.channels], [8, 8, 3]);
    let blue = 0;
    for (let i = 2; i < jpg.data.length; i += 3) blue += jpg.data[i];
    assert.ok(Math.abs(blue / 64 - 200) < 4, `lossy but close: mean blue ${blue / 64}`);
  });

  it('can shrink while decoding', async () => {
    const src = await openDataset({
      kind: 'image-folder',
      split: 'train',
      path: join(root, 'ok'),
      decodeShorterSide: 4,
    });
    const img = await src.get(1); // 8x8 -> 4x4
    assert.deepEqual([img.width, img.height], [4, 4]);
    const tall = await src.get(3); // 4x6 -> 4x6 (shorter side already 4)
    assert.deepEqual([tall.width, tall.height], [4, 6]);
  });

  it('rejects missing folders, no classes, empty classes and mismatched val classes', async () => {
    await assert.rejects(
      openDataset({ kind: 'image-folder', split: 'train', path: join(root, 'absent') }),
      /absent: expected a folder holding train\/ and val\/ image folders, found no such folder/,
    );
    await mkdir(join(root, 'noclass/train'), { recursive: true });
    await assert.rejects(
      openDataset({ kind: 'image-folder', split: 'train', path: join(root, 'noclass') }),
      /noclass\/train: expected at least one class subfolder, found none/,
    );
    await assert.rejects(
      openDataset({ kind: 'image-folder', split: 'val', path: join(root, 'noclass') }),
      /noclass\/val: expected a folder with one subfolder of images per class, found no such folder/,
    );
    await mkdir(join(root, 'empty/train/a'), { recursive: true });
    await mkdir(join(root, 'empty/train/b'), { recursive: true });
    await image(join(root, 'empty/train/a/1.png'), 2, 2, 3);
    await writeFile(join(root, 'empty/train/b/readme.md'), '');
    await assert.rejects(
      openDataset({ kind: 'image-folder', split: 'train', path: join(root, 'empty') }),
      (e: unknown) => {
        assert.ok(e instanceof DataError);
        assert.equal(e.path, join(root, 'empty/train/b'));
        assert.match(
          e.message,
          /expected at least one image \(\.jpg, \.jpeg, \.png, \.webp\), found an empty class folder/,
        );
        return true;
      },
    );
    await mkdir(join(root, 'mismatch/train/a'), { recursive: true });
    await mkdir(join(root, 'mismatch/val/z'), { recursive: true });
    await image(join(root, 'mismatch/train/a/1.png'), 2, 2, 3);
    await image(join(root, 'mismatch/val/z/1.png'), 2, 2, 3);
    await assert.rejects(
      openDataset({ kind: 'image-folder', split: 'val', path: join(root, 'mismatch') }),
      /mismatch\/val: expected the 1 class folders of .*mismatch\/train/,
    );
  });

  it('fails on a corrupt image, or skips it with one warning line', async () => {
    const base = join(root, 'corrupt');
    await mkdir(join(base, 'train/a'), { recursive: true });
    await image(join(base, 'train/a/0.png'), 2, 2, 3);
    await writeFile(join(base, 'train/a/1.jpg'), Buffer.from('definitely not a jpeg'));
    await image(join(base, 'train/a/2.png'), 3, 3, 3);
    const strict = await openDataset({ kind: 'image-folder', split: 'train', path: base });
    await assert.rejects(Promise.resolve(strict.get(1)), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.path, join(base, 'train/a/1.jpg'));
      assert.match(e.message, /expected a decodable image/);
      return true;
    });
    const warnings: string[] = [];
    const lenient = await openDataset(
      { kind: 'image-folder', split: 'train', path: base, skipBadImages: true },
      { onWarning: (line) => warnings.push(line) },
    );
    const replaced = await lenient.get(1);
    assert.deepEqual([replaced.width, replaced.height], [3, 3], 'the next good sample stands in');
    await lenient.get(1);
    assert.equal(warnings.length, 1, 'one line per bad file');
    assert.match(warnings[0], /^warning: skipping bad image .*1\.jpg: expected a decodable image/);
  });

  it('refuses an image bomb (a small PNG of more than 50 megapixels) before decoding it', async () => {
    const path = join(root, 'bomb.png');
    await sharp({ create: { width: 7200, height: 7200, channels: 3, background: '#000000' } })
      .png({ compressionLevel: 9 })
      .toFile(path);
    await assert.rejects(decodeImage(path, null), (e: unknown) => {
      assert.ok(e instanceof DataError, String(e));
      assert.match(e.message, /bomb\.png: expected an image of at most 50 megapixels, found a larger one/);
      return true;
    });
  });

  it('refuses symlink loops, naming the link, and still follows links that do not loop', async () => {
    const base = join(root, 'links');
    for (const c of ['c1', 'c2', 'c3']) {
      await mkdir(join(base, 'train', c), { recursive: true });
      await image(join(base, 'train', c, 'i.png'), 2, 2, 3);
    }
    // The audit's loop: train/c3/loop -> .. (60 images became 2,460, all labelled c3).
    await symlink('..', join(base, 'train/c3/loop'));
    await assert.rejects(openDataset({ kind: 'image-folder', split: 'train', path: base }), (e: unknown) => {
      assert.ok(e instanceof DataError, String(e));
      assert.equal(e.path, join(base, 'train/c3/loop'));
      assert.match(
        e.message,
        /expected image folders without symlink loops, found a link to .*train, which contains the link itself/,
      );
      return true;
    });
    await rm(join(base, 'train/c3/loop'));
    // A loop through two links, neither of which contains itself.
    await mkdir(join(base, 'train/c3/a'));
    await mkdir(join(base, 'train/c3/b'));
    await symlink('../b', join(base, 'train/c3/a/x'));
    await symlink('../a', join(base, 'train/c3/b/y'));
    await assert.rejects(
      openDataset({ kind: 'image-folder', split: 'train', path: base }),
      /c3\/a\/x\/y: expected image folders without symlink loops, found a link to .*c3\/a, a folder already being listed/,
    );
    await rm(join(base, 'train/c3/b/y'));
    // A link elsewhere is followed, as torchvision does.
    await symlink(join(base, 'train/c1'), join(base, 'train/c2/more'));
    const src = await openDataset({ kind: 'image-folder', split: 'train', path: base });
    assert.equal(src.length, 4);
  });
});
