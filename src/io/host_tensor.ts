/**
 * Plain CPU tensors as the checkpoint readers and writers exchange them: a dtype, a shape and a dense,
 * C-ordered (row-major, contiguous) typed array. No strides and no offsets: readers materialize views.
 *
 * float16 and bfloat16 have no JS typed array, so their elements are kept as raw 16-bit patterns in a
 * Uint16Array; `toFloat32` decodes them. bool is one byte per element, 0 or 1, as in PyTorch and numpy.
 */

export type HostDType =
  'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** The typed array that holds the elements of each dtype. */
export interface DTypeArrayMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

interface TensorOfDType<D extends HostDType> {
  dtype: D;
  /** Dimensions, outermost first; `[]` for a scalar. */
  shape: number[];
  /** The elements in C order; `data.length` is the product of `shape`. */
  data: DTypeArrayMap[D];
}

/**
 * A tensor of the dtype(s) D. Distributes over a union, so `HostTensorOf<'float16' | 'bfloat16'>` is
 * a union of two tensor types, each with its matching `data`.
 */
export type HostTensorOf<D extends HostDType> = D extends HostDType ? TensorOfDType<D> : never;

/** A tensor of any dtype: a union discriminated by `dtype`, so narrowing on it types `data`. */
export type HostTensor = HostTensorOf<HostDType>;

/** Parameter and buffer names to tensors, in the order the checkpoint lists them. */
export type StateDict = Map<string, HostTensor>;

export const HOST_DTYPES: readonly HostDType[] = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
];

/** Bytes per element. */
export const DTYPE_SIZE: Readonly<Record<HostDType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

const ARRAY_CTORS: { [D in HostDType]: new (length: number) => DTypeArrayMap[D] } = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/**
 * The files these modules read and write are little-endian and typed arrays use the host's byte order,
 * so the byte-level code assumes a little-endian host (every platform Node supports in practice).
 */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function isHostDType(s: unknown): s is HostDType {
  return typeof s === 'string' && (HOST_DTYPES as readonly string[]).includes(s);
}

/**
 * Whether a value is a HostTensor: an object with a known dtype, a shape array and a typed array (a
 * class instance with these fields counts too). The pickle value classes have none of these fields.
 */
export function isHostTensor(v: unknown): v is HostTensor {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as { dtype?: unknown; shape?: unknown; data?: unknown };
  return isHostDType(t.dtype) && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

/**
 * Number of elements of a shape. Throws a RangeError for a dimension that is not a non-negative safe
 * integer or a product beyond 2^53; the file readers turn that into a CheckpointError.
 */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`invalid dimension ${d} in shape [${shape}]`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new RangeError(`shape [${shape}] has too many elements`);
  return n;
}

/** A zero-filled tensor. */
export function emptyTensor<D extends HostDType>(dtype: D, shape: readonly number[]): HostTensorOf<D> {
  const data = new ARRAY_CTORS[dtype](numelOf(shape));
  // TS cannot correlate the mapped constructor table with the generic D; the table guarantees it.
  return { dtype, shape: [...shape], data } as HostTensorOf<D>;
}

