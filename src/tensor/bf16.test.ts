/** bfloat16 conversions: round to nearest even, exact widening, NaN and infinities, bulk = scalar. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bf16ToFloat32, float32ToBf16, fromBf16Bits, roundToBf16, toBf16Bits } from './bf16.js';

it('rounds to the nearest bfloat16, ties to even', () => {
  // bfloat16 has 8 significant bits: the spacing just above 1 is 2^-7 = 0.0078125.
  assert.equal(toBf16Bits(1), 0x3f80);
  assert.equal(roundToBf16(1 + 2 ** -9), 1); // below half a step: down
  assert.equal(roundToBf16(1 + 3 * 2 ** -9), 1 + 2 ** -7); // above half a step: up
  assert.equal(roundToBf16(1 + 2 ** -8), 1); // a tie: to the even neighbour (1)
  assert.equal(roundToBf16(1 + 3 * 2 ** -8), 1 + 2 * 2 ** -7); // a tie: to the even neighbour (1 + 2^-6)
  assert.equal(roundToBf16(-1 - 2 ** -8), -1);
  assert.equal(roundToBf16(0.1), 0.10009765625);
  assert.equal(toBf16Bits(-0), 0x8000);
});

it('keeps infinities, overflows to infinity, keeps NaN a NaN and subnormals', () => {
  assert.equal(roundToBf16(Infinity), Infinity);
  assert.equal(roundToBf16(-Infinity), -Infinity);
  assert.equal(roundToBf16(3.4028234663852886e38), Infinity); // float32 max rounds up past bf16 max
  assert.ok(Number.isNaN(roundToBf16(NaN)));
  assert.equal(toBf16Bits(NaN) & 0x7fc0, 0x7fc0, 'a quiet NaN');
  assert.equal(roundToBf16(2 ** -130), 2 ** -130); // a float32 subnormal that bfloat16 holds exactly
});

it('widens exactly, and the array conversions agree with the scalar ones', () => {
  for (let bits = 0; bits < 0x10000; bits += 7) {
    const v = fromBf16Bits(bits);
    if (!Number.isNaN(v)) assert.equal(toBf16Bits(v), bits, `bits ${bits.toString(16)}`);
  }
  const x = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
  x[0] = NaN;
  const h = new Uint16Array(x.length);
  float32ToBf16(x, h);
  const back = new Float32Array(x.length);
  bf16ToFloat32(h, back);
  for (let i = 0; i < x.length; i++) {
    assert.equal(h[i], toBf16Bits(x[i]));
    assert.ok(Object.is(back[i], Math.fround(fromBf16Bits(h[i]))));
  }
});
