/**
 * Geometric crops with torchvision's parameter semantics.
 */
import { type ImageU8, roundHalfEven } from '../image.js';
import type { Rng } from '../../tensor/random.js';
import { type Box, type Interpolation, resizeRegion, resizeShorterSide } from './resize.js';

/**
 * torchvision RandomResizedCrop.get_params: up to 10 tries at a box of area fraction ~U(scale) and
 * aspect ratio ~logU(ratio) that fits; otherwise the largest centred box whose ratio is clamped to the range.
 */
export function randomResizedCropBox(
  height: number,
  width: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  rng: Rng,
): Box {
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.range(scale[0], scale[1]);
    const aspect = Math.exp(rng.range(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

export function randomResizedCrop(
  img: ImageU8,
  size: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  interp: Interpolation,
  rng: Rng,
): ImageU8 {
  const box = randomResizedCropBox(img.height, img.width, scale, ratio, rng);
  return resizeRegion(img, box, size, size, interp);
}

/**
 * Copies the size x size window whose top-left corner is (top, left) in the image padded by `pad` on
 * every side with `fill`; coordinates are in the padded frame.
 */
function paddedWindow(
  img: ImageU8,
  size: number,
  pad: number,
  top: number,
  left: number,
  fill: number,
): ImageU8 {
  const { height, width, channels: C, data } = img;
  const out = new Uint8Array(size * size * C).fill(fill);
  for (let y = 0; y < size; y++) {
    const sy = y + top - pad;
    if (sy < 0 || sy >= height) continue;
    const x0 = Math.max(0, pad - left);
    const x1 = Math.min(size, width + pad - left);
    if (x1 <= x0) continue;
    const src = (sy * width + (x0 + left - pad)) * C;
    out.set(data.subarray(src, src + (x1 - x0) * C), (y * size + x0) * C);
  }
  return { data: out, height: size, width: size, channels: C };
}

/**
 * torchvision RandomCrop(size, padding, fill): pad every side, then a uniformly placed window.
 * The image must be at least size - 2 * padding on each side.
 */
export function randomCropWithPadding(
  img: ImageU8,
  size: number,
  padding: number,
  fill: number,
  rng: Rng,
): ImageU8 {
  const ph = img.height + 2 * padding;
  const pw = img.width + 2 * padding;
  if (ph < size || pw < size) {
    throw new RangeError(
      `random crop: ${img.height}x${img.width} padded by ${padding} is smaller than ${size}`,
    );
  }
  const top = rng.int(ph - size + 1);
  const left = rng.int(pw - size + 1);
  return paddedWindow(img, size, padding, top, left, fill);
}

/** torchvision CenterCrop: offsets round half to even; a smaller image is zero-padded around. */
export function centerCrop(img: ImageU8, size: number): ImageU8 {
  const { height, width } = img;
  if (height >= size && width >= size) {
    const top = roundHalfEven((height - size) / 2);
    const left = roundHalfEven((width - size) / 2);
    return paddedWindow(img, size, 0, top, left, 0);
  }
  // Pad first (left/top get the floor half), then crop the centre of the padded image.
  const padTop = height < size ? Math.floor((size - height) / 2) : 0;
  const padLeft = width < size ? Math.floor((size - width) / 2) : 0;
  const top = height < size ? 0 : roundHalfEven((height - size) / 2);
  const left = width < size ? 0 : roundHalfEven((width - size) / 2);
  const { channels: C, data } = img;
  const out = new Uint8Array(size * size * C);
  for (let y = 0; y < size; y++) {
    const sy = y - padTop + top;
    if (sy < 0 || sy >= height) continue;
    for (let x = 0; x < size; x++) {
      const sx = x - padLeft + left;
      if (sx < 0 || sx >= width) continue;
      for (let c = 0; c < C; c++) out[(y * size + x) * C + c] = data[(sy * width + sx) * C + c];
    }
  }
  return { data: out, height: size, width: size, channels: C };
}

/** timm's eval transform: resize the shorter side to floor(size / cropPct), then centre-crop size. */
export function resizeCenterCrop(
  img: ImageU8,
  size: number,
  cropPct: number,
  interp: Interpolation,
): ImageU8 {
  const scaleSize = Math.floor(size / cropPct);
  return centerCrop(resizeShorterSide(img, scaleSize, interp), size);
}
