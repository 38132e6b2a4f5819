import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageU8 } from '../image.js';
import { resize, resizeRegion, resizeShorterSide } from './resize.js';

const flat = (w: number, h: number, v: number): ImageU8 => ({
  data: new Uint8Array(w * h * 3).fill(v),
  width: w,
  height: h,
  channels: 3,
});

describe('resize', () => {
  it('keeps flat images flat and same-size images identical', () => {
    for (const interp of ['nearest', 'bilinear', 'bicubic'] as const) {
      for (const [w, h] of [
        [3, 5],
        [40, 7],
      ]) {
        const out = resize(flat(11, 9, 77), h, w, interp);
        assert.deepEqual([out.width, out.height], [w, h]);
        assert.ok(
          out.data.every((v) => v === 77),
          interp,
        );
      }
      const img: ImageU8 = {
        data: Uint8Array.from({ length: 12 }, (_, i) => i * 20),
        width: 4,
        height: 3,
        channels: 1,
      };
      assert.deepEqual([...resize(img, 3, 4, interp).data], [...img.data]);
    }
  });

  it('computes PIL’s antialiased bilinear weights when shrinking 4 -> 2', () => {
    // Output 0: centre 1, support 2, taps x = 0, 1, 2 with triangle weights 0.75, 0.75, 0.25.
    // (0 * .75 + 100 * .75 + 200 * .25) / 1.75 = 71.4; output 1: (100 * .25 + 200 * .75 + 40 * .75) / 1.75 = 117.1.
    const row: ImageU8 = { data: Uint8Array.of(0, 100, 200, 40), width: 4, height: 1, channels: 1 };
    assert.deepEqual([...resize(row, 1, 2, 'bilinear').data], [71, 117]);
  });

  it('crops a region before resampling', () => {
    const img: ImageU8 = {
      data: Uint8Array.from({ length: 16 }, (_, i) => i),
      width: 4,
      height: 4,
      channels: 1,
    };
    assert.deepEqual(
      [...resizeRegion(img, { top: 1, left: 2, height: 2, width: 2 }, 2, 2, 'bilinear').data],
      [6, 7, 10, 11],
    );
  });

  it('resizes the shorter side like torchvision Resize(int)', () => {
    const wide = resizeShorterSide(flat(50, 20, 1), 8, 'bilinear');
    assert.deepEqual([wide.width, wide.height], [20, 8]);
    const tall = resizeShorterSide(flat(20, 30, 1), 7, 'bilinear');
    assert.deepEqual([tall.width, tall.height], [7, 10]); // int(7 * 30 / 20) = 10
  });
});
