/**
 * timm's RandAugment, configured by timm's string syntax, e.g. `rand-m9-mstd0.5-inc1`:
 *   m<int>     magnitude in [0, 10] (default 10)       n<int>    ops per image (default 2)
 *   mstd<f>    Gaussian noise on the magnitude per op (> 100: uniform in [0, m])
 *   mmax<int>  clip the magnitude to [0, mmax] instead of [0, 10]
 *   inc<0|1>   use the "increasing" op variants, whose strength grows with the magnitude
 *   p<f>       probability of applying each chosen op (default 0.5)
 *   w<int>     choose ops without replacement by timm's weight set (only w0 exists)
 * Each image gets n ops drawn uniformly with replacement; each op fires with probability p and maps its
 * (noisy, clipped) magnitude to an argument exactly as timm's `*_level_to_arg` functions do.
 *
 * Deliberate deviation: timm treats `inc0` as enabled (bool('0') is True in Python); here `inc0` disables.
 */
import { DataError } from '../errors.js';
import type { ImageU8 } from '../image.js';
import type { Rng } from '../../tensor/random.js';
import { affine, rotationMatrix } from './affine.js';
import {
  adjustBrightness,
  adjustContrast,
  adjustSaturation,
  adjustSharpness,
  autoContrast,
  equalize,
  invert,
  posterize,
  solarize,
  solarizeAdd,
} from './pixel_ops.js';
import type { Interpolation } from './resize.js';

export type RandAugmentOp =
  | 'AutoContrast'
  | 'Equalize'
  | 'Invert'
  | 'Rotate'
  | 'Posterize'
  | 'PosterizeIncreasing'
  | 'Solarize'
  | 'SolarizeIncreasing'
  | 'SolarizeAdd'
  | 'Color'
  | 'ColorIncreasing'
  | 'Contrast'
  | 'ContrastIncreasing'
  | 'Brightness'
  | 'BrightnessIncreasing'
  | 'Sharpness'
  | 'SharpnessIncreasing'
  | 'ShearX'
  | 'ShearY'
  | 'TranslateXRel'
  | 'TranslateYRel';

const RAND_TRANSFORMS: readonly RandAugmentOp[] = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'Posterize',
  'Solarize',
  'SolarizeAdd',
  'Color',
  'Contrast',
  'Brightness',
  'Sharpness',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
];

const RAND_INCREASING_TRANSFORMS: readonly RandAugmentOp[] = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'PosterizeIncreasing',
  'SolarizeIncreasing',
  'SolarizeAdd',
  'ColorIncreasing',
  'ContrastIncreasing',
  'BrightnessIncreasing',
  'SharpnessIncreasing',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
];

/** timm's _RAND_CHOICE_WEIGHTS_0, keyed by the base op (the increasing variant takes its base's weight). */
const CHOICE_WEIGHTS_0: Readonly<Record<string, number>> = {
  Rotate: 0.3,
  ShearX: 0.2,
  ShearY: 0.2,
  TranslateXRel: 0.1,
  TranslateYRel: 0.1,
  Color: 0.025,
  Sharpness: 0.025,
  AutoContrast: 0.025,
  Solarize: 0.005,
  SolarizeAdd: 0.005,
  Contrast: 0.005,
  Brightness: 0.005,
  Equalize: 0.005,
  Posterize: 0,
  Invert: 0,
};

const LEVEL_DENOM = 10;

export interface RandAugmentSpec {
  readonly ops: readonly RandAugmentOp[];
  readonly numOps: number;
  readonly magnitude: number;
  /** 0: fixed magnitude; Infinity: uniform in [0, magnitude]; else Gaussian std. */
  readonly magnitudeStd: number;
  readonly magnitudeMax: number;
  readonly prob: number;
  /** Normalized op weights for choice without replacement, or null for uniform with replacement. */
  readonly weights: readonly number[] | null;
}

