/**
 * torchvision ColorJitter(brightness, contrast, saturation) on 8-bit images (hue is not supported: the
 * DeiT recipe only ever sets the three equal strengths). Each factor is drawn from
 * [max(0, 1 - s), 1 + s] and the adjustments run in a random order, as torchvision does.
 */
import type { ImageU8 } from '../image.js';
import type { Rng } from '../../tensor/random.js';
import { adjustBrightness, adjustContrast, adjustSaturation } from './pixel_ops.js';

export interface ColorJitterStrength {
  readonly brightness: number;
  readonly contrast: number;
  readonly saturation: number;
}

export function colorJitter(img: ImageU8, s: ColorJitterStrength, rng: Rng): ImageU8 {
  const order = rng.shuffle(Int32Array.of(0, 1, 2));
  const factor = (strength: number): number | null =>
    strength > 0 ? rng.range(Math.max(0, 1 - strength), 1 + strength) : null;
  const b = factor(s.brightness);
  const c = factor(s.contrast);
  const sat = factor(s.saturation);
  let out = img;
  for (const op of order) {
    switch (op) {
      case 0:
        if (b !== null) out = adjustBrightness(out, b);
        break;
      case 1:
        if (c !== null) out = adjustContrast(out, c);
        break;
      case 2:
        if (sat !== null) out = adjustSaturation(out, sat);
        break;
    }
  }
  return out;
}
