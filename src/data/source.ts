/**
 * The common interface of dataset sources, and the in-memory source used by IDX and CIFAR.
 *
 * A source can describe itself as plain data (`describe()`) so a loader can rebuild it inside a worker
 * thread: in-memory sources ship their pixels as SharedArrayBuffer views (shared, never copied), file
 * sources ship their file list.
 */
import type { Channels, RawImage } from './image.js';

export interface ImageSource {
  /** Number of samples. */
  readonly length: number;
  readonly numClasses: number;
  /** Channels of the images `get` returns (grey datasets are 1, colour ones 3). */
  readonly channels: Channels;
  /** Class names, index = label. */
  readonly classNames: readonly string[];
  /** The label of sample i, without decoding its image. */
  label(i: number): number;
  get(i: number): RawImage | Promise<RawImage>;
  describe(): SourceDescriptor;
}

/** Everything a worker needs to rebuild a source; structured-cloneable. */
export type SourceDescriptor = MemoryDescriptor | FolderDescriptor;

export interface MemoryDescriptor {
  readonly kind: 'memory';
  /** N images, HWC, contiguous. Backed by a SharedArrayBuffer when created by this package. */
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  readonly height: number;
  readonly width: number;
  readonly channels: Channels;
  readonly classNames: readonly string[];
}

export interface FolderDescriptor {
  readonly kind: 'image-folder';
  readonly root: string;
  readonly files: readonly string[];
  readonly labels: Int32Array;
  readonly classNames: readonly string[];
  readonly skipBadImages: boolean;
  /** When set, sharp resizes each image so its shorter side has this length while decoding. */
  readonly decodeShorterSide: number | null;
}

/** A fixed-size dataset held in one array (IDX, CIFAR). `get` returns views: zero-copy. */
export class MemorySource implements ImageSource {
  readonly length: number;
  readonly numClasses: number;
  readonly channels: Channels;
  readonly classNames: readonly string[];
  readonly height: number;
  readonly width: number;
  private readonly images: Uint8Array;
  private readonly labels: Int32Array;
  private readonly stride: number;

  constructor(d: MemoryDescriptor) {
    this.images = d.images;
    this.labels = d.labels;
    this.height = d.height;
    this.width = d.width;
    this.channels = d.channels;
    this.classNames = d.classNames;
    this.numClasses = d.classNames.length;
    this.length = d.labels.length;
    this.stride = d.height * d.width * d.channels;
    if (d.images.length !== this.length * this.stride) {
      throw new RangeError(
        `MemorySource: ${d.images.length} pixel bytes do not hold ${this.length} images of ${this.stride}`,
      );
    }
  }

  label(i: number): number {
    this.check(i);
    return this.labels[i];
  }

  get(i: number): RawImage {
    this.check(i);
    const off = i * this.stride;
    return {
      data: this.images.subarray(off, off + this.stride),
      height: this.height,
      width: this.width,
      channels: this.channels,
      label: this.labels[i],
    };
  }

  describe(): MemoryDescriptor {
    return {
      kind: 'memory',
      images: this.images,
      labels: this.labels,
      height: this.height,
      width: this.width,
      channels: this.channels,
      classNames: this.classNames,
    };
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`sample index ${i} out of range [0, ${this.length})`);
    }
  }
}

/** A Uint8Array on a SharedArrayBuffer, so worker threads can read it without a copy. */
export function sharedBytes(length: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(length));
}

export function sharedInt32(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(length * 4));
}
