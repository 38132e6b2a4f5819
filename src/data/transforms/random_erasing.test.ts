import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../tensor/random.js';
import { type RandomErasingConfig, TIMM_RANDOM_ERASING, randomErase } from './random_erasing.js';

const C = 3;
const H = 20;
const W = 30;
const always: RandomErasingConfig = { ...TIMM_RANDOM_ERASING, prob: 1 };

/** The bounding box of the changed values of channel c, and how many changed. */
function changed(t: Float32Array, c: number): { y0: number; y1: number; x0: number; x1: number; n: number } {
  let [y0, y1, x0, x1, n] = [H, -1, W, -1, 0];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (t[(c * H + y) * W + x] !== 7) {
        n++;
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
      }
    }
  }
  return { y0, y1, x0, x1, n };
}

describe('RandomErasing', () => {
  it('fills one rectangle, the same in every channel, with area 2%..33% and aspect 0.3..3.3', () => {
    let values = 0;
    let sum = 0;
    let sumSq = 0;
    for (let seed = 0; seed < 300; seed++) {
      const t = new Float32Array(C * H * W).fill(7);
      randomErase(t, 0, C, H, W, always, Rng.derive(seed));
      const boxes = [0, 1, 2].map((c) => changed(t, c));
      const b = boxes[0];
      assert.ok(b.n > 0, 'prob 1 always erases (a fitting box exists for this size)');
      const h = b.y1 - b.y0 + 1;
      const w = b.x1 - b.x0 + 1;
      assert.equal(b.n, h * w, 'a full rectangle');
      for (const o of boxes) assert.deepEqual([o.y0, o.y1, o.x0, o.x1], [b.y0, b.y1, b.x0, b.x1]);
      const area = (h * w) / (H * W);
      assert.ok(area > 0.015 && area < 0.36, `area ${area}`);
      assert.ok(h / w > 0.25 && h / w < 4, `aspect ${h / w}`);
      for (let c = 0; c < C; c++) {
        for (let y = b.y0; y <= b.y1; y++) {
          for (let x = b.x0; x <= b.x1; x++) {
            const v = t[(c * H + y) * W + x];
            values++;
            sum += v;
            sumSq += v * v;
          }
        }
      }
    }
    const mean = sum / values;
    const std = Math.sqrt(sumSq / values - mean * mean);
    assert.ok(Math.abs(mean) < 0.02 && Math.abs(std - 1) < 0.02, `pixel mode draws N(0, 1): ${mean}, ${std}`);
  });

  it('erases with probability prob, only inside its sample, and supports const/rand modes', () => {
    let erased = 0;
    for (let seed = 0; seed < 4000; seed++) {
      const t = new Float32Array(C * H * W).fill(7);
      randomErase(t, 0, C, H, W, TIMM_RANDOM_ERASING, Rng.derive(seed));
      if (changed(t, 0).n > 0) erased++;
    }
    assert.ok(Math.abs(erased / 4000 - 0.25) < 0.025, `rate ${erased / 4000}`);

    const two = new Float32Array(2 * C * H * W).fill(7);
    randomErase(two, C * H * W, C, H, W, { ...always, mode: 'const' }, Rng.derive(1));
    assert.ok(
      two.subarray(0, C * H * W).every((v) => v === 7),
      'the neighbouring sample is untouched',
    );
    const second = two.subarray(C * H * W);
    assert.ok(second.some((v) => v === 0) && second.every((v) => v === 0 || v === 7));

    const r = new Float32Array(C * H * W).fill(7);
    randomErase(r, 0, C, H, W, { ...always, mode: 'rand' }, Rng.derive(2));
    for (let c = 0; c < C; c++) {
      const vals = new Set([...r.subarray(c * H * W, (c + 1) * H * W)].filter((v) => v !== 7));
      assert.equal(vals.size, 1, 'rand mode: one value per channel');
    }
  });
});
