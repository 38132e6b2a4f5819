/**
 * timm's Mixup / CutMix, with label smoothing folded into the soft targets.
 *
 * A decision: with probability `prob`, pick cutmix (probability `switchProb` when both are enabled)
 * or mixup and draw lam ~ Beta(alpha, alpha). Sample i is mixed with sample size-1-i (the batch
 * reversed). Cutmix pastes a box of area fraction ~(1 - lam) and, with correctLam, recomputes lam from
 * the clipped box. Targets: off = smoothing / K, on = 1 - smoothing + off,
 *   t_i = lam_i * onehot(y_i; on, off) + (1 - lam_i) * onehot(y_{size-1-i}; on, off)
 * so every row sums to 1. Modes (timm's --mixup-mode): `batch`, one decision for the batch; `pair`,
 * one per mirrored pair (both samples of a pair get it); `elem`, one per sample. timm asserts an even
 * batch size; here an odd one mixes its middle sample with itself, which leaves its image unchanged.
 *
 * Randomness is keyed, not drawn in sequence: the batch decision by (seed, epoch, batch), a pair's or
 * sample's by (seed, epoch, batch, its position in the batch). So a batch can be produced in pieces
 * (the micro-batches of gradient accumulation) with exactly the decisions of the whole batch.
 */
import { DataError } from './errors.js';
import type { Rng } from '../tensor/random.js';

export const MIXUP_MODES = ['batch', 'pair', 'elem'] as const;
export type MixupMode = (typeof MIXUP_MODES)[number];

export interface MixupConfig {
  /** Beta alpha for mixup; 0 disables mixup. */
  readonly mixupAlpha: number;
  /** Beta alpha for cutmix; 0 disables cutmix (unless cutmixMinMax is set). */
  readonly cutmixAlpha: number;
  /** Cutmix box side as a fraction range of the image side, instead of deriving it from lam. */
  readonly cutmixMinMax: readonly [number, number] | null;
  /** Probability of mixing a batch at all. */
  readonly prob: number;
  /** Probability of cutmix rather than mixup when both are enabled. */
  readonly switchProb: number;
  /** One decision per batch, per mirrored pair, or per sample. */
  readonly mode: MixupMode;
  readonly correctLam: boolean;
  readonly labelSmoothing: number;
}

/** DeiT's defaults: --mixup 0.8 --cutmix 1.0 --mixup-prob 1 --mixup-switch-prob 0.5 --smoothing 0.1. */
export const DEIT_MIXUP: MixupConfig = {
  mixupAlpha: 0.8,
  cutmixAlpha: 1.0,
  cutmixMinMax: null,
  prob: 1.0,
  switchProb: 0.5,
  mode: 'batch',
  correctLam: true,
  labelSmoothing: 0.1,
};

/** A cutmix box, half-open: rows [y0, y1), columns [x0, x1). */
export interface CutBox {
  readonly y0: number;
  readonly y1: number;
  readonly x0: number;
  readonly x1: number;
}

export type MixDecision =
  | { readonly kind: 'none'; readonly lam: 1 }
  | { readonly kind: 'mixup'; readonly lam: number }
  | { readonly kind: 'cutmix'; readonly lam: number; readonly box: CutBox };

export function validateMixup(cfg: MixupConfig): void {
  const bad = (key: string, expected: string, found: unknown): DataError =>
    new DataError(`mixup.${key}`, expected, String(found));
  if (!(cfg.mixupAlpha >= 0)) throw bad('mixupAlpha', '>= 0', cfg.mixupAlpha);
  if (!(cfg.cutmixAlpha >= 0)) throw bad('cutmixAlpha', '>= 0', cfg.cutmixAlpha);
  if (cfg.mixupAlpha === 0 && cfg.cutmixAlpha === 0 && cfg.cutmixMinMax === null) {
    throw bad('mixupAlpha', 'mixup or cutmix enabled (alpha > 0); pass no mixup config to disable', 0);
  }
  if (
    cfg.cutmixMinMax !== null &&
    !(cfg.cutmixMinMax[0] >= 0 && cfg.cutmixMinMax[0] < cfg.cutmixMinMax[1] && cfg.cutmixMinMax[1] <= 1)
  ) {
    throw bad('cutmixMinMax', '0 <= min < max <= 1', cfg.cutmixMinMax);
  }
  if (!MIXUP_MODES.includes(cfg.mode)) throw bad('mode', MIXUP_MODES.join(', '), cfg.mode);
  for (const key of ['prob', 'switchProb', 'labelSmoothing'] as const) {
    if (!(cfg[key] >= 0 && cfg[key] <= 1)) throw bad(key, 'a value in [0, 1]', cfg[key]);
  }
}

