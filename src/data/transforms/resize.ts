/**
 * Resampling of 8-bit HWC images with PIL's semantics (what torchvision and timm use on PIL images):
 * pixel centres at +0.5, separable filters whose support widens by the scale factor when shrinking
 * (antialiasing), bicubic with a = -0.5. Like PIL's 8-bit path, weights are fixed-point with 22
 * fractional bits and the horizontal pass is rounded to bytes before the vertical one, which makes the
 * output bit-identical to Pillow's (checked against Pillow 9.4 in pil_parity.test.ts).
 */
import { type ImageU8 } from '../image.js';

export type Interpolation = 'nearest' | 'bilinear' | 'bicubic';

/** A source rectangle in pixel units; fractional edges are allowed. */
export interface Box {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

interface Filter {
  readonly support: number;
  readonly weight: (x: number) => number;
}

const BILINEAR: Filter = {
  support: 1,
  weight: (x) => {
    const a = Math.abs(x);
    return a < 1 ? 1 - a : 0;
  },
};

const CUBIC_A = -0.5;
const BICUBIC: Filter = {
  support: 2,
  weight: (x) => {
    const a = Math.abs(x);
    if (a < 1) return ((CUBIC_A + 2) * a - (CUBIC_A + 3)) * a * a + 1;
    if (a < 2) return (((a - 5) * a + 8) * a - 4) * CUBIC_A;
    return 0;
  },
};

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per output position: the first input index, the tap count, and `taps` fixed-point weights. */
interface Coefficients {
  readonly start: Int32Array;
  readonly count: Int32Array;
  readonly taps: number;
  readonly weights: Int32Array;
}

function coefficients(
  inSize: number,
  boxStart: number,
  boxSize: number,
  outSize: number,
  f: Filter,
): Coefficients {
  const scale = boxSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = f.support * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const w = new Float64Array(taps);
  for (let o = 0; o < outSize; o++) {
    const center = boxStart + (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    const n = Math.max(0, Math.min(hi - lo, taps));
    let total = 0;
    for (let k = 0; k < n; k++) {
      w[k] = f.weight((lo + k - center + 0.5) / filterScale);
      total += w[k];
    }
    for (let k = 0; k < n; k++) {
      const normalized = total !== 0 ? w[k] / total : w[k];
      weights[o * taps + k] = Math.trunc(normalized < 0 ? normalized * ONE - 0.5 : normalized * ONE + 0.5);
    }
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, taps, weights };
}

/** A rounded fixed-point accumulator (HALF already added) back to a byte. */
function fixedToByte(acc: number): number {
  const v = Math.floor(acc / ONE);
  return v <= 0 ? 0 : v >= 255 ? 255 : v;
}

function resizeNearest(img: ImageU8, box: Box, outH: number, outW: number): ImageU8 {
  const { width, height, channels: C, data } = img;
  const out = new Uint8Array(outH * outW * C);
  const sx = box.width / outW;
  const sy = box.height / outH;
  const xs = new Int32Array(outW);
  for (let x = 0; x < outW; x++)
    xs[x] = Math.min(width - 1, Math.max(0, Math.floor(box.left + (x + 0.5) * sx)));
  for (let y = 0; y < outH; y++) {
    const yi = Math.min(height - 1, Math.max(0, Math.floor(box.top + (y + 0.5) * sy)));
    const srow = yi * width * C;
    const drow = y * outW * C;
    for (let x = 0; x < outW; x++)
      for (let c = 0; c < C; c++) out[drow + x * C + c] = data[srow + xs[x] * C + c];
  }
  return { data: out, height: outH, width: outW, channels: C };
}

/** Resamples the region `box` of `img` to outH x outW. */
export function resizeRegion(
  img: ImageU8,
  box: Box,
  outH: number,
  outW: number,
  interp: Interpolation,
): ImageU8 {
  if (!(outH > 0 && outW > 0 && Number.isInteger(outH) && Number.isInteger(outW))) {
    throw new RangeError(`resize: bad output size ${outH}x${outW}`);
  }
  const { width, height, channels: C, data } = img;
  const whole = box.top === 0 && box.left === 0 && box.height === height && box.width === width;
  if (whole && outH === height && outW === width) return { ...img, data: data.slice() };
  let filter: Filter;
  switch (interp) {
    case 'nearest':
      return resizeNearest(img, box, outH, outW);
    case 'bilinear':
      filter = BILINEAR;
      break;
    case 'bicubic':
      filter = BICUBIC;
      break;
  }
  const h = coefficients(width, box.left, box.width, outW, filter);
  const v = coefficients(height, box.top, box.height, outH, filter);
  // Only the input rows some output row reads need a horizontal pass (PIL's ybox_first..ybox_last).
  let rowLo = height;
  let rowHi = 0;
  for (let y = 0; y < outH; y++) {
    rowLo = Math.min(rowLo, v.start[y]);
    rowHi = Math.max(rowHi, v.start[y] + v.count[y]);
  }
  const rows = Math.max(0, rowHi - rowLo);
  const tmp = new Uint8Array(rows * outW * C);
  for (let r = 0; r < rows; r++) {
    const srow = (rowLo + r) * width * C;
    const trow = r * outW * C;
    for (let x = 0; x < outW; x++) {
      const s = h.start[x];
      const n = h.count[x];
      const wo = x * h.taps;
      for (let c = 0; c < C; c++) {
        let acc = HALF;
        for (let k = 0; k < n; k++) acc += h.weights[wo + k] * data[srow + (s + k) * C + c];
        tmp[trow + x * C + c] = fixedToByte(acc);
      }
    }
  }
  const out = new Uint8Array(outH * outW * C);
  const rowLen = outW * C;
  for (let y = 0; y < outH; y++) {
    const s = v.start[y] - rowLo;
    const n = v.count[y];
    const wo = y * v.taps;
    const drow = y * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let acc = HALF;
      for (let k = 0; k < n; k++) acc += v.weights[wo + k] * tmp[(s + k) * rowLen + i];
      out[drow + i] = fixedToByte(acc);
    }
  }
  return { data: out, height: outH, width: outW, channels: C };
}

export function resize(img: ImageU8, outH: number, outW: number, interp: Interpolation): ImageU8 {
  return resizeRegion(img, { top: 0, left: 0, height: img.height, width: img.width }, outH, outW, interp);
}

/** torchvision Resize(size) with an int: the shorter side becomes `size`, the longer keeps the aspect. */
export function resizeShorterSide(img: ImageU8, size: number, interp: Interpolation): ImageU8 {
  const { height, width } = img;
  if (width <= height) {
    return resize(img, Math.trunc((size * height) / width), size, interp);
  }
  return resize(img, size, Math.trunc((size * width) / height), interp);
}
