/** 3-Augment (DeiT III's --ThreeAugment, --src): PIL's Gaussian blur to the byte, the three choices, the reflect-padded crop. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type ImageU8, toGray } from '../image.js';
import { Rng } from '../../tensor/random.js';
import { gaussianBlur } from './blur.js';
import { compileTransform } from './pipeline.js';
import { solarize } from './pixel_ops.js';
import { simpleRandomCrop, threeAugment } from './three_augment.js';

const blurRef = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/data/pil_blur.json', import.meta.url), 'utf8'),
) as {
  cases: {
    src: string;
    radius: number;
    width: number;
    height: number;
    channels: 1 | 3;
    input: number[];
    data: number[];
  }[];
};

describe('3-Augment', () => {
  it("Gaussian blur equals Pillow's ImageFilter.GaussianBlur byte for byte (radii of 3-Augment)", () => {
    for (const c of blurRef.cases) {
      const img: ImageU8 = {
        data: Uint8Array.from(c.input),
        width: c.width,
        height: c.height,
        channels: c.channels,
      };
      assert.deepEqual([...gaussianBlur(img, c.radius).data], c.data, `${c.src} radius ${c.radius}`);
    }
  });

  it('each image gets grey scale, solarization or a blur, then colour jitter', () => {
    const img: ImageU8 = {
      data: Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) % 256),
      width: 5,
      height: 4,
      channels: 3,
    };
    const seen = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const out = threeAugment(img, 0, Rng.derive(seed));
      const grey = toGray(img).data;
      const isGrey = [...grey].every(
        (g, i) => out.data[3 * i] === g && out.data[3 * i + 1] === g && out.data[3 * i + 2] === g,
      );
      const isSolar = out.data.every((v, i) => v === solarize(img, 128).data[i]);
      seen.add(isGrey ? 'grey' : isSolar ? 'solarize' : 'blur');
    }
    assert.deepEqual([...seen].sort(), ['blur', 'grey', 'solarize']);
    const jittered = threeAugment(img, 0.4, Rng.derive(1));
    assert.notDeepEqual(jittered.data, threeAugment(img, 0, Rng.derive(1)).data);
  });

  it('the simple random crop reflects at the border (no edge repeat) after resizing the shorter side', () => {
    const img: ImageU8 = {
      data: Uint8Array.from({ length: 6 * 6 }, (_, i) => i),
      width: 6,
      height: 6,
      channels: 1,
    };
    // Over seeds the window reaches every offset; its top-left pixel at offset -4 reflects to row/col 4.
    let sawCorner = false;
    for (let seed = 0; seed < 200; seed++) {
      const out = simpleRandomCrop(img, 6, 4, 'bicubic', Rng.derive(seed));
      assert.equal(out.width, 6);
      if (out.data[0] === 4 * 6 + 4) sawCorner = true;
    }
    assert.ok(sawCorner);
    const pipeline = compileTransform({
      kind: 'train',
      size: 8,
      channels: 3,
      interpolation: 'bicubic',
      crop: { kind: 'simple-random-crop', padding: 4 },
      hflip: 0.5,
      augment: { kind: 'three-augment', colorJitter: 0.3 },
      normalize: { mean: [0.5], std: [0.5] },
      erasing: null,
    });
    const out = new Float32Array(pipeline.sampleLength);
    pipeline.apply(
      { data: new Uint8Array(10 * 12 * 3).fill(100), width: 12, height: 10, channels: 3 },
      Rng.derive(3),
      out,
      0,
    );
    assert.ok(out.every(Number.isFinite));
  });
});
