/**
 * bfloat16: the upper 16 bits of an IEEE float32 (same exponent range, 8 significant bits). Rounding
 * from float32 is to nearest, ties to even, and NaN stays a (quiet) NaN: the conversion oneDNN and the
 * AVX512_BF16 instructions perform, so both backends round identically.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bfloat16 bit pattern nearest to x (ties to even). */
export function toBf16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x0040) & 0xffff; // NaN: keep it quiet
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The float value of a bfloat16 bit pattern (exact). */
export function fromBf16Bits(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

/** x rounded to the nearest bfloat16, as a number. */
export function roundToBf16(x: number): number {
  return fromBf16Bits(toBf16Bits(x));
}

/** dst[i] = bf16(src[i]) for every element. */
export function float32ToBf16(src: Float32Array, dst: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const u = bits[i];
    dst[i] = (u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 0x0040 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
}

/** dst[i] = float(src[i]) for every element (exact). */
export function bf16ToFloat32(src: Uint16Array, dst: Float32Array): void {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
}