/** numpy's randint(lo, hi): uniform in [lo, hi). */
function randint(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo);
}

/** timm's rand_bbox: a box of side fraction sqrt(1 - lam) centred uniformly, clipped to the image. */
function boxFromLam(height: number, width: number, lam: number, rng: Rng): CutBox {
  const ratio = Math.sqrt(1 - lam);
  const cutH = Math.trunc(height * ratio);
  const cutW = Math.trunc(width * ratio);
  const cy = randint(rng, 0, height);
  const cx = randint(rng, 0, width);
  const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  const halfH = Math.floor(cutH / 2);
  const halfW = Math.floor(cutW / 2);
  return {
    y0: clip(cy - halfH, height),
    y1: clip(cy + halfH, height),
    x0: clip(cx - halfW, width),
    x1: clip(cx + halfW, width),
  };
}

/** timm's rand_bbox_minmax: box sides drawn from [min, max) times the image sides. */
function boxFromMinMax(height: number, width: number, minmax: readonly [number, number], rng: Rng): CutBox {
  const cutH = randint(rng, Math.trunc(height * minmax[0]), Math.trunc(height * minmax[1]));
  const cutW = randint(rng, Math.trunc(width * minmax[0]), Math.trunc(width * minmax[1]));
  const y0 = randint(rng, 0, height - cutH);
  const x0 = randint(rng, 0, width - cutW);
  return { y0, y1: y0 + cutH, x0, x1: x0 + cutW };
}

/** timm's Mixup._params_per_batch plus the cutmix box: everything random about one batch. */
export function sampleMix(cfg: MixupConfig, height: number, width: number, rng: Rng): MixDecision {
  // timm forces cutmix on (alpha 1) when a min/max box range is given.
  const cutmixAlpha = cfg.cutmixMinMax !== null ? 1 : cfg.cutmixAlpha;
  if (!(rng.uniform32() < cfg.prob)) return { kind: 'none', lam: 1 };
  let useCutmix: boolean;
  if (cfg.mixupAlpha > 0 && cutmixAlpha > 0) useCutmix = rng.uniform32() < cfg.switchProb;
  else useCutmix = cutmixAlpha > 0;
  const alpha = useCutmix ? cutmixAlpha : cfg.mixupAlpha;
  const lam = rng.beta(alpha, alpha);
  if (lam === 1) return { kind: 'none', lam: 1 };
  if (!useCutmix) return { kind: 'mixup', lam };
  const box =
    cfg.cutmixMinMax !== null
      ? boxFromMinMax(height, width, cfg.cutmixMinMax, rng)
      : boxFromLam(height, width, lam, rng);
  const corrected =
    cfg.correctLam || cfg.cutmixMinMax !== null
      ? 1 - ((box.y1 - box.y0) * (box.x1 - box.x0)) / (height * width)
      : lam;
  return { kind: 'cutmix', lam: corrected, box };
}

