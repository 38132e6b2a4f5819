import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataError } from './errors.js';
import { DEIT_MIXUP, type MixupConfig, applyMix, mixTargets, sampleMix, validateMixup } from './mixup.js';
import { Rng } from '../tensor/random.js';

describe('mixup / cutmix', () => {
  it("builds timm's smoothed, mixed targets (rows sum to 1)", () => {
    const labels = Int32Array.of(0, 2, 1, 2);
    const lam = 0.7;
    const t = mixTargets(labels, 3, lam, 0.1);
    const off = 0.1 / 3;
    const on = 1 - 0.1 + off;
    const onehot = (y: number): number[] => [0, 1, 2].map((k) => (k === y ? on : off));
    for (let i = 0; i < 4; i++) {
      const row = [...t.subarray(i * 3, i * 3 + 3)];
      const a = onehot(labels[i]);
      const b = onehot(labels[3 - i]);
      const expected = a.map((v, k) => lam * v + (1 - lam) * b[k]);
      row.forEach((v, k) => assert.ok(Math.abs(v - expected[k]) < 1e-6, `row ${i}: ${row} vs ${expected}`));
      assert.ok(Math.abs(row.reduce((x, y) => x + y, 0) - 1) < 1e-6);
    }
    // lam = 1 and no smoothing: plain one-hot.
    assert.deepEqual([...mixTargets(Int32Array.of(1, 0), 2, 1, 0)], [0, 1, 1, 0]);
  });

  it('mixup blends sample i with sample size-1-i; an odd middle stays', () => {
    const img = Float32Array.of(1, 2, 10, 20, 100, 200); // 3 samples of 2 values
    applyMix(img, 3, 1, 1, 2, { kind: 'mixup', lam: 0.25 });
    assert.deepEqual(
      [...img],
      [0.25 * 1 + 0.75 * 100, 0.25 * 2 + 0.75 * 200, 10, 20, 0.25 * 100 + 0.75 * 1, 0.25 * 200 + 0.75 * 2],
    );
  });

  it('cutmix swaps the box between mirrored samples', () => {
    const H = 3;
    const W = 4;
    const img = new Float32Array(2 * 2 * H * W);
    img.fill(1, 0, 2 * H * W);
    img.fill(2, 2 * H * W);
    applyMix(img, 2, 2, H, W, { kind: 'cutmix', lam: 0.5, box: { y0: 1, y1: 3, x0: 0, x1: 3 } });
    for (let s = 0; s < 2; s++) {
      for (let c = 0; c < 2; c++) {
        for (let y = 0; y < H; y++) {
          for (let x = 0; x < W; x++) {
            const inBox = y >= 1 && y < 3 && x < 3;
            const own = s === 0 ? 1 : 2;
            assert.equal(img[((s * 2 + c) * H + y) * W + x], inBox ? 3 - own : own);
          }
        }
      }
    }
  });

  it('samples like timm: switch probability, Beta lam, corrected cutmix lam', () => {
    let cut = 0;
    let mix = 0;
    let lamSum = 0;
    for (let seed = 0; seed < 4000; seed++) {
      const m = sampleMix(DEIT_MIXUP, 16, 16, Rng.derive(seed));
      switch (m.kind) {
        case 'cutmix': {
          cut++;
          const { y0, y1, x0, x1 } = m.box;
          assert.ok(y0 >= 0 && y1 <= 16 && x0 >= 0 && x1 <= 16 && y0 <= y1 && x0 <= x1);
          assert.ok(Math.abs(m.lam - (1 - ((y1 - y0) * (x1 - x0)) / 256)) < 1e-12, 'lam = 1 - box area');
          break;
        }
        case 'mixup':
          mix++;
          lamSum += m.lam;
          assert.ok(m.lam > 0 && m.lam < 1);
          break;
        case 'none':
          break;
      }
    }
    assert.ok(Math.abs(cut / 4000 - 0.5) < 0.03, `cutmix share ${cut / 4000}`);
    assert.ok(Math.abs(lamSum / mix - 0.5) < 0.02, 'Beta(0.8, 0.8) has mean 1/2');
    const off: MixupConfig = { ...DEIT_MIXUP, prob: 0 };
    assert.equal(sampleMix(off, 16, 16, Rng.derive(1)).kind, 'none');
    const cutOnly: MixupConfig = { ...DEIT_MIXUP, mixupAlpha: 0 };
    for (let seed = 0; seed < 50; seed++)
      assert.notEqual(sampleMix(cutOnly, 8, 8, Rng.derive(seed)).kind, 'mixup');
    const minmax: MixupConfig = { ...DEIT_MIXUP, mixupAlpha: 0, cutmixMinMax: [0.25, 0.5] };
    for (let seed = 0; seed < 50; seed++) {
      const m = sampleMix(minmax, 16, 16, Rng.derive(seed));
      assert.equal(m.kind, 'cutmix');
      if (m.kind === 'cutmix') {
        assert.ok(m.box.y1 - m.box.y0 >= 4 && m.box.y1 - m.box.y0 < 8);
        assert.ok(m.box.x1 - m.box.x0 >= 4 && m.box.x1 - m.box.x0 < 8);
      }
    }
  });

  it('validates its config', () => {
    assert.throws(() => validateMixup({ ...DEIT_MIXUP, mixupAlpha: 0, cutmixAlpha: 0 }), DataError);
    assert.throws(() => validateMixup({ ...DEIT_MIXUP, switchProb: 2 }), /mixup\.switchProb/);
    assert.throws(() => validateMixup({ ...DEIT_MIXUP, cutmixMinMax: [0.5, 0.2] }), /mixup\.cutmixMinMax/);
    validateMixup(DEIT_MIXUP);
  });
});
