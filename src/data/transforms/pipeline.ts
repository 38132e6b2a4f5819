/**
 * Per-sample transform pipelines as plain-data configs (so they can be sent to worker threads), and
 * their compilation into a function that writes one normalized CHW sample into a batch buffer.
 *
 * Train (timm's transforms_imagenet_train, with DeiT's small-image variant):
 *   [to grey] -> random-resized-crop | random-crop(padding) -> h-flip -> RandAugment | ColorJitter | none
 *   -> ToTensor+Normalize [-> repeat grey to 3 channels] -> RandomErasing
 * Eval (timm's transforms_imagenet_eval):
 *   [to grey] -> resize shorter side to size / cropPct + centre crop | plain resize -> ToTensor+Normalize
 */
import { DataError } from '../errors.js';
import { type Channels, type ImageU8, flipHorizontal, luma, toGray } from '../image.js';
import type { Rng } from '../../tensor/random.js';
import { colorJitter } from './color_jitter.js';
import { randomCropWithPadding, randomResizedCrop, resizeCenterCrop } from './crop.js';
import { type Normalization, normalizationTables, toTensorInto } from './normalize.js';
import { type RandAugmentContext, parseRandAugment, randAugment } from './rand_augment.js';
import { type RandomErasingConfig, TIMM_RANDOM_ERASING, randomErase } from './random_erasing.js';
import { type Interpolation, resize } from './resize.js';
import { simpleRandomCrop, threeAugment } from './three_augment.js';

export type TrainCrop =
  /** torchvision RandomResizedCrop(size, scale, ratio). */
  | {
      readonly kind: 'random-resized-crop';
      readonly scale: readonly [number, number];
      readonly ratio: readonly [number, number];
    }
  /**
   * torchvision RandomCrop(size, padding, fill), DeiT's choice for images of 32 pixels or less. An image
   * whose size is not size x size is first resized to it.
   */
  | { readonly kind: 'random-crop'; readonly padding: number; readonly fill: number }
  /** DeiT III's --src: resize the shorter side to size, then a reflect-padded random crop. */
  | { readonly kind: 'simple-random-crop'; readonly padding: number };

/** The colour/appearance stage; timm applies colour jitter only when there is no auto-augment. */
export type Augment =
  | { readonly kind: 'rand-augment'; readonly config: string }
  | { readonly kind: 'color-jitter'; readonly strength: number }
  /** DeiT III's 3-Augment: grey / solarize / blur, then colour jitter (0 disables the jitter). */
  | { readonly kind: 'three-augment'; readonly colorJitter: number }
  | { readonly kind: 'none' };

export type EvalResize =
  /** Resize the shorter side to floor(size / cropPct), then centre-crop size x size. */
  | { readonly kind: 'center-crop'; readonly cropPct: number }
  /** Resize straight to size x size (nothing happens when the image already is). */
  | { readonly kind: 'resize' };

export interface TrainTransformConfig {
  readonly kind: 'train';
  /** Output side, in pixels (square). */
  readonly size: number;
  /** Output channels (the model's inChans); grey is repeated to 3, colour converted to grey for 1. */
  readonly channels: Channels;
  readonly interpolation: Interpolation;
  readonly crop: TrainCrop;
  /** Probability of a horizontal flip. */
  readonly hflip: number;
  readonly augment: Augment;
  readonly normalize: Normalization;
  readonly erasing: RandomErasingConfig | null;
}

export interface EvalTransformConfig {
  readonly kind: 'eval';
  readonly size: number;
  readonly channels: Channels;
  readonly interpolation: Interpolation;
  readonly resize: EvalResize;
  readonly normalize: Normalization;
}

export type TransformConfig = TrainTransformConfig | EvalTransformConfig;

/** A compiled pipeline: writes sample `img` as [channels, size, size] floats at out[offset...]. */
export interface CompiledTransform {
  readonly channels: Channels;
  readonly size: number;
  /** channels * size * size */
  readonly sampleLength: number;
  apply(img: ImageU8, rng: Rng, out: Float32Array, offset: number): void;
}