/** Parses timm's `rand-...` string; throws a DataError naming the bad section. */
export function parseRandAugment(config: string): RandAugmentSpec {
  const parts = config.split('-');
  if (parts[0] !== 'rand')
    throw new DataError(`autoAugment '${config}'`, "a RandAugment string starting with 'rand'");
  let magnitude = LEVEL_DENOM;
  let numOps = 2;
  let magnitudeStd = 0;
  let magnitudeMax = LEVEL_DENOM;
  let increasing = false;
  let prob = 0.5;
  let weightIdx: number | null = null;
  for (const part of parts.slice(1)) {
    const m = /^([a-z]+)(\d.*)$/.exec(part);
    const num = m === null ? NaN : Number(m[2]);
    if (m === null || !Number.isFinite(num)) {
      throw new DataError(
        `autoAugment '${config}'`,
        'sections like m9, n2, mstd0.5, mmax10, inc1, p0.5, w0',
        `'${part}'`,
      );
    }
    switch (m[1]) {
      case 'm':
        magnitude = Math.trunc(num);
        break;
      case 'n':
        numOps = Math.trunc(num);
        break;
      case 'mstd':
        magnitudeStd = num > 100 ? Infinity : num;
        break;
      case 'mmax':
        magnitudeMax = Math.trunc(num);
        break;
      case 'inc':
        increasing = num !== 0;
        break;
      case 'p':
        prob = num;
        break;
      case 'w':
        weightIdx = Math.trunc(num);
        break;
      default:
        throw new DataError(
          `autoAugment '${config}'`,
          'a known section (m, n, mstd, mmax, inc, p, w)',
          `'${part}'`,
        );
    }
  }
  if (weightIdx !== null && weightIdx !== 0) {
    throw new DataError(
      `autoAugment '${config}'`,
      'weight set w0 (the only one timm defines)',
      `w${weightIdx}`,
    );
  }
  const ops = increasing ? RAND_INCREASING_TRANSFORMS : RAND_TRANSFORMS;
  let weights: number[] | null = null;
  if (weightIdx !== null) {
    const raw = ops.map((op) => CHOICE_WEIGHTS_0[op.replace('Increasing', '')] ?? 0);
    const total = raw.reduce((a, b) => a + b, 0);
    weights = raw.map((w) => w / total);
    if (numOps > weights.filter((w) => w > 0).length) {
      throw new DataError(
        `autoAugment '${config}'`,
        'n no larger than the number of ops with non-zero weight',
      );
    }
  }
  return { ops, numOps, magnitude, magnitudeStd, magnitudeMax, prob, weights };
}

/** How the geometric ops resample and what they fill uncovered pixels with. */
export interface RandAugmentContext {
  readonly interpolation: Interpolation;
  /** One value per image channel (timm fills with the dataset mean colour, rounded to 0..255). */
  readonly fill: readonly number[];
  /** TranslateXRel/YRel range as a fraction of the side (timm default 0.45). */
  readonly translatePct: number;
}

function randomlyNegate(v: number, rng: Rng): number {
  return rng.uniform32() > 0.5 ? -v : v;
}

/** timm's _enhance_level_to_arg: [0.1, 1.9], growing with the level. */
function enhanceArg(frac: number): number {
  return frac * 1.8 + 0.1;
}

/** timm's _enhance_increasing_level_to_arg: 1 +- 0.9 frac, at least 0.1. */
function enhanceIncreasingArg(frac: number, rng: Rng): number {
  return Math.max(0.1, 1 + randomlyNegate(frac * 0.9, rng));
}

function posterizeBits(frac: number): number {
  return Math.trunc(frac * 4);
}

function solarizeThreshold(frac: number): number {
  return Math.min(256, Math.trunc(frac * 256));
}

