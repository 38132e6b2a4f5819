/**
 * DeiT III's 3-Augment (`--ThreeAugment`), as the reference's augment.py builds it: after the crop and
 * flip, one of grey scale (PIL convert('L') repeated to the image's channels), solarization (threshold
 * 128) or a Gaussian blur of radius U(0.1, 2) (PIL's), chosen uniformly; then colour jitter (brightness,
 * contrast, saturation) when its strength is not 0. With `--src`, the crop is DeiT III's "simple random
 * crop": resize the shorter side to the output size, then a random crop with 4 pixels of reflect padding.
 */
import { type ImageU8, toGray } from '../image.js';
import type { Rng } from '../../tensor/random.js';
import { gaussianBlur } from './blur.js';
import { colorJitter } from './color_jitter.js';
import { solarize } from './pixel_ops.js';
import { type Interpolation, resizeShorterSide } from './resize.js';

/** Grey scale in the image's own channel count (torchvision's Grayscale(3) on RGB). */
function grayscale(img: ImageU8): ImageU8 {
  if (img.channels === 1) return img;
  const g = toGray(img);
  const data = new Uint8Array(img.data.length);
  for (let i = 0, j = 0; i < g.data.length; i++, j += 3) data[j] = data[j + 1] = data[j + 2] = g.data[i];
  return { ...img, data };
}

export function threeAugment(img: ImageU8, colorJitterStrength: number, rng: Rng): ImageU8 {
  let out: ImageU8;
  switch (rng.int(3)) {
    case 0:
      out = grayscale(img);
      break;
    case 1:
      out = solarize(img, 128);
      break;
    default:
      out = gaussianBlur(img, Math.fround(rng.range(0.1, 2.0)));
  }
  if (colorJitterStrength !== 0) {
    const s = colorJitterStrength;
    out = colorJitter(out, { brightness: s, contrast: s, saturation: s }, rng);
  }
  return out;
}

/** torchvision's reflect padding index: -1 -> 1, n -> n - 2 (the edge pixel is not repeated). */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let k = ((i % period) + period) % period;
  if (k >= n) k = period - k;
  return k;
}

/**
 * DeiT III's simple random crop: Resize(size) of the shorter side, then RandomCrop(size, padding,
 * padding_mode='reflect').
 */
export function simpleRandomCrop(
  img: ImageU8,
  size: number,
  padding: number,
  interpolation: Interpolation,
  rng: Rng,
): ImageU8 {
  const x = Math.min(img.height, img.width) === size ? img : resizeShorterSide(img, size, interpolation);
  const { height: h, width: w, channels: c, data } = x;
  if (padding >= h || padding >= w)
    throw new RangeError(`reflect padding ${padding} needs an image larger than it, got ${h}x${w}`);
  const top = rng.int(h + 2 * padding - size + 1);
  const left = rng.int(w + 2 * padding - size + 1);
  const out = new Uint8Array(size * size * c);
  for (let y = 0; y < size; y++) {
    const sy = reflect(y + top - padding, h);
    for (let xx = 0; xx < size; xx++) {
      const sx = reflect(xx + left - padding, w);
      const s = (sy * w + sx) * c;
      const d = (y * size + xx) * c;
      for (let k = 0; k < c; k++) out[d + k] = data[s + k];
    }
  }
  return { data: out, height: size, width: size, channels: c };
}
