/**
 * torchvision-style image folders: `root/train/<class>/**\/*.{jpg,jpeg,png,webp}` and `root/val/...`.
 *
 * Class indices follow torchvision's ImageFolder: class folders sorted by name, files in sorted order of
 * (sub)directory then file name, recursing into subfolders. Images are decoded lazily with sharp (into
 * RGB, alpha dropped, like PIL's convert('RGB')), optionally shrunk while decoding.
 *
 * Symlinks are followed (torchvision's os.walk(followlinks=True)), but a link to a folder that contains
 * the link (`train/c3/loop -> ..`) is an error naming the link: followed, it would list the same images
 * again and again under the wrong class, and torchvision would recurse until the path is too long.
 */
import { promises as fs, type Dirent } from 'node:fs';
import { extname, join, sep } from 'node:path';
import sharp from 'sharp';
import { sanitizeMessage } from '../io/sanitize.js';
import { DataError } from './errors.js';
import type { ImageU8, RawImage } from './image.js';
import type { Split } from './split.js';
import type { FolderDescriptor, ImageSource } from './source.js';

export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

/**
 * Images are decoded whole before cropping, several at a time per worker: a 700 KB PNG can claim
 * 16000 x 16000 pixels (768 MB decoded). Larger images than this are refused (a 50 MP photo is
 * 8660 x 5773; dataset images are far smaller).
 */
const MAX_IMAGE_PIXELS = 50_000_000;

/** timm's ImageDataset gives up after this many bad files in a row when skipping. */
const MAX_CONSECUTIVE_BAD = 50;

export type WarningSink = (line: string) => void;

export const stderrWarning: WarningSink = (line) => {
  process.stderr.write(`${sanitizeMessage(line)}\n`);
};

async function isDirectory(path: string, entry?: Dirent): Promise<boolean> {
  if (entry !== undefined && !entry.isSymbolicLink()) return entry.isDirectory();
  const st = await fs.stat(path).catch(() => null);
  return st !== null && st.isDirectory();
}

async function isFile(path: string, entry: Dirent): Promise<boolean> {
  if (!entry.isSymbolicLink()) return entry.isFile();
  const st = await fs.stat(path).catch(() => null);
  return st !== null && st.isFile();
}

/** Whether `inner` is `outer` or lies inside it (both real paths). */
function isWithin(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);
}

/**
 * Refuses a symlinked folder that leads back to where it is: one that contains the link itself
 * (`loop -> ..`), or one already being walked (a chain of links, `a/x -> ../b`, `b/y -> ../a`).
 */
function checkNotALoop(link: string, target: string, parent: string, walking: ReadonlySet<string>): void {
  const why = isWithin(parent, target)
    ? 'which contains the link itself'
    : walking.has(target)
      ? 'a folder already being listed (the links form a loop)'
      : null;
  if (why !== null) {
    throw new DataError(
      link,
      'image folders without symlink loops',
      `a link to ${target}, ${why}; remove the link or point it elsewhere`,
    );
  }
}

/**
 * Image files under `dir`, recursively (symlinks followed, as torchvision's os.walk(followlinks=True),
 * except links back into a folder that contains them: see the module comment).
 */
async function listImages(dir: string): Promise<string[]> {
  const dirs: string[] = [];
  const filesByDir = new Map<string, string[]>();
  // Real paths of the folders being walked (the current chain), to catch loops through several links.
  const walking = new Set<string>();
  const walk = async (d: string, real: string): Promise<void> => {
    dirs.push(d);
    walking.add(real);
    const entries = await fs.readdir(d, { withFileTypes: true });
    const names: string[] = [];
    for (const e of entries) {
      const p = join(d, e.name);
      if (await isDirectory(p, e)) {
        const target = e.isSymbolicLink() ? await fs.realpath(p) : join(real, e.name);
        if (e.isSymbolicLink()) checkNotALoop(p, target, real, walking);
        await walk(p, target);
      } else if (IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()) && (await isFile(p, e)))
        names.push(e.name);
    }
    filesByDir.set(d, names.sort());
    walking.delete(real);
  };
  await walk(dir, await fs.realpath(dir));
  dirs.sort();
  return dirs.flatMap((d) => (filesByDir.get(d) ?? []).map((n) => join(d, n)));
}

/** Sorted names of the class subfolders of a split folder (torchvision's find_classes). */
async function classFolders(splitDir: string): Promise<string[]> {
  const entries = await fs.readdir(splitDir, { withFileTypes: true });
  const names: string[] = [];
  for (const e of entries) if (await isDirectory(join(splitDir, e.name), e)) names.push(e.name);
  return names.sort();
}

export interface FolderIndex {
  readonly classNames: readonly string[];
  readonly files: readonly string[];
  readonly labels: Int32Array;
}