/** Applies one op at a given magnitude, mapping the level to its argument as timm does. */
export function applyRandAugmentOp(
  img: ImageU8,
  op: RandAugmentOp,
  level: number,
  ctx: RandAugmentContext,
  rng: Rng,
): ImageU8 {
  const frac = level / LEVEL_DENOM;
  const { interpolation, fill } = ctx;
  switch (op) {
    case 'AutoContrast':
      return autoContrast(img);
    case 'Equalize':
      return equalize(img);
    case 'Invert':
      return invert(img);
    case 'Rotate':
      return affine(
        img,
        rotationMatrix(randomlyNegate(frac * 30, rng), img.width, img.height),
        interpolation,
        fill,
      );
    case 'Posterize':
      return posterize(img, posterizeBits(frac));
    case 'PosterizeIncreasing':
      return posterize(img, 4 - posterizeBits(frac));
    case 'Solarize':
      return solarize(img, solarizeThreshold(frac));
    case 'SolarizeIncreasing':
      return solarize(img, 256 - solarizeThreshold(frac));
    case 'SolarizeAdd':
      return solarizeAdd(img, Math.min(128, Math.trunc(frac * 110)));
    case 'Color':
      return adjustSaturation(img, enhanceArg(frac));
    case 'ColorIncreasing':
      return adjustSaturation(img, enhanceIncreasingArg(frac, rng));
    case 'Contrast':
      return adjustContrast(img, enhanceArg(frac));
    case 'ContrastIncreasing':
      return adjustContrast(img, enhanceIncreasingArg(frac, rng));
    case 'Brightness':
      return adjustBrightness(img, enhanceArg(frac));
    case 'BrightnessIncreasing':
      return adjustBrightness(img, enhanceIncreasingArg(frac, rng));
    case 'Sharpness':
      return adjustSharpness(img, enhanceArg(frac));
    case 'SharpnessIncreasing':
      return adjustSharpness(img, enhanceIncreasingArg(frac, rng));
    case 'ShearX':
      return affine(img, [1, randomlyNegate(frac * 0.3, rng), 0, 0, 1, 0], interpolation, fill);
    case 'ShearY':
      return affine(img, [1, 0, 0, randomlyNegate(frac * 0.3, rng), 1, 0], interpolation, fill);
    case 'TranslateXRel':
      return affine(
        img,
        [1, 0, randomlyNegate(frac * ctx.translatePct, rng) * img.width, 0, 1, 0],
        interpolation,
        fill,
      );
    case 'TranslateYRel':
      return affine(
        img,
        [1, 0, 0, 0, 1, randomlyNegate(frac * ctx.translatePct, rng) * img.height],
        interpolation,
        fill,
      );
  }
}

/** Picks the ops for one image: uniform with replacement, or weighted without (numpy's choice semantics). */
function chooseOps(spec: RandAugmentSpec, rng: Rng): RandAugmentOp[] {
  if (spec.weights === null)
    return Array.from({ length: spec.numOps }, () => spec.ops[rng.int(spec.ops.length)]);
  const w = spec.weights.slice();
  const chosen: RandAugmentOp[] = [];
  for (let k = 0; k < spec.numOps; k++) {
    let u = rng.uniform32() * w.reduce((a, b) => a + b, 0);
    let pick = -1;
    for (let j = 0; j < w.length; j++) {
      if (w[j] === 0) continue;
      pick = j; // falls back to the last positive weight if rounding leaves u just past the total
      if (u < w[j]) break;
      u -= w[j];
    }
    chosen.push(spec.ops[pick]);
    w[pick] = 0;
  }
  return chosen;
}

export function randAugment(img: ImageU8, spec: RandAugmentSpec, ctx: RandAugmentContext, rng: Rng): ImageU8 {
  let out = img;
  for (const op of chooseOps(spec, rng)) {
    if (spec.prob < 1 && rng.uniform32() > spec.prob) continue;
    let magnitude = spec.magnitude;
    if (spec.magnitudeStd === Infinity) magnitude = rng.range(0, magnitude);
    else if (spec.magnitudeStd > 0) magnitude += spec.magnitudeStd * rng.normal32();
    magnitude = Math.max(0, Math.min(magnitude, spec.magnitudeMax));
    out = applyRandAugmentOp(out, op, magnitude, ctx, rng);
  }
  return out;
}