function check(ok: boolean, key: string, expected: string, found: unknown): void {
  if (!ok) throw new DataError(`transform.${key}`, expected, String(found));
}

const isProb = (p: number): boolean => p >= 0 && p <= 1;

/** RandAugment fills uncovered pixels with the dataset mean colour, in the channels of the image. */
function fillFor(norm: Normalization, imageChannels: Channels): number[] {
  const rgb = [0, 1, 2].map((c) => Math.round(255 * (norm.mean.length === 1 ? norm.mean[0] : norm.mean[c])));
  return imageChannels === 3 ? rgb : [norm.mean.length === 1 ? rgb[0] : luma(rgb[0], rgb[1], rgb[2])];
}

/** Validates a config and builds its pipeline; throws a DataError naming the bad field. */
export function compileTransform(config: TransformConfig): CompiledTransform {
  const { size, channels } = config;
  check(Number.isInteger(size) && size > 0, 'size', 'a positive integer', size);
  check(channels === 1 || channels === 3, 'channels', '1 or 3', channels);
  const tables = normalizationTables(config.normalize, channels);
  const sampleLength = channels * size * size;
  const toModelChannels = (img: ImageU8): ImageU8 => (channels === 1 ? toGray(img) : img);

  switch (config.kind) {
    case 'eval': {
      const resizeStep = compileEvalResize(config);
      return {
        channels,
        size,
        sampleLength,
        apply(img, _rng, out, offset) {
          toTensorInto(resizeStep(toModelChannels(img)), tables, out, offset);
        },
      };
    }
    case 'train': {
      const { erasing, hflip } = config;
      check(isProb(hflip), 'hflip', 'a probability in [0, 1]', hflip);
      if (erasing !== null) {
        check(isProb(erasing.prob), 'erasing.prob', 'a probability in [0, 1]', erasing.prob);
        check(
          Number.isInteger(erasing.minCount) && erasing.minCount >= 1 && erasing.maxCount >= erasing.minCount,
          'erasing.minCount',
          '1 <= minCount <= maxCount',
          `${erasing.minCount}..${erasing.maxCount}`,
        );
      }
      const cropStep = compileCrop(config);
      const augmentStep = compileAugment(config);
      return {
        channels,
        size,
        sampleLength,
        apply(img, rng, out, offset) {
          let x = cropStep(toModelChannels(img), rng);
          if (hflip > 0 && rng.uniform32() < hflip) x = flipHorizontal(x);
          x = augmentStep(x, rng);
          toTensorInto(x, tables, out, offset);
          if (erasing !== null && erasing.prob > 0) {
            randomErase(out, offset, channels, size, size, erasing, rng);
          }
        },
      };
    }
  }
}

type Step = (img: ImageU8, rng: Rng) => ImageU8;

function compileEvalResize(config: EvalTransformConfig): (img: ImageU8) => ImageU8 {
  const { resize: r, size, interpolation } = config;
  switch (r.kind) {
    case 'center-crop': {
      const { cropPct } = r;
      check(cropPct > 0 && cropPct <= 1, 'resize.cropPct', 'in (0, 1]', cropPct);
      return (x) => resizeCenterCrop(x, size, cropPct, interpolation);
    }
    case 'resize':
      return (x) => (x.height === size && x.width === size ? x : resize(x, size, size, interpolation));
  }
}

function compileCrop(config: TrainTransformConfig): Step {
  const { crop, size, interpolation } = config;
  switch (crop.kind) {
    case 'random-resized-crop': {
      const { scale, ratio } = crop;
      check(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1, 'crop.scale', '0 < lo <= hi <= 1', scale);
      check(ratio[0] > 0 && ratio[0] <= ratio[1], 'crop.ratio', '0 < lo <= hi', ratio);
      return (x, rng) => randomResizedCrop(x, size, scale, ratio, interpolation, rng);
    }
    case 'random-crop': {
      const { padding, fill } = crop;
      check(Number.isInteger(padding) && padding >= 0, 'crop.padding', 'a non-negative integer', padding);
      check(Number.isInteger(fill) && fill >= 0 && fill <= 255, 'crop.fill', 'an integer in [0, 255]', fill);
      return (x, rng) => {
        const sized = x.height === size && x.width === size ? x : resize(x, size, size, interpolation);
        return randomCropWithPadding(sized, size, padding, fill, rng);
      };
    }
    case 'simple-random-crop': {
      const { padding } = crop;
      check(Number.isInteger(padding) && padding >= 0, 'crop.padding', 'a non-negative integer', padding);
      return (x, rng) => simpleRandomCrop(x, size, padding, interpolation, rng);
    }
  }
}

