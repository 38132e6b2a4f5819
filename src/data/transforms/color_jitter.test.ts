import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageU8 } from '../image.js';
import { Rng } from '../../tensor/random.js';
import { colorJitter } from './color_jitter.js';
import { adjustBrightness } from './pixel_ops.js';

const rgb: ImageU8 = {
  data: Uint8Array.from({ length: 48 }, (_, i) => (i * 37) % 256),
  width: 4,
  height: 4,
  channels: 3,
};

describe('ColorJitter', () => {
  it('draws the brightness factor from [1 - s, 1 + s] after the order permutation', () => {
    for (let seed = 0; seed < 10; seed++) {
      const probe = Rng.derive(seed);
      probe.shuffle(Int32Array.of(0, 1, 2));
      const f = probe.range(0.6, 1.4);
      const out = colorJitter(rgb, { brightness: 0.4, contrast: 0, saturation: 0 }, Rng.derive(seed));
      assert.deepEqual(out.data, adjustBrightness(rgb, f).data);
    }
  });

  it('is the identity at strength 0 and leaves grey images unsaturated', () => {
    assert.deepEqual(
      colorJitter(rgb, { brightness: 0, contrast: 0, saturation: 0 }, Rng.derive(1)).data,
      rgb.data,
    );
    const grey: ImageU8 = { data: Uint8Array.of(10, 200, 30, 90), width: 2, height: 2, channels: 1 };
    assert.deepEqual(
      colorJitter(grey, { brightness: 0, contrast: 0, saturation: 0.9 }, Rng.derive(2)).data,
      grey.data,
    );
  });
});