/** Lists classes and files of one split folder; errors on no classes or an empty class. */
export async function scanImageFolder(splitDir: string): Promise<FolderIndex> {
  if (!(await isDirectory(splitDir))) {
    throw new DataError(splitDir, 'a folder with one subfolder of images per class', 'no such folder');
  }
  const classNames = await classFolders(splitDir);
  if (classNames.length === 0) {
    throw new DataError(splitDir, 'at least one class subfolder', 'none');
  }
  const files: string[] = [];
  const labels: number[] = [];
  for (let c = 0; c < classNames.length; c++) {
    const classDir = join(splitDir, classNames[c]);
    const found = await listImages(classDir);
    if (found.length === 0) {
      throw new DataError(
        classDir,
        `at least one image (${IMAGE_EXTENSIONS.join(', ')})`,
        'an empty class folder',
      );
    }
    for (const f of found) {
      files.push(f);
      labels.push(c);
    }
  }
  return { classNames, files, labels: Int32Array.from(labels) };
}

/** Decodes one file into 8-bit RGB; `shorterSide` shrinks (or grows) it while decoding. */
export async function decodeImage(path: string, shorterSide: number | null): Promise<ImageU8> {
  try {
    let pipeline = sharp(path, { limitInputPixels: MAX_IMAGE_PIXELS }).removeAlpha().toColourspace('srgb');
    if (shorterSide !== null) {
      pipeline = pipeline.resize(shorterSide, shorterSide, { fit: 'outside', kernel: 'cubic' });
    }
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    // 8-bit RGB is what the pipeline works on; anything else would be misread below.
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(
        `decoded to ${info.channels} channels of ${data.length / (info.width * info.height * info.channels)} bytes`,
      );
    }
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      height: info.height,
      width: info.width,
      channels: 3,
    };
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) {
      throw new DataError(
        path,
        `an image of at most ${MAX_IMAGE_PIXELS / 1e6} megapixels`,
        'a larger one (lape decodes images whole; shrink it first)',
      );
    }
    throw new DataError(path, `a decodable image (${IMAGE_EXTENSIONS.join(', ')})`, message);
  }
}

export class ImageFolderSource implements ImageSource {
  readonly length: number;
  readonly numClasses: number;
  readonly channels = 3;
  readonly classNames: readonly string[];
  private readonly warned = new Set<string>();

  constructor(
    private readonly d: FolderDescriptor,
    private readonly warn: WarningSink = stderrWarning,
  ) {
    this.length = d.files.length;
    this.classNames = d.classNames;
    this.numClasses = d.classNames.length;
  }

  label(i: number): number {
    this.check(i);
    return this.d.labels[i];
  }

  /**
   * Decodes sample i. With skipBadImages a bad file is reported once and the next sample is returned in
   * its place (timm's ImageDataset behaviour), so batches stay full and the order stays deterministic.
   */
  async get(i: number): Promise<RawImage> {
    this.check(i);
    for (let attempt = 0; attempt < MAX_CONSECUTIVE_BAD; attempt++) {
      const j = (i + attempt) % this.length;
      const path = this.d.files[j];
      try {
        const img = await decodeImage(path, this.d.decodeShorterSide);
        return { ...img, label: this.d.labels[j] };
      } catch (err) {
        if (!this.d.skipBadImages) throw err;
        if (!this.warned.has(path)) {
          this.warned.add(path);
          this.warn(`warning: skipping bad image ${(err as Error).message}`);
        }
      }
    }
    throw new DataError(
      this.d.files[i],
      `a decodable image within ${MAX_CONSECUTIVE_BAD} files from here`,
      `${MAX_CONSECUTIVE_BAD} bad files in a row`,
    );
  }

  describe(): FolderDescriptor {
    return this.d;
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`sample index ${i} out of range [0, ${this.length})`);
    }
  }
}

export interface ImageFolderOptions {
  readonly root: string;
  readonly split: Split;
  readonly skipBadImages?: boolean;
  readonly decodeShorterSide?: number | null;
  readonly onWarning?: WarningSink;
}

/** Opens `root/train` or `root/val`. The val classes must be those of train when both exist. */
export async function openImageFolder(opts: ImageFolderOptions): Promise<ImageFolderSource> {
  if (!(await isDirectory(opts.root))) {
    throw new DataError(opts.root, 'a folder holding train/ and val/ image folders', 'no such folder');
  }
  const splitDir = join(opts.root, opts.split);
  const index = await scanImageFolder(splitDir);
  if (opts.split === 'val') {
    const trainDir = join(opts.root, 'train');
    if (await isDirectory(trainDir)) {
      const trainClasses = await classFolders(trainDir);
      if (trainClasses.join('\0') !== index.classNames.join('\0')) {
        throw new DataError(
          splitDir,
          `the ${trainClasses.length} class folders of ${trainDir}`,
          `${index.classNames.length} different ones`,
        );
      }
    }
  }
  const shorter = opts.decodeShorterSide ?? null;
  if (shorter !== null && !(Number.isInteger(shorter) && shorter > 0)) {
    throw new DataError('decodeShorterSide', 'a positive integer', String(shorter));
  }
  return new ImageFolderSource(
    {
      kind: 'image-folder',
      root: opts.root,
      files: index.files,
      labels: index.labels,
      classNames: index.classNames,
      skipBadImages: opts.skipBadImages ?? false,
      decodeShorterSide: shorter,
    },
    opts.onWarning,
  );
}
