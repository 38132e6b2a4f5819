/**
 * Dataset specs and the factory that opens them.
 */
import { openCifarDataset } from './cifar.js';
import { DataError } from './errors.js';
import { ImageFolderSource, openImageFolder, type WarningSink } from './image_folder.js';
import { openIdxDataset } from './idx.js';
import { openInatDataset, type InatCategory } from './inat.js';
import { MemorySource, type ImageSource, type SourceDescriptor } from './source.js';
import type { Split } from './split.js';

export const DEFAULT_FASHION_MNIST_PATH = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** What to open. For IDX kinds `path` is the folder holding the four `*-ubyte[.gz]` files. */
export type DatasetSpec =
  | { readonly kind: 'fashion-mnist'; readonly split: Split; readonly path?: string }
  | { readonly kind: 'mnist'; readonly split: Split; readonly path: string }
  | { readonly kind: 'cifar10' | 'cifar100'; readonly split: Split; readonly path: string }
  | {
      readonly kind: 'image-folder';
      readonly split: Split;
      /** The root holding `train/` and `val/`. */
      readonly path: string;
      /** Skip undecodable files with one warning each instead of failing. */
      readonly skipBadImages?: boolean;
      /** Let sharp resize each image to this shorter side while decoding (saves work for big images). */
      readonly decodeShorterSide?: number | null;
    }
  | {
      /** iNaturalist in the reference's JSON layout (`train2018.json`, `categories.json`, ...). */
      readonly kind: 'inat2018' | 'inat2019';
      readonly split: Split;
      readonly path: string;
      /** Taxonomy level the classes are (default 'name', the species). */
      readonly category?: InatCategory;
      readonly skipBadImages?: boolean;
    };

export type DatasetKind = DatasetSpec['kind'];

export interface OpenOptions {
  /** Where skipped-image warnings go (one line per bad file); stderr by default. */
  readonly onWarning?: WarningSink;
}

export async function openDataset(spec: DatasetSpec, opts: OpenOptions = {}): Promise<ImageSource> {
  switch (spec.kind) {
    case 'fashion-mnist':
      return openIdxDataset({
        dir: spec.path ?? DEFAULT_FASHION_MNIST_PATH,
        split: spec.split,
        classNames: FASHION_MNIST_CLASSES,
      });
    case 'mnist':
      return openIdxDataset({ dir: spec.path, split: spec.split, classNames: MNIST_CLASSES });
    case 'cifar10':
    case 'cifar100':
      return openCifarDataset({ dir: spec.path, variant: spec.kind, split: spec.split });
    case 'image-folder':
      return openImageFolder({
        root: spec.path,
        split: spec.split,
        skipBadImages: spec.skipBadImages,
        decodeShorterSide: spec.decodeShorterSide,
        onWarning: opts.onWarning,
      });
    case 'inat2018':
    case 'inat2019':
      return openInatDataset({
        root: spec.path,
        split: spec.split,
        year: spec.kind === 'inat2018' ? 2018 : 2019,
        category: spec.category ?? 'name',
        skipBadImages: spec.skipBadImages,
        onWarning: opts.onWarning,
      });
    default:
      throw new DataError(
        'kind',
        'one of fashion-mnist, mnist, cifar10, cifar100, image-folder, inat2018, inat2019',
        String((spec as { kind: unknown }).kind),
      );
  }
}

/** Rebuilds a source from `describe()` output, e.g. inside a worker thread. */
export function sourceFromDescriptor(d: SourceDescriptor, onWarning?: WarningSink): ImageSource {
  switch (d.kind) {
    case 'memory':
      return new MemorySource(d);
    case 'image-folder':
      return new ImageFolderSource(d, onWarning);
  }
}
