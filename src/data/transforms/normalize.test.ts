import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageU8 } from '../image.js';
import { normalizationTables, toTensorInto } from './normalize.js';

describe('ToTensor + Normalize', () => {
  it('writes (v / 255 - mean) / std per channel in CHW order at the offset', () => {
    const img: ImageU8 = { data: Uint8Array.of(0, 255, 51, 102, 153, 204), width: 2, height: 1, channels: 3 };
    const out = new Float32Array(8).fill(-9);
    toTensorInto(img, normalizationTables({ mean: [0.5, 0.2, 0], std: [0.5, 0.1, 2] }, 3), out, 2);
    const expected = [
      -9,
      -9,
      (0 - 0.5) / 0.5,
      (102 / 255 - 0.5) / 0.5,
      (1 - 0.2) / 0.1,
      (153 / 255 - 0.2) / 0.1,
      0.1,
      0.4,
    ];
    assert.deepEqual([...out], expected.map(Math.fround));
  });

  it('repeats a grey image (and a 1-entry mean/std) over three channels', () => {
    const img: ImageU8 = { data: Uint8Array.of(0, 255), width: 2, height: 1, channels: 1 };
    const out = new Float32Array(6);
    toTensorInto(img, normalizationTables({ mean: [0.286], std: [0.353] }, 3), out, 0);
    const lo = Math.fround(-0.286 / 0.353);
    const hi = Math.fround((1 - 0.286) / 0.353);
    assert.deepEqual([...out], [lo, hi, lo, hi, lo, hi]);
  });

  it('rejects mismatched channel counts', () => {
    assert.throws(() => normalizationTables({ mean: [0.1, 0.2], std: [1, 1] }, 3), RangeError);
    const rgb: ImageU8 = { data: new Uint8Array(3), width: 1, height: 1, channels: 3 };
    assert.throws(
      () => toTensorInto(rgb, normalizationTables({ mean: [0], std: [1] }, 1), new Float32Array(1), 0),
      RangeError,
    );
  });
});
