/**
 * timm's CosineLRScheduler, per epoch (the DeiT recipe): linear warmup from `warmupLr`, then a cosine
 * from the base lr to `minLr` over `epochs` (not shifted by the warmup), then `minLr` (cooldown).
 */
export interface CosineSchedule {
  baseLr: number;
  minLr: number;
  warmupLr: number;
  warmupEpochs: number;
  /** t_initial: the cosine's length in epochs. */
  epochs: number;
}

export function cosineLr(s: CosineSchedule, t: number): number {
  if (t < s.warmupEpochs) return s.warmupLr + (t * (s.baseLr - s.warmupLr)) / s.warmupEpochs;
  if (t >= s.epochs) return s.minLr;
  return s.minLr + 0.5 * (s.baseLr - s.minLr) * (1 + Math.cos((Math.PI * t) / s.epochs));
}

/**
 * The lr the reference training loop uses during epoch `e`: it calls `scheduler.step(e)` after epoch
 * e, so epochs 0 and 1 both run at lr(0) and epoch e >= 1 runs at lr(e - 1).
 */
export function lrForEpoch(s: CosineSchedule, epoch: number): number {
  return cosineLr(s, Math.max(0, epoch - 1));
}

/** DeiT's linear scaling rule: lr * batch / 512. */
export function scaledLr(lr: number, batchSize: number): number {
  return (lr * batchSize) / 512;
}
