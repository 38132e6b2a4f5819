import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
  HOST_DTYPES,
  type HostTensor,
  bfloat16BitsToFloat,
  byteSwapInPlace,
  castTensor,
  emptyTensor,
  floatToBfloat16Bits,
  floatToHalfBits,
  fromFloat32,
  halfBitsToFloat,
  isHostTensor,
  numelOf,
  tensorBytes,
  tensorFromBytes,
  toFloat32,
} from './host_tensor.js';

/** Types a literal as a HostTensor (the dtype picks the member of the union). */
function tensor(t: HostTensor): HostTensor {
  return t;
}

const expected = JSON.parse(
  readFileSync(new URL('../../test/fixtures/io/expected.json', import.meta.url), 'utf8'),
) as {
  rounding: { f32: number[]; f16_bits: number[]; bf16_bits: number[] };
};

test('float16 decoding of known bit patterns', () => {
  assert.equal(halfBitsToFloat(0x3c00), 1);
  assert.equal(halfBitsToFloat(0xc000), -2);
  assert.equal(halfBitsToFloat(0x7bff), 65504);
  assert.equal(halfBitsToFloat(0x0001), 2 ** -24);
  assert.equal(halfBitsToFloat(0x0400), 2 ** -14);
  assert.ok(Object.is(halfBitsToFloat(0x8000), -0));
  assert.equal(halfBitsToFloat(0x7c00), Infinity);
  assert.equal(halfBitsToFloat(0xfc00), -Infinity);
  assert.ok(Number.isNaN(halfBitsToFloat(0x7e00)));
});

test('float16 encoding round-trips every non-NaN bit pattern', () => {
  for (let h = 0; h < 65536; h++) {
    const v = halfBitsToFloat(h);
    if (Number.isNaN(v)) assert.ok(Number.isNaN(halfBitsToFloat(floatToHalfBits(v))));
    else assert.equal(floatToHalfBits(v), h, `bits 0x${h.toString(16)}`);
  }
});

test('float32 -> float16 / bfloat16 rounding matches torch (ties, subnormals, overflow)', () => {
  const { f32, f16_bits, bf16_bits } = expected.rounding;
  assert.ok(f32.length > 80);
  f32.forEach((x, i) => {
    assert.equal(floatToHalfBits(x), f16_bits[i], `f16 of ${x}`);
    assert.equal(floatToBfloat16Bits(x), bf16_bits[i], `bf16 of ${x}`);
  });
});

test('bfloat16 decoding and NaN handling', () => {
  assert.equal(bfloat16BitsToFloat(0x3f80), 1);
  assert.equal(bfloat16BitsToFloat(0xc040), -3);
  assert.equal(bfloat16BitsToFloat(0x7f80), Infinity);
  assert.ok(Number.isNaN(bfloat16BitsToFloat(floatToBfloat16Bits(NaN))));
  assert.equal(floatToHalfBits(NaN) & 0x7c00, 0x7c00);
  assert.ok(Number.isNaN(halfBitsToFloat(floatToHalfBits(NaN))));
});

test('toFloat32 converts every dtype', () => {
  const half = tensor({ dtype: 'float16', shape: [3], data: Uint16Array.from([0x3c00, 0xc100, 0x0001]) });
  assert.deepEqual([...toFloat32(half)], [1, -2.5, 2 ** -24]);
  const bf = tensor({ dtype: 'bfloat16', shape: [2], data: Uint16Array.from([0x3f80, 0xc2c8]) });
  assert.deepEqual([...toFloat32(bf)], [1, -100]);
  const i64 = tensor({ dtype: 'int64', shape: [3], data: BigInt64Array.from([-3n, 2n ** 40n, 2n ** 62n]) });
  assert.deepEqual([...toFloat32(i64)], [-3, 2 ** 40, 2 ** 62]);
  const f64 = tensor({ dtype: 'float64', shape: [2], data: Float64Array.from([0.1, 1e300]) });
  assert.deepEqual([...toFloat32(f64)], [Math.fround(0.1), Infinity]);
  const b = tensor({ dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) });
  assert.deepEqual([...toFloat32(b)], [1, 0]);
  const i8 = tensor({ dtype: 'int8', shape: [2], data: Int8Array.from([-128, 127]) });
  assert.deepEqual([...toFloat32(i8)], [-128, 127]);
  const f32 = fromFloat32([2], Float32Array.from([1, 2]));
  assert.equal(toFloat32(f32), f32.data, 'float32 is returned without a copy');
});

test('castTensor follows torch .to(dtype) semantics', () => {
  const src = fromFloat32([5], Float32Array.from([1.7, -1.7, 0, 300.5, -0.4]));
  assert.deepEqual([...castTensor(src, 'int32').data], [1, -1, 0, 300, 0]);
  assert.deepEqual([...castTensor(src, 'uint8').data], [1, 255, 0, 44, 0]); // wraps like a C cast
  assert.deepEqual([...castTensor(src, 'bool').data], [1, 1, 0, 1, 1]);
  assert.deepEqual([...castTensor(src, 'int64').data], [1n, -1n, 0n, 300n, 0n]);
  const big = tensor({ dtype: 'int64', shape: [2], data: BigInt64Array.from([2n ** 60n + 1n, -5n]) });
  assert.deepEqual([...castTensor(big, 'int64').data], [2n ** 60n + 1n, -5n]);
  assert.deepEqual([...castTensor(big, 'float64').data], [2 ** 60, -5]);
  const half = castTensor(src, 'float16');
  assert.equal(half.dtype, 'float16');
  assert.deepEqual([...toFloat32(half)], [1.7001953125, -1.7001953125, 0, 300.5, -0.39990234375]);
  const back = castTensor(castTensor(src, 'bfloat16'), 'float32');
  assert.deepEqual([...back.data], [1.703125, -1.703125, 0, 300, -0.400390625]);
  assert.notEqual(castTensor(src, 'float32').data, src.data, 'a same-dtype cast copies');
});

test('numelOf, emptyTensor and fromFloat32 validate shapes', () => {
  assert.equal(numelOf([]), 1);
  assert.equal(numelOf([2, 0, 3]), 0);
  assert.equal(numelOf([2, 3, 4]), 24);
  assert.throws(() => numelOf([-1]), RangeError);
  assert.throws(() => numelOf([1.5]), RangeError);
  assert.throws(() => numelOf([2 ** 30, 2 ** 30]), RangeError);
  assert.throws(() => fromFloat32([2, 2], new Float32Array(3)), RangeError);
  for (const dtype of HOST_DTYPES) {
    const t = emptyTensor(dtype, [2, 3]);
    assert.equal(t.data.length, 6);
    assert.ok(isHostTensor(t));
  }
  assert.equal(emptyTensor('int64', [2]).data.constructor, BigInt64Array);
  assert.ok(!isHostTensor({ dtype: 'complex64', shape: [], data: new Float32Array(2) }));
  assert.ok(!isHostTensor(new Map()));
});

test('tensorFromBytes copies little-endian bytes; byteSwapInPlace reverses elements', () => {
  const bytes = Uint8Array.from([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
  const t = tensorFromBytes('float32', [2], bytes);
  assert.deepEqual([...t.data], [1, -2]);
  bytes[3] = 0;
  assert.equal(t.data[0], 1, 'the tensor owns a copy');
  assert.throws(() => tensorFromBytes('float32', [3], bytes), RangeError);
  const swapped = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  byteSwapInPlace(swapped, 4);
  assert.deepEqual([...swapped], [4, 3, 2, 1, 8, 7, 6, 5]);
  assert.deepEqual([...tensorBytes(t)], [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
});