function compileAugment(config: TrainTransformConfig): Step {
  const { augment, interpolation, normalize } = config;
  switch (augment.kind) {
    case 'rand-augment': {
      const spec = parseRandAugment(augment.config);
      const contexts: Record<Channels, RandAugmentContext> = {
        1: { interpolation, fill: fillFor(normalize, 1), translatePct: 0.45 },
        3: { interpolation, fill: fillFor(normalize, 3), translatePct: 0.45 },
      };
      return (x, rng) => randAugment(x, spec, contexts[x.channels], rng);
    }
    case 'color-jitter': {
      const s = augment.strength;
      check(s >= 0, 'augment.strength', 'a non-negative number', s);
      const strength = { brightness: s, contrast: s, saturation: s };
      return (x, rng) => colorJitter(x, strength, rng);
    }
    case 'three-augment': {
      const s = augment.colorJitter;
      check(s >= 0, 'augment.colorJitter', 'a non-negative number', s);
      return (x, rng) => threeAugment(x, s, rng);
    }
    case 'none':
      return (x) => x;
  }
}

/** The DeiT/LaPE recipe's knobs, with its defaults. */
export interface RecipeOptions {
  readonly size: number;
  readonly channels: Channels;
  readonly normalize: Normalization;
  /** timm RandAugment string; null falls back to colour jitter (default 'rand-m9-mstd0.5-inc1'). */
  readonly autoAugment?: string | null;
  /** Colour jitter strength when autoAugment is null (default 0.3; 0 disables). */
  readonly colorJitter?: number;
  /** Random erasing probability (default 0.25; 0 disables). */
  readonly reprob?: number;
  readonly hflip?: number;
  /** Default 'bicubic' (DeiT's --train-interpolation and eval resize). */
  readonly interpolation?: Interpolation;
  /** Eval centre-crop fraction (default 0.875 = 224/256). */
  readonly cropPct?: number;
}

/**
 * DeiT's build_transform(is_train=True): RandomResizedCrop(scale 0.08-1, ratio 3/4-4/3) above 32 pixels,
 * RandomCrop(size, padding=4) at 32 or below.
 */
export function deitTrainTransform(o: RecipeOptions): TrainTransformConfig {
  const autoAugment = o.autoAugment === undefined ? 'rand-m9-mstd0.5-inc1' : o.autoAugment;
  const jitter = o.colorJitter ?? 0.3;
  const reprob = o.reprob ?? 0.25;
  return {
    kind: 'train',
    size: o.size,
    channels: o.channels,
    interpolation: o.interpolation ?? 'bicubic',
    crop:
      o.size > 32
        ? { kind: 'random-resized-crop', scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }
        : { kind: 'random-crop', padding: 4, fill: 0 },
    hflip: o.hflip ?? 0.5,
    augment:
      autoAugment !== null
        ? { kind: 'rand-augment', config: autoAugment }
        : jitter > 0
          ? { kind: 'color-jitter', strength: jitter }
          : { kind: 'none' },
    normalize: o.normalize,
    erasing: reprob > 0 ? { ...TIMM_RANDOM_ERASING, prob: reprob } : null,
  };
}

/** DeiT's build_transform(is_train=False): centre crop above 32 pixels, else just ToTensor+Normalize. */
export function deitEvalTransform(o: RecipeOptions): EvalTransformConfig {
  return {
    kind: 'eval',
    size: o.size,
    channels: o.channels,
    interpolation: o.interpolation ?? 'bicubic',
    resize: o.size > 32 ? { kind: 'center-crop', cropPct: o.cropPct ?? 0.875 } : { kind: 'resize' },
    normalize: o.normalize,
  };
}