/** Mixes `images` ([size, C, H, W]) in place: sample i with sample size-1-i. */
export function applyMix(
  images: Float32Array,
  size: number,
  channels: number,
  height: number,
  width: number,
  mix: MixDecision,
): void {
  const sample = channels * height * width;
  switch (mix.kind) {
    case 'none':
      return;
    case 'mixup': {
      const lam = mix.lam;
      for (let i = 0; i < Math.floor(size / 2); i++) {
        const a = i * sample;
        const b = (size - 1 - i) * sample;
        for (let k = 0; k < sample; k++) {
          const va = images[a + k];
          const vb = images[b + k];
          images[a + k] = lam * va + (1 - lam) * vb;
          images[b + k] = lam * vb + (1 - lam) * va;
        }
      }
      return;
    }
    case 'cutmix': {
      const { y0, y1, x0, x1 } = mix.box;
      for (let i = 0; i < Math.floor(size / 2); i++) {
        const a = i * sample;
        const b = (size - 1 - i) * sample;
        for (let c = 0; c < channels; c++) {
          for (let y = y0; y < y1; y++) {
            const row = (c * height + y) * width;
            for (let x = x0; x < x1; x++) {
              const t = images[a + row + x];
              images[a + row + x] = images[b + row + x];
              images[b + row + x] = t;
            }
          }
        }
      }
      return;
    }
  }
}

/** timm's mixup_target: smoothed one-hot of the labels, blended with the reversed batch's by lam. */
export function mixTargets(
  labels: Int32Array,
  numClasses: number,
  lam: number,
  smoothing: number,
): Float32Array {
  const size = labels.length;
  const off = smoothing / numClasses;
  const on = 1 - smoothing + off;
  const t = new Float32Array(size * numClasses);
  for (let i = 0; i < size; i++) {
    const row = t.subarray(i * numClasses, (i + 1) * numClasses);
    row.fill(off);
    row[labels[i]] += lam * (on - off);
    row[labels[size - 1 - i]] += (1 - lam) * (on - off);
  }
  return t;
}

/**
 * The decision for the sample at `position` of a batch of `size` (positions are 0-based within the
 * whole batch): `batchRng` gives the batch's (batch mode), `keyedRng(k)` a pair's or sample's.
 */
export function decisionFor(
  cfg: MixupConfig,
  height: number,
  width: number,
  position: number,
  size: number,
  batchDecision: () => MixDecision,
  keyedRng: (key: number) => Rng,
): MixDecision {
  switch (cfg.mode) {
    case 'batch':
      return batchDecision();
    case 'pair':
      return sampleMix(cfg, height, width, keyedRng(Math.min(position, size - 1 - position)));
    case 'elem':
      return sampleMix(cfg, height, width, keyedRng(position));
  }
}

/**
 * Mixes `size` samples (`own`, [size, C, H, W]) in place with their partners (`partners`, the same
 * layout: partner k is the sample own[k] is mixed with), each by its own decision.
 */
export function mixWithPartners(
  own: Float32Array,
  partners: Float32Array,
  size: number,
  channels: number,
  height: number,
  width: number,
  decisions: readonly MixDecision[],
): void {
  const sample = channels * height * width;
  for (let k = 0; k < size; k++) {
    const d = decisions[k];
    const a = k * sample;
    switch (d.kind) {
      case 'none':
        break;
      case 'mixup': {
        const lam = d.lam;
        for (let i = 0; i < sample; i++) own[a + i] = lam * own[a + i] + (1 - lam) * partners[a + i];
        break;
      }
      case 'cutmix': {
        const { y0, y1, x0, x1 } = d.box;
        for (let c = 0; c < channels; c++) {
          for (let y = y0; y < y1; y++) {
            const row = a + (c * height + y) * width;
            for (let x = x0; x < x1; x++) own[row + x] = partners[row + x];
          }
        }
        break;
      }
    }
  }
}

/** Smoothed one-hot targets of `labels`, each blended with its partner's label by its own lam. */
export function mixTargetsWithPartners(
  labels: Int32Array,
  partnerLabels: Int32Array,
  numClasses: number,
  lams: readonly number[],
  smoothing: number,
): Float32Array {
  const size = labels.length;
  const off = smoothing / numClasses;
  const on = 1 - smoothing + off;
  const t = new Float32Array(size * numClasses);
  for (let i = 0; i < size; i++) {
    const row = t.subarray(i * numClasses, (i + 1) * numClasses);
    row.fill(off);
    row[labels[i]] += lams[i] * (on - off);
    row[partnerLabels[i]] += (1 - lams[i]) * (on - off);
  }
  return t;
}
