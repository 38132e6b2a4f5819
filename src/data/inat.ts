/**
 * iNaturalist 2018 / 2019 in the reference's layout (DeiT's `INatDataset`): `train{year}.json` and
 * `val{year}.json` (COCO-style, `images[].file_name` like `train_val2018/Plantae/7477/abc.jpg`) and
 * `categories.json` (a list indexed by category id, each entry naming its kingdom, phylum, class,
 * order, supercategory, family, genus and name).
 *
 * Classes are the distinct values of the chosen taxonomy level (`--inat-category`), numbered in order
 * of first appearance over the train annotations, for both splits (the reference's "targeter"). A
 * sample's category id is the third component of its file name, as the reference reads it.
 *
 * Image files: the reference opens `root/<part 0>/<part 2>/<part 3>` of the file name (it skips the
 * supercategory folder); lape opens that path when it exists and otherwise the file name as
 * released (`root/<file_name>`), decided once from the first image.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from './errors.js';
import { ImageFolderSource, type WarningSink } from './image_folder.js';
import type { Split } from './split.js';

export const INAT_CATEGORIES = [
  'kingdom',
  'phylum',
  'class',
  'order',
  'supercategory',
  'family',
  'genus',
  'name',
] as const;
export type InatCategory = (typeof INAT_CATEGORIES)[number];

export interface InatOptions {
  readonly root: string;
  readonly split: Split;
  readonly year: 2018 | 2019;
  readonly category: InatCategory;
  readonly skipBadImages?: boolean;
  readonly onWarning?: WarningSink;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(
      path,
      'an iNaturalist JSON file',
      `an unreadable file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new DataError(path, 'valid JSON', 'a file that does not parse');
  }
}

function listOf(value: unknown, file: string, key: string): unknown[] {
  const v = (value as Record<string, unknown> | null)?.[key];
  if (!Array.isArray(v)) throw new DataError(file, `a '${key}' list`, typeof v);
  return v;
}

/** categories.json: level values by category id. */
function categoryLevel(categories: unknown[], file: string, id: number, level: InatCategory): string {
  const entry = categories[id] as Record<string, unknown> | undefined;
  const v = entry?.[level];
  if (v === undefined)
    throw new DataError(
      file,
      `an entry with '${level}' for category id ${id}`,
      entry === undefined ? `${categories.length} entries` : 'none',
    );
  return String(v);
}

export function openInatDataset(opts: InatOptions): ImageFolderSource {
  const { root, year, category } = opts;
  const catFile = join(root, 'categories.json');
  const categories = readJson(catFile);
  if (!Array.isArray(categories)) throw new DataError(catFile, 'a list of categories', typeof categories);

  // Classes: first appearance over the train annotations, whatever the split.
  const trainFile = join(root, `train${year}.json`);
  const classIndex = new Map<string, number>();
  for (const a of listOf(readJson(trainFile), trainFile, 'annotations')) {
    const id = Number((a as { category_id?: unknown }).category_id);
    if (!Number.isInteger(id) || id < 0)
      throw new DataError(trainFile, 'integer category_id values', String(id));
    const value = categoryLevel(categories, catFile, id, category);
    if (!classIndex.has(value)) classIndex.set(value, classIndex.size);
  }
  if (classIndex.size === 0) throw new DataError(trainFile, 'at least one annotation', 'none');

  const splitFile = join(root, `${opts.split === 'train' ? 'train' : 'val'}${year}.json`);
  const images = listOf(readJson(splitFile), splitFile, 'images');
  if (images.length === 0) throw new DataError(splitFile, 'at least one image', 'none');
  const files: string[] = [];
  const labels = new Int32Array(images.length);
  let layout: 'reference' | 'released' | null = null;
  images.forEach((img, i) => {
    const name = (img as { file_name?: unknown }).file_name;
    const parts = typeof name === 'string' ? name.split('/') : [];
    if (parts.length < 4) {
      throw new DataError(
        splitFile,
        `images[${i}].file_name like 'train_val${year}/<super>/<id>/<file>.jpg'`,
        JSON.stringify(name),
      );
    }
    const id = Number(parts[2]);
    if (!Number.isInteger(id) || id < 0)
      throw new DataError(
        splitFile,
        `a category id as the third part of images[${i}].file_name`,
        JSON.stringify(name),
      );
    const value = categoryLevel(categories, catFile, id, category);
    const label = classIndex.get(value);
    if (label === undefined) {
      throw new DataError(
        splitFile,
        `images of ${category} values seen in ${trainFile}`,
        `'${value}' (images[${i}])`,
      );
    }
    const reference = join(root, parts[0], parts[2], parts[3]);
    const released = join(root, ...parts);
    if (layout === null) layout = existsSync(reference) || !existsSync(released) ? 'reference' : 'released';
    files.push(layout === 'reference' ? reference : released);
    labels[i] = label;
  });
  return new ImageFolderSource(
    {
      kind: 'image-folder',
      root,
      files,
      labels,
      classNames: [...classIndex.keys()],
      skipBadImages: opts.skipBadImages ?? false,
      decodeShorterSide: null,
    },
    opts.onWarning,
  );
}
