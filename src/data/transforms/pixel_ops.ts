/**
 * Pixel-value operations with PIL's semantics (ImageOps and ImageEnhance), the building blocks of
 * RandAugment and ColorJitter. All work per channel on 1- or 3-channel images and return new images;
 * outputs are bit-identical to Pillow 9.4's (pil_parity.test.ts).
 */
import { type ImageU8, luma, toGray } from '../image.js';

/** Applies a 256-entry lookup table (one per channel, or one shared). */
function applyLut(img: ImageU8, luts: readonly Uint8Array[]): ImageU8 {
  const { data, channels: C } = img;
  const out = new Uint8Array(data.length);
  if (luts.length === 1) {
    const lut = luts[0];
    for (let i = 0; i < data.length; i++) out[i] = lut[data[i]];
  } else {
    for (let i = 0; i < data.length; i += C) for (let c = 0; c < C; c++) out[i + c] = luts[c][data[i + c]];
  }
  return { ...img, data: out };
}

function lut(fn: (v: number) => number): Uint8Array {
  const t = new Uint8Array(256);
  for (let v = 0; v < 256; v++) t[v] = fn(v);
  return t;
}

function histograms(img: ImageU8): Uint32Array[] {
  const { data, channels: C } = img;
  const h = Array.from({ length: C }, () => new Uint32Array(256));
  for (let i = 0; i < data.length; i += C) for (let c = 0; c < C; c++) h[c][data[i + c]]++;
  return h;
}

const INVERT = lut((v) => 255 - v);
const IDENTITY = lut((v) => v);

export function invert(img: ImageU8): ImageU8 {
  return applyLut(img, [INVERT]);
}

/** ImageOps.posterize: keep the `bits` most significant bits (0 bits gives black). */
export function posterize(img: ImageU8, bits: number): ImageU8 {
  if (bits >= 8) return { ...img, data: img.data.slice() };
  const mask = ~((1 << (8 - Math.max(0, bits))) - 1) & 0xff;
  return applyLut(img, [lut((v) => v & mask)]);
}

/** ImageOps.solarize: invert every value at or above `threshold`. */
export function solarize(img: ImageU8, threshold: number): ImageU8 {
  return applyLut(img, [lut((v) => (v < threshold ? v : 255 - v))]);
}

/** timm's solarize_add: add `add` (clipped at 255) to values below `threshold`. */
export function solarizeAdd(img: ImageU8, add: number, threshold = 128): ImageU8 {
  return applyLut(img, [lut((v) => (v < threshold ? Math.min(255, v + add) : v))]);
}

/** ImageOps.autocontrast (cutoff 0): stretch each channel's [min, max] to [0, 255]. */
export function autoContrast(img: ImageU8): ImageU8 {
  const luts = histograms(img).map((h) => {
    let lo = 0;
    while (lo < 256 && h[lo] === 0) lo++;
    let hi = 255;
    while (hi >= 0 && h[hi] === 0) hi--;
    if (hi <= lo) return IDENTITY;
    const scale = 255 / (hi - lo);
    const offset = -lo * scale;
    return lut((v) => Math.min(255, Math.max(0, Math.trunc(v * scale + offset))));
  });
  return applyLut(img, luts);
}

/** ImageOps.equalize: per-channel histogram equalization, PIL's step rule included. */
export function equalize(img: ImageU8): ImageU8 {
  const luts = histograms(img).map((h) => {
    let total = 0;
    let last = 0;
    let nonzero = 0;
    for (let v = 0; v < 256; v++) {
      if (h[v] > 0) {
        nonzero++;
        last = h[v];
        total += h[v];
      }
    }
    if (nonzero <= 1) return IDENTITY;
    const step = Math.floor((total - last) / 255);
    if (step === 0) return IDENTITY;
    const t = new Uint8Array(256);
    let n = Math.floor(step / 2);
    for (let v = 0; v < 256; v++) {
      t[v] = Math.min(255, Math.floor(n / step));
      n += h[v];
    }
    return t;
  });
  return applyLut(img, luts);
}

/**
 * Image.blend(degenerate, img, factor) = degenerate + factor * (img - degenerate), clipped and truncated
 * like PIL: factor 0 gives the degenerate image, 1 the original, above 1 extrapolates.
 */
function blend(degenerate: Uint8Array, img: ImageU8, factor: number): ImageU8 {
  const src = img.data;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = degenerate[i] + factor * (src[i] - degenerate[i]);
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
  }
  return { ...img, data: out };
}

/** ImageEnhance.Brightness: blend with black. */
export function adjustBrightness(img: ImageU8, factor: number): ImageU8 {
  return blend(new Uint8Array(img.data.length), img, factor);
}

/** ImageEnhance.Contrast: blend with a flat image at the rounded mean grey level. */
export function adjustContrast(img: ImageU8, factor: number): ImageU8 {
  const gray = toGray(img).data;
  let sum = 0;
  for (let i = 0; i < gray.length; i++) sum += gray[i];
  const mean = Math.trunc(sum / gray.length + 0.5);
  return blend(new Uint8Array(img.data.length).fill(mean), img, factor);
}

/** ImageEnhance.Color (saturation): blend with the grey version; a no-op on grey images. */
export function adjustSaturation(img: ImageU8, factor: number): ImageU8 {
  if (img.channels === 1) return { ...img, data: img.data.slice() };
  const src = img.data;
  const degenerate = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i += 3) {
    const g = luma(src[i], src[i + 1], src[i + 2]);
    degenerate[i] = g;
    degenerate[i + 1] = g;
    degenerate[i + 2] = g;
  }
  return blend(degenerate, img, factor);
}

/**
 * ImageEnhance.Sharpness: blend with ImageFilter.SMOOTH (3x3 kernel [1 1 1; 1 5 1; 1 1 1] / 13), whose
 * border pixels PIL leaves unfiltered.
 */
export function adjustSharpness(img: ImageU8, factor: number): ImageU8 {
  const { data, height: H, width: W, channels: C } = img;
  const smooth = data.slice();
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      for (let c = 0; c < C; c++) {
        const i = (y * W + x) * C + c;
        const up = i - W * C;
        const down = i + W * C;
        const s =
          data[up - C] +
          data[up] +
          data[up + C] +
          data[i - C] +
          5 * data[i] +
          data[i + C] +
          data[down - C] +
          data[down] +
          data[down + C];
        smooth[i] = Math.min(255, Math.round(s / 13));
      }
    }
  }
  return blend(smooth, img, factor);
}
