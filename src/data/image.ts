/**
 * Raw 8-bit images as the pipeline passes them between stages.
 *
 * Pixels are interleaved HWC, row-major, like PIL and sharp's raw output, so decoded images need no
 * reshuffling. Transforms treat their input as read-only and return new images: a source may hand out
 * views into one shared dataset array.
 */

export type Channels = 1 | 3;

export interface ImageU8 {
  readonly data: Uint8Array;
  readonly height: number;
  readonly width: number;
  readonly channels: Channels;
}

/** A dataset sample: an image and its class index. */
export interface RawImage extends ImageU8 {
  readonly label: number;
}

/** ITU-R 601-2 luma with PIL's fixed-point weights (they sum to 65536, so grey RGB maps to itself). */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
}

/** PIL's convert('L'); a 1-channel image is returned as is. */
export function toGray(img: ImageU8): ImageU8 {
  if (img.channels === 1) return img;
  const n = img.height * img.width;
  const out = new Uint8Array(n);
  const src = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = luma(src[j], src[j + 1], src[j + 2]);
  return { data: out, height: img.height, width: img.width, channels: 1 };
}

/** Mirror left-right. */
export function flipHorizontal(img: ImageU8): ImageU8 {
  const { height, width, channels } = img;
  const out = new Uint8Array(img.data.length);
  const src = img.data;
  const row = width * channels;
  for (let y = 0; y < height; y++) {
    const base = y * row;
    for (let x = 0; x < width; x++) {
      const s = base + x * channels;
      const d = base + (width - 1 - x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = src[s + c];
    }
  }
  return { data: out, height, width, channels };
}

/** Round half to even, like Python's round(): torchvision's crop sizes depend on it. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
