import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataError } from '../errors.js';
import type { ImageU8 } from '../image.js';
import { Rng } from '../../tensor/random.js';
import { affine, rotationMatrix } from './affine.js';
import { adjustBrightness, posterize, solarize, solarizeAdd } from './pixel_ops.js';
import {
  type RandAugmentContext,
  type RandAugmentSpec,
  applyRandAugmentOp,
  parseRandAugment,
  randAugment,
} from './rand_augment.js';

/** 16x16 grey ramp holding every byte value once. */
const ramp: ImageU8 = {
  data: Uint8Array.from({ length: 256 }, (_, i) => i),
  width: 16,
  height: 16,
  channels: 1,
};
const ctx: RandAugmentContext = { interpolation: 'bicubic', fill: [73], translatePct: 0.45 };

describe('RandAugment config strings', () => {
  it("parses DeiT's rand-m9-mstd0.5-inc1", () => {
    const s = parseRandAugment('rand-m9-mstd0.5-inc1');
    assert.deepEqual(
      { ...s, ops: s.ops.length },
      { ops: 15, numOps: 2, magnitude: 9, magnitudeStd: 0.5, magnitudeMax: 10, prob: 0.5, weights: null },
    );
    assert.deepEqual(s.ops.slice(3, 7), [
      'Rotate',
      'PosterizeIncreasing',
      'SolarizeIncreasing',
      'SolarizeAdd',
    ]);
    assert.ok(!s.ops.includes('Posterize'));
  });

  it('parses n, mmax, p, uniform noise (mstd > 100) and weighted choice', () => {
    const s = parseRandAugment('rand-m7-n3-mstd101-mmax12-p0.8');
    assert.deepEqual(
      [s.magnitude, s.numOps, s.magnitudeStd, s.magnitudeMax, s.prob],
      [7, 3, Infinity, 12, 0.8],
    );
    assert.equal(s.ops[4], 'Posterize');
    assert.deepEqual(parseRandAugment('rand-inc0').ops, s.ops, 'inc0 keeps the plain ops');
    const w = parseRandAugment('rand-m9-w0');
    assert.ok(w.weights !== null);
    assert.ok(Math.abs(w.weights.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.ok(Math.abs(w.weights[w.ops.indexOf('Rotate')] - 0.3) < 1e-12);
    assert.equal(w.weights[w.ops.indexOf('Invert')], 0);
  });

  it('rejects malformed strings with a DataError', () => {
    for (const bad of ['auto-m9', 'rand-x9', 'rand-m', 'rand-w1', 'rand-mfoo']) {
      assert.throws(() => parseRandAugment(bad), DataError, bad);
    }
  });
});

describe('RandAugment ops', () => {
  const at = (op: Parameters<typeof applyRandAugmentOp>[1], level: number, seed = 0): ImageU8 =>
    applyRandAugmentOp(ramp, op, level, ctx, Rng.derive(seed));

  it("maps magnitude 9 to timm's arguments", () => {
    assert.deepEqual(at('Posterize', 9).data, posterize(ramp, 3).data); // int(0.9 * 4)
    assert.deepEqual(at('PosterizeIncreasing', 9).data, posterize(ramp, 1).data); // 4 - 3
    assert.deepEqual(at('Solarize', 9).data, solarize(ramp, 230).data); // int(0.9 * 256)
    assert.deepEqual(at('SolarizeIncreasing', 9).data, solarize(ramp, 26).data); // 256 - 230
    assert.deepEqual(at('SolarizeAdd', 9).data, solarizeAdd(ramp, 99).data); // int(0.9 * 110)
    assert.deepEqual(at('Brightness', 9).data, adjustBrightness(ramp, 1.72).data); // 0.9 * 1.8 + 0.1
    // Increasing enhance: 1 +- 0.81, the sign from the op's first draw (negated when > 0.5).
    for (let seed = 0; seed < 6; seed++) {
      const negate = Rng.derive(seed).uniform32() > 0.5;
      assert.deepEqual(
        at('BrightnessIncreasing', 9, seed).data,
        adjustBrightness(ramp, 1 + (negate ? -1 : 1) * 0.9 * 0.9).data,
      );
    }
    // Solarize at magnitude 10 leaves everything below 256 alone; posterize at 0 keeps 0 bits.
    assert.deepEqual(at('Solarize', 10).data, ramp.data);
    assert.ok(at('Posterize', 0).data.every((v) => v === 0));
  });

  it('maps geometric levels to +-30 degrees, +-0.3 shear and +-0.45 of the side', () => {
    for (let seed = 0; seed < 4; seed++) {
      const sign = Rng.derive(seed).uniform32() > 0.5 ? -1 : 1;
      const warp = (m: readonly [number, number, number, number, number, number]): Uint8Array =>
        affine(ramp, m, 'bicubic', [73]).data;
      assert.deepEqual(at('Rotate', 10, seed).data, warp(rotationMatrix(sign * 30, 16, 16)));
      assert.deepEqual(at('ShearX', 5, seed).data, warp([1, sign * 0.15, 0, 0, 1, 0]));
      assert.deepEqual(at('ShearY', 5, seed).data, warp([1, 0, 0, sign * 0.15, 1, 0]));
      assert.deepEqual(at('TranslateXRel', 10, seed).data, warp([1, 0, sign * 0.45 * 16, 0, 1, 0]));
      assert.deepEqual(at('TranslateYRel', 10, seed).data, warp([1, 0, 0, 0, 1, sign * 0.45 * 16]));
    }
    // Translating by 0.45 * 16 = 7.2 pixels uncovers 7 full columns, filled with the mean colour.
    const shifted = at('TranslateXRel', 10, 0);
    const sign = Rng.derive(0).uniform32() > 0.5 ? -1 : 1;
    const col = sign > 0 ? 15 : 0;
    for (let y = 0; y < 16; y++) assert.equal(shifted.data[y * 16 + col], 73);
  });

  it('adds clipped Gaussian noise to the magnitude of each op', () => {
    const spec: RandAugmentSpec = {
      ops: ['SolarizeAdd'],
      numOps: 1,
      magnitude: 9,
      magnitudeStd: 0.5,
      magnitudeMax: 10,
      prob: 1,
      weights: null,
    };
    for (let seed = 0; seed < 20; seed++) {
      const probe = Rng.derive(seed);
      probe.int(1); // the op choice
      const m = Math.max(0, Math.min(10, 9 + 0.5 * probe.normal32()));
      const expected = solarizeAdd(ramp, Math.min(128, Math.trunc((m / 10) * 110)));
      assert.deepEqual(randAugment(ramp, spec, ctx, Rng.derive(seed)).data, expected.data);
    }
  });

  it('applies each chosen op with probability p', () => {
    const never = parseRandAugment('rand-m9-n4-p0');
    assert.deepEqual(randAugment(ramp, never, ctx, Rng.derive(1)).data, ramp.data);
    const spec = parseRandAugment('rand-m9-n1-mstd0.5-inc1');
    const noise = Rng.derive(99);
    const rgb: ImageU8 = {
      data: Uint8Array.from({ length: 16 * 16 * 3 }, () => 20 + noise.int(200)),
      width: 16,
      height: 16,
      channels: 3,
    };
    const rgbCtx: RandAugmentContext = { ...ctx, fill: [124, 116, 104] };
    let changed = 0;
    for (let seed = 0; seed < 2000; seed++) {
      const out = randAugment(rgb, spec, rgbCtx, Rng.derive(seed));
      if (out.data.some((v, i) => v !== rgb.data[i])) changed++;
    }
    // Every op changes a noisy colour image at magnitude ~9, so about half the images change.
    assert.ok(Math.abs(changed / 2000 - 0.5) < 0.04, `changed ${changed / 2000}`);
    const a = randAugment(ramp, spec, ctx, Rng.derive(5));
    const b = randAugment(ramp, spec, ctx, Rng.derive(5));
    assert.deepEqual(a.data, b.data);
  });
});