/** The bytes of a tensor's elements (a view, not a copy). */
export function tensorBytes(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/**
 * A tensor whose elements are `bytes` themselves (no copy): its data is a view of the same memory.
 * `bytes` must hold exactly numel elements and start at a multiple of the element size.
 */
export function tensorOverBytes<D extends HostDType>(
  dtype: D,
  shape: readonly number[],
  bytes: Uint8Array,
): HostTensorOf<D> {
  const size = DTYPE_SIZE[dtype];
  const numel = numelOf(shape);
  if (bytes.byteLength !== numel * size || bytes.byteOffset % size !== 0) {
    throw new RangeError(
      `${bytes.byteLength} bytes at offset ${bytes.byteOffset} given for ${numel} ${dtype}s`,
    );
  }
  const Ctor = ARRAY_CTORS[dtype] as unknown as new (
    buffer: ArrayBufferLike,
    byteOffset: number,
    length: number,
  ) => DTypeArrayMap[D];
  return {
    dtype,
    shape: [...shape],
    data: new Ctor(bytes.buffer, bytes.byteOffset, numel),
  } as HostTensorOf<D>;
}

/** A tensor whose elements are a copy of little-endian `bytes` (which must hold exactly numel elements). */
export function tensorFromBytes<D extends HostDType>(
  dtype: D,
  shape: readonly number[],
  bytes: Uint8Array,
): HostTensorOf<D> {
  const t = emptyTensor(dtype, shape);
  const out = tensorBytes(t as HostTensor);
  if (bytes.byteLength !== out.byteLength) {
    throw new RangeError(
      `${bytes.byteLength} bytes given for ${out.byteLength / DTYPE_SIZE[dtype]} ${dtype}s`,
    );
  }
  out.set(bytes);
  return t;
}

/** A float32 tensor over `data` (taken over, not copied). */
export function fromFloat32(shape: readonly number[], data: Float32Array): HostTensorOf<'float32'> {
  const n = numelOf(shape);
  if (data.length !== n) throw new RangeError(`shape [${shape}] needs ${n} elements, got ${data.length}`);
  return { dtype: 'float32', shape: [...shape], data };
}

/**
 * The elements as float32, converting from any dtype (float16/bfloat16 decoded, integers rounded to the
 * nearest float32, bool as 0/1). For a float32 tensor this returns `t.data` itself, not a copy.
 */
export function toFloat32(t: HostTensor): Float32Array {
  switch (t.dtype) {
    case 'float32':
      return t.data;
    case 'float16': {
      const table = halfTable();
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < out.length; i++) out[i] = table[t.data[i]];
      return out;
    }
    case 'bfloat16': {
      // bfloat16 is the upper half of a float32: shifting the bits back is exact.
      const out = new Float32Array(t.data.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = t.data[i] << 16;
      return out;
    }
    case 'int64': {
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
      return out;
    }
    default:
      // float64, int32, int16, int8, uint8, bool: Float32Array.from rounds each number to float32.
      return Float32Array.from(t.data);
  }
}

/**
 * The tensor converted to another dtype, with PyTorch's `.to(dtype)` semantics for finite values: floats
 * to integers truncate toward zero (and wrap like a C cast), anything to bool is `x != 0`, floats to
 * float16/bfloat16 round to nearest even. NaN and infinities cast to an integer dtype give 0 (PyTorch's
 * result there is unspecified). Always returns a new tensor.
 */
export function castTensor<D extends HostDType>(t: HostTensor, dtype: D): HostTensorOf<D> {
  const out = emptyTensor(dtype, t.shape) as HostTensor;
  const n = t.data.length;
  if (out.dtype === t.dtype) {
    tensorBytes(out).set(tensorBytes(t));
    return out as HostTensorOf<D>;
  }
  if (out.dtype === 'int64') {
    for (let i = 0; i < n; i++) out.data[i] = BigInt.asIntN(64, elementAsBigInt(t, i));
    return out as HostTensorOf<D>;
  }
  // Every other target is written from a JS number; int64 sources are converted exactly when they fit.
  const values: ArrayLike<number> =
    t.dtype === 'float16' || t.dtype === 'bfloat16'
      ? toFloat32(t)
      : t.dtype === 'int64'
        ? Array.from(t.data, (v) => Number(v))
        : t.data;
  switch (out.dtype) {
    case 'float32':
    case 'float64':
      for (let i = 0; i < n; i++) out.data[i] = values[i];
      break;
    case 'float16':
      for (let i = 0; i < n; i++) out.data[i] = floatToHalfBits(values[i]);
      break;
    case 'bfloat16':
      for (let i = 0; i < n; i++) out.data[i] = floatToBfloat16Bits(values[i]);
      break;
    case 'bool':
      for (let i = 0; i < n; i++) out.data[i] = values[i] !== 0 ? 1 : 0;
      break;
    default:
      // Integer targets: typed-array assignment wraps modulo 2^bits after truncation, like a C cast.
      for (let i = 0; i < n; i++) {
        const v = values[i];
        out.data[i] = Number.isFinite(v) ? Math.trunc(v) : 0;
      }
  }
  return out as HostTensorOf<D>;
}

function elementAsBigInt(t: HostTensor, i: number): bigint {
  if (t.dtype === 'int64') return t.data[i];
  const v =
    t.dtype === 'float16'
      ? halfBitsToFloat(t.data[i])
      : t.dtype === 'bfloat16'
        ? bfloat16BitsToFloat(t.data[i])
        : t.data[i];
  return Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
}

// ---------------------------------------------------------------------------------------------------
// 16-bit floats

let HALF_TABLE: Float32Array | undefined;

/** All 65536 float16 values, decoded once on first use (256 KiB) so bulk conversion is a lookup. */
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfBitsToFloat(h);
  }
  return HALF_TABLE;
}

/** Decodes IEEE binary16 bits (exact: every float16 is a float32). */
export function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero or subnormal
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);

/** Encodes a number as IEEE binary16 bits: first rounded to float32, then to nearest even. */
export function floatToHalfBits(x: number): number {
  F32[0] = x;
  const bits = F32_BITS[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // infinity, or a quiet NaN
  const halfExp = exp - 112; // rebias 127 -> 15
  if (halfExp >= 31) return sign | 0x7c00; // overflow to infinity
  if (halfExp <= 0) {
    // float16 subnormal (or zero): the value is m * 2^(exp-150) and the float16 unit is 2^-24.
    const shift = 126 - exp;
    if (shift > 24) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    let q = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && q & 1)) q++;
    return sign | q; // q may reach 0x400, the smallest normal, which is the right encoding
  }
  let h = (halfExp << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, up to infinity (0x7c00): exactly round-to-nearest.
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** Decodes bfloat16 bits (exact). */
export function bfloat16BitsToFloat(b: number): number {
  F32_BITS[0] = (b & 0xffff) << 16;
  return F32[0];
}

/** Encodes a number as bfloat16 bits: rounded to float32, then to nearest even (NaN stays NaN). */
export function floatToBfloat16Bits(x: number): number {
  F32[0] = x;
  const bits = F32_BITS[0];
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return ((bits >>> 16) & 0x8000) | 0x7fc0;
  // Adding 0x7fff plus the lowest kept bit rounds to nearest even; no overflow past 2^32 for non-NaN.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Reverses the byte order of each `itemSize`-byte element, in place (for big-endian files). */
export function byteSwapInPlace(bytes: Uint8Array, itemSize: number): void {
  if (itemSize === 1) return;
  for (let i = 0; i + itemSize <= bytes.length; i += itemSize) {
    for (let a = i, b = i + itemSize - 1; a < b; a++, b--) {
      const tmp = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = tmp;
    }
  }
}
