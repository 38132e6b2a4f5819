/**
 * iNaturalist 2018/2019 in the reference's JSON layout, on a small synthetic tree: classes per taxonomy
 * level in order of first appearance over the train annotations, labels from the file names, both
 * image layouts, and clear errors.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { openDataset } from './datasets.js';
import { DataError } from './errors.js';

const CATEGORIES = [
  {
    id: 0,
    name: 'Quercus robur',
    genus: 'Quercus',
    family: 'Fagaceae',
    order: 'Fagales',
    class: 'Magnoliopsida',
    phylum: 'Tracheophyta',
    kingdom: 'Plantae',
    supercategory: 'Plants',
  },
  {
    id: 1,
    name: 'Parus major',
    genus: 'Parus',
    family: 'Paridae',
    order: 'Passeriformes',
    class: 'Aves',
    phylum: 'Chordata',
    kingdom: 'Animalia',
    supercategory: 'Aves',
  },
  {
    id: 2,
    name: 'Fagus sylvatica',
    genus: 'Fagus',
    family: 'Fagaceae',
    order: 'Fagales',
    class: 'Magnoliopsida',
    phylum: 'Tracheophyta',
    kingdom: 'Plantae',
    supercategory: 'Plants',
  },
];

/** A tree like iNat 2019's: images under train_val2019/<super>/<id>/, or (reference) without <super>. */
async function tree(year: 2018 | 2019, layout: 'reference' | 'released'): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), `lape-inat${year}-`));
  const split = (ids: number[], prefix: string) => {
    const images = ids.map((id, i) => {
      const sup = CATEGORIES[id].supercategory;
      return { id: i, file_name: `train_val${year}/${sup}/${id}/${prefix}${i}.jpg` };
    });
    return { images, annotations: ids.map((id, i) => ({ image_id: i, category_id: id })) };
  };
  const train = split([1, 0, 2, 1, 0, 2], 't');
  const val = split([2, 0, 1], 'v');
  writeFileSync(join(root, `train${year}.json`), JSON.stringify(train));
  writeFileSync(join(root, `val${year}.json`), JSON.stringify(val));
  writeFileSync(join(root, 'categories.json'), JSON.stringify(CATEGORIES));
  for (const s of [train, val]) {
    for (const img of s.images) {
      const [a, sup, id, f] = img.file_name.split('/');
      const dir = layout === 'reference' ? join(root, a, id) : join(root, a, sup, id);
      mkdirSync(dir, { recursive: true });
      await sharp({
        create: { width: 8, height: 8, channels: 3, background: { r: 40 * Number(id), g: 0, b: 0 } },
      })
        .jpeg()
        .toFile(join(dir, f));
    }
  }
  return root;
}

describe('iNaturalist datasets', () => {
  it('classes per --inat-category in order of first appearance in the train annotations', async () => {
    const root = await tree(2018, 'reference');
    const byName = await openDataset({ kind: 'inat2018', split: 'train', path: root });
    assert.deepEqual(byName.classNames, ['Parus major', 'Quercus robur', 'Fagus sylvatica']);
    assert.deepEqual(
      [...Array(byName.length).keys()].map((i) => byName.label(i)),
      [0, 1, 2, 0, 1, 2],
    );
    const val = await openDataset({ kind: 'inat2018', split: 'val', path: root });
    assert.deepEqual(
      [0, 1, 2].map((i) => val.label(i)),
      [2, 1, 0],
    );
    const kingdom = await openDataset({ kind: 'inat2018', split: 'val', path: root, category: 'kingdom' });
    assert.deepEqual(kingdom.classNames, ['Animalia', 'Plantae']);
    assert.deepEqual(
      [0, 1, 2].map((i) => kingdom.label(i)),
      [1, 1, 0],
    );
    const img = await val.get(0);
    assert.equal(img.width, 8);
    assert.ok(Math.abs(img.data[0] - 80) <= 2, `red of category 2, got ${img.data[0]}`);
  });

  it('2019 files laid out as released (with the supercategory folder) load too', async () => {
    const root = await tree(2019, 'released');
    const s = await openDataset({ kind: 'inat2019', split: 'train', path: root, category: 'family' });
    assert.deepEqual(s.classNames, ['Paridae', 'Fagaceae']);
    assert.equal((await s.get(2)).height, 8);
  });

  it('bad trees are errors naming the file', async () => {
    const root = await tree(2018, 'reference');
    await assert.rejects(
      openDataset({ kind: 'inat2019', split: 'train', path: root }),
      (e: unknown) => e instanceof DataError && /categories\.json|train2019\.json/.test(e.message),
    );
    writeFileSync(join(root, 'val2018.json'), JSON.stringify({ images: [{ file_name: 'a/b.jpg' }] }));
    await assert.rejects(
      openDataset({ kind: 'inat2018', split: 'val', path: root }),
      /val2018\.json: expected images\[0\]\.file_name like/,
    );
    writeFileSync(join(root, 'val2018.json'), '{not json');
    await assert.rejects(
      openDataset({ kind: 'inat2018', split: 'val', path: root }),
      /val2018\.json: expected valid JSON/,
    );
  });
});
