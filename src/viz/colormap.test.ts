import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  INVALID_RGB,
  LUT_SIZE,
  colorOf,
  colormapLut,
  defaultRange,
  diverging,
  finiteRange,
  lutIndex,
  resolveRange,
  viridis,
  type RGB,
} from './colormap.js';

function hex(s: string): RGB {
  const n = parseInt(s.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

// matplotlib's viridis sampled at 11 evenly spaced points (the widely published hex list).
const VIRIDIS_11 = [
  '#440154',
  '#482475',
  '#414487',
  '#355f8d',
  '#2a788e',
  '#21918c',
  '#22a884',
  '#44bf70',
  '#7ad151',
  '#bddf26',
  '#fde725',
];

test('viridis follows the reference samples within 8/255 per channel', () => {
  VIRIDIS_11.forEach((h, i) => {
    const want = hex(h);
    const got = viridis(i / 10);
    for (let c = 0; c < 3; c++) {
      assert.ok(Math.abs(got[c] - want[c]) <= 8, `t=${i / 10} channel ${c}: got ${got} want ${want}`);
    }
  });
});

test('viridis is perceptually ordered: luminance increases monotonically', () => {
  let prev = -1;
  for (let k = 0; k < LUT_SIZE; k++) {
    const [r, g, b] = viridis(k / (LUT_SIZE - 1));
    const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    assert.ok(y >= prev - 0.5, `luminance dropped at ${k}`);
    prev = y;
  }
});

test('viridis clamps out-of-range t and marks non-finite values', () => {
  assert.deepEqual(viridis(-3), viridis(0));
  assert.deepEqual(viridis(7), viridis(1));
  assert.deepEqual(viridis(NaN), INVALID_RGB);
});

test('diverging map is blue below, near-white at, and red above the centre', () => {
  const [r0, , b0] = diverging(0);
  assert.ok(b0 > r0 + 40, 'low end is blue');
  const [r1, , b1] = diverging(1);
  assert.ok(r1 > b1 + 40, 'high end is red');
  const mid = diverging(0.5);
  assert.ok(
    mid.every((c) => c >= 240),
    `centre is near white: ${mid}`,
  );
  // Symmetric lightness: equal distance from the centre gives similar brightness on both sides.
  for (const d of [0.1, 0.25, 0.4]) {
    const lo = diverging(0.5 - d);
    const hi = diverging(0.5 + d);
    const y = (c: RGB): number => 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    assert.ok(Math.abs(y(lo) - y(hi)) < 40, `lightness asymmetric at ${d}`);
  }
  assert.deepEqual(diverging(Infinity), INVALID_RGB);
});

test('LUT entries equal the map at k/255 and are cached', () => {
  const lut = colormapLut({ kind: 'viridis' });
  assert.equal(lut.length, LUT_SIZE * 3);
  assert.deepEqual([lut[3 * 100], lut[3 * 100 + 1], lut[3 * 100 + 2]], [...viridis(100 / 255)]);
  assert.equal(colormapLut({ kind: 'viridis' }), lut);
  const dl = colormapLut({ kind: 'diverging' });
  assert.deepEqual([dl[0], dl[1], dl[2]], [...diverging(0)]);
});

test('lutIndex maps the range ends, clamps, and handles degenerate ranges', () => {
  assert.equal(lutIndex(0, 0, 1), 0);
  assert.equal(lutIndex(1, 0, 1), 255);
  assert.equal(lutIndex(0.5, 0, 1), 128);
  assert.equal(lutIndex(-5, 0, 1), 0);
  assert.equal(lutIndex(5, 0, 1), 255);
  assert.equal(lutIndex(3, 3, 3), 128);
  assert.equal(lutIndex(NaN, 0, 1), -1);
  assert.deepEqual(colorOf(NaN, 0, 1, { kind: 'viridis' }), INVALID_RGB);
  assert.deepEqual(colorOf(1, 0, 1, { kind: 'viridis' }), viridis(1));
});

test('ranges: finite min/max, symmetric diverging, explicit overrides', () => {
  assert.deepEqual(finiteRange([3, NaN, -2, Infinity, 5, -Infinity]), [-2, 5]);
  assert.deepEqual(finiteRange([NaN]), [0, 0]);
  assert.deepEqual(defaultRange([0.2, 0.9], { kind: 'viridis' }), [0.2, 0.9]);
  assert.deepEqual(defaultRange([-0.5, 2], { kind: 'diverging' }), [-2, 2]);
  assert.deepEqual(defaultRange(new Float32Array(4), { kind: 'diverging' }), [-1, 1]);
  assert.deepEqual(resolveRange([0.2, 0.9], { kind: 'viridis' }, -1), [-1, 0.9]);
  assert.deepEqual(resolveRange([0.2, 0.9], { kind: 'viridis' }, -1, 1), [-1, 1]);
});
