/**
 * timm's RandomErasing on a normalized CHW float tensor (applied after Normalize, so erased values
 * drawn from N(0, 1) look like normalized pixels): with probability `prob`, `count` times, try up to 10
 * boxes of area ~U(minArea, maxArea) / count and aspect ~logU(minAspect, 1/minAspect); the first that fits
 * strictly inside the image is filled.
 */
import { roundHalfEven } from '../image.js';
import type { Rng } from '../../tensor/random.js';

/** 'pixel': N(0,1) per value; 'rand': N(0,1) per channel; 'const': zeros. */
export type ErasingMode = 'pixel' | 'rand' | 'const';

export interface RandomErasingConfig {
  readonly prob: number;
  readonly mode: ErasingMode;
  /** Boxes per erased image: exactly minCount when equal, else uniform in [minCount, maxCount]. */
  readonly minCount: number;
  readonly maxCount: number;
  readonly minArea: number;
  readonly maxArea: number;
  readonly minAspect: number;
}

export const TIMM_RANDOM_ERASING: RandomErasingConfig = {
  prob: 0.25,
  mode: 'pixel',
  minCount: 1,
  maxCount: 1,
  minArea: 0.02,
  maxArea: 1 / 3,
  minAspect: 0.3,
};

/** Erases in place in the [channels, height, width] tensor at out[offset...]. */
export function randomErase(
  out: Float32Array,
  offset: number,
  channels: number,
  height: number,
  width: number,
  cfg: RandomErasingConfig,
  rng: Rng,
): void {
  if (rng.uniform32() > cfg.prob) return;
  const area = height * width;
  const count = cfg.minCount === cfg.maxCount ? cfg.minCount : rng.intInclusive(cfg.minCount, cfg.maxCount);
  const logLo = Math.log(cfg.minAspect);
  const logHi = Math.log(1 / cfg.minAspect);
  for (let n = 0; n < count; n++) {
    for (let attempt = 0; attempt < 10; attempt++) {
      const targetArea = (rng.range(cfg.minArea, cfg.maxArea) * area) / count;
      const aspect = Math.exp(rng.range(logLo, logHi));
      const h = roundHalfEven(Math.sqrt(targetArea * aspect));
      const w = roundHalfEven(Math.sqrt(targetArea / aspect));
      if (w < width && h < height) {
        const top = rng.intInclusive(0, height - h);
        const left = rng.intInclusive(0, width - w);
        for (let c = 0; c < channels; c++) {
          const channelValue = cfg.mode === 'rand' ? rng.normal32() : 0;
          for (let y = top; y < top + h; y++) {
            const row = offset + (c * height + y) * width;
            for (let x = left; x < left + w; x++) {
              out[row + x] = cfg.mode === 'pixel' ? rng.normal32() : channelValue;
            }
          }
        }
        break;
      }
    }
  }
}
