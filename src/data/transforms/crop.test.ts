import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ImageU8, flipHorizontal } from '../image.js';
import { Rng } from '../../tensor/random.js';
import { centerCrop, randomCropWithPadding, randomResizedCropBox, resizeCenterCrop } from './crop.js';
import { resizeShorterSide } from './resize.js';

/** A width x height image with values 1, 2, 3, ... in HWC order. */
function ramp(width: number, height: number, channels: 1 | 3 = 1): ImageU8 {
  return {
    data: Uint8Array.from({ length: width * height * channels }, (_, i) => i + 1),
    width,
    height,
    channels,
  };
}

describe('flip and crops', () => {
  it('flips left-right, keeping each pixel’s channels together', () => {
    const img = ramp(3, 2, 3);
    assert.deepEqual(
      [...flipHorizontal(img).data],
      [7, 8, 9, 4, 5, 6, 1, 2, 3, 16, 17, 18, 13, 14, 15, 10, 11, 12],
    );
  });

  it('random crop with padding = a window of the zero-padded image at the drawn offset', () => {
    const img = ramp(2, 2); // [1 2; 3 4]
    const seen = new Map<string, number[]>();
    for (let seed = 0; seed < 200; seed++) {
      const rng = Rng.derive(seed);
      const probe = Rng.fromState(rng.state());
      const top = probe.int(3);
      const left = probe.int(3);
      const out = randomCropWithPadding(img, 2, 1, 0, rng);
      seen.set(`${top},${left}`, [...out.data]);
    }
    // The padded image is [0 0 0 0; 0 1 2 0; 0 3 4 0; 0 0 0 0]; all nine windows occur.
    assert.deepEqual(Object.fromEntries([...seen.entries()].sort()), {
      '0,0': [0, 0, 0, 1],
      '0,1': [0, 0, 1, 2],
      '0,2': [0, 0, 2, 0],
      '1,0': [0, 1, 0, 3],
      '1,1': [1, 2, 3, 4],
      '1,2': [2, 0, 4, 0],
      '2,0': [0, 3, 0, 0],
      '2,1': [3, 4, 0, 0],
      '2,2': [4, 0, 0, 0],
    });
    const filled = randomCropWithPadding(ramp(1, 1, 3), 3, 1, 9, Rng.derive(0));
    assert.deepEqual(
      [...filled.data],
      [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9],
    );
    assert.throws(() => randomCropWithPadding(img, 5, 1, 0, Rng.derive(0)), RangeError);
  });

  it('centre crop rounds offsets half to even and zero-pads small images', () => {
    // 5 wide, 4 high: top = round(1) = 1, left = round(1.5) = 2.
    assert.deepEqual([...centerCrop(ramp(5, 4), 2).data], [8, 9, 13, 14]);
    // 6 wide: left = round(2.5) = 2 (half to even), not 3.
    assert.deepEqual([...centerCrop(ramp(6, 1), 1).data], [3]);
    // 1x1 into 3x3: the pixel lands in the middle.
    assert.deepEqual([...centerCrop(ramp(1, 1), 3).data], [0, 0, 0, 0, 1, 0, 0, 0, 0]);
    // 4 wide, 1 high into 2x2: padded rows (top gets the floor half: 0 rows above, 1 below).
    assert.deepEqual([...centerCrop(ramp(4, 1), 2).data], [2, 3, 0, 0]);
  });

  it('random-resized-crop boxes fit, honour scale and ratio, and fall back to a centred crop', () => {
    for (let seed = 0; seed < 300; seed++) {
      const b = randomResizedCropBox(60, 80, [0.08, 1], [3 / 4, 4 / 3], Rng.derive(seed));
      assert.ok(
        b.top >= 0 && b.left >= 0 && b.top + b.height <= 60 && b.left + b.width <= 80,
        JSON.stringify(b),
      );
      const frac = (b.width * b.height) / 4800;
      assert.ok(frac >= 0.07 && frac <= 1, `area fraction ${frac}`);
      const ratio = b.width / b.height;
      assert.ok(ratio >= 0.7 && ratio <= 1.43, `ratio ${ratio}`);
    }
    // A 2:1 box of the whole area never fits a square: fallback w = 10, h = round(10 / 2) = 5, centred.
    assert.deepEqual(randomResizedCropBox(10, 10, [1, 1], [2, 2], Rng.derive(0)), {
      top: 2,
      left: 0,
      height: 5,
      width: 10,
    });
    // Inside the ratio range the fallback is the whole image.
    assert.deepEqual(randomResizedCropBox(10, 10, [1, 1], [0.5, 1], Rng.derive(0)).height, 10);
  });

  it('eval resize + centre crop = shorter side to floor(size / cropPct), then the centre', () => {
    const img = ramp(40, 30, 3);
    const out = resizeCenterCrop(img, 16, 0.875, 'bicubic');
    assert.deepEqual([out.width, out.height, out.channels], [16, 16, 3]);
    const resized = resizeShorterSide(img, 18, 'bicubic'); // floor(16 / 0.875) = 18
    assert.deepEqual([resized.width, resized.height], [24, 18]);
    assert.deepEqual([...out.data], [...centerCrop(resized, 16).data]);
  });
});
