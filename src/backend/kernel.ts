/**
 * The vocabulary of kernel declarations (see `kernels.ts`).
 *
 * A kernel is declared once, as a record of typed fields: buffers with the element types they accept,
 * sizes, numbers, flags, named choices, integer lists and strided matrix views. From that one record
 * come
 *   - the argument type every backend implements (`Args`: plain typed arrays and numbers),
 *   - the argument type callers use (`CallArgs`: buffers may be tensors, fields with defaults optional),
 *   - the checks that run in TypeScript before any backend sees a call (`resolveArgs`): element types,
 *     disposed tensors, integer sizes, buffer extents, each error naming the kernel and the argument.
 * The native addon reads the same fields by name (native/src/common.h `Fields`).
 */
import { Tensor } from '../tensor/tensor.js';

/** Element types of kernel buffers: float32, int32 and bfloat16 (stored as its upper 16 bits). */
export type BufferDType = 'f32' | 'i32' | 'bf16';
interface ArrayByDType {
  f32: Float32Array;
  i32: Int32Array;
  bf16: Uint16Array;
}
export type ArrayOf<D extends BufferDType> = ArrayByDType[D];
export type AnyArray = ArrayOf<BufferDType>;

/** The tensor dtype that holds each buffer type. */
const TENSOR_DTYPE: Record<BufferDType, string> = { f32: 'float32', i32: 'int32', bf16: 'bfloat16' };

export function dtypeOfArray(a: unknown): BufferDType | null {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Uint16Array) return 'bf16';
  return null;
}

/**
 * A matrix operand in its logical orientation inside a 2-level batch: element (b0, b1, r, c) is at
 * `data[offset + b0*strides[0] + b1*strides[1] + r*strides[2] + c*strides[3]]`. Transposing is swapping
 * the last two strides; a view into a packed tensor (the q, k or v part of qkv) is an offset.
 */
export interface MatrixView<A = Float32Array> {
  readonly data: A;
  readonly offset: number;
  readonly strides: readonly [number, number, number, number];
}

// ---- field specs -----------------------------------------------------------------------------------

export interface BufferSpec<D extends BufferDType = BufferDType, O extends boolean = boolean> {
  readonly kind: 'buffer';
  readonly dtypes: readonly D[];
  readonly optional: O;
}
export interface ViewSpec<D extends BufferDType = BufferDType> {
  readonly kind: 'view';
  readonly dtypes: readonly D[];
}
export type ScalarKind = 'size' | 'int' | 'number' | 'flag';
export interface ScalarSpec<K extends ScalarKind = ScalarKind, O extends boolean = boolean> {
  readonly kind: K;
  readonly optional: O;
  /** Value used when an optional field is left out. */
  readonly default?: K extends 'flag' ? boolean : number;
}
export interface ChoiceSpec<V extends string = string> {
  readonly kind: 'choice';
  /** Name of the table the native addon exports for these values (`enums[name]`). */
  readonly table: string;
  readonly values: readonly V[];
}
export interface IntsSpec {
  readonly kind: 'ints';
}
export type FieldSpec = BufferSpec | ViewSpec | ScalarSpec | ChoiceSpec | IntsSpec;
export type Fields = Readonly<Record<string, FieldSpec>>;

/** A buffer of one of `dtypes`. */
export function buffer<D extends BufferDType>(...dtypes: D[]): BufferSpec<D, false> {
  return { kind: 'buffer', dtypes, optional: false };
}
/** A buffer that may be null (left out). */
export function optionalBuffer<D extends BufferDType>(...dtypes: D[]): BufferSpec<D, true> {
  return { kind: 'buffer', dtypes, optional: true };
}
export function view<D extends BufferDType>(...dtypes: D[]): ViewSpec<D> {
  return { kind: 'view', dtypes };
}
/** A non-negative safe integer (a count or an offset); with a default, optional. */
export function size(): ScalarSpec<'size', false>;
export function size(defaultValue: number): ScalarSpec<'size', true>;
export function size(defaultValue?: number): ScalarSpec<'size'> {
  return scalar('size', defaultValue);
}
/** Any safe integer. */
export function int(): ScalarSpec<'int', false> {
  return scalar('int', undefined) as ScalarSpec<'int', false>;
}
/** A number (NaN and infinities pass through, as in PyTorch); with a default, optional. */
export function number(): ScalarSpec<'number', false>;
export function number(defaultValue: number): ScalarSpec<'number', true>;
export function number(defaultValue?: number): ScalarSpec<'number'> {
  return scalar('number', defaultValue);
}
export function flag(): ScalarSpec<'flag', false>;
export function flag(defaultValue: boolean): ScalarSpec<'flag', true>;
export function flag(defaultValue?: boolean): ScalarSpec<'flag'> {
  return defaultValue === undefined
    ? { kind: 'flag', optional: false }
    : { kind: 'flag', optional: true, default: defaultValue };
}
export function choice<V extends string>(table: string, values: readonly V[]): ChoiceSpec<V> {
  return { kind: 'choice', table, values };
}
/** A list of safe integers (a shape or strides). */
export function ints(): IntsSpec {
  return { kind: 'ints' };
}

function scalar<K extends 'size' | 'int' | 'number'>(kind: K, d: number | undefined): ScalarSpec<K> {
  return (
    d === undefined ? { kind, optional: false } : { kind, optional: true, default: d }
  ) as ScalarSpec<K>;
}

// ---- types derived from the specs ------------------------------------------------------------------

/** The value a backend receives for a field. */
export type RawOf<S> =
  S extends BufferSpec<infer D, infer O>
    ? O extends true
      ? ArrayOf<D> | null
      : ArrayOf<D>
    : S extends ViewSpec<infer D>
      ? MatrixView<ArrayOf<D>>
      : S extends ScalarSpec<'flag'>
        ? boolean
        : S extends ScalarSpec
          ? number
          : S extends ChoiceSpec<infer V>
            ? V
            : S extends IntsSpec
              ? readonly number[]
              : never;

/** The value a caller passes for a field: buffers may be tensors. */
type InputOf<S> =
  S extends BufferSpec<infer D>
    ? ArrayOf<D> | Tensor
    : S extends ViewSpec<infer D>
      ? MatrixView<ArrayOf<D> | Tensor>
      : RawOf<S>;

type OptionalKeys<F> = { [K in keyof F]: F[K] extends { readonly optional: true } ? K : never }[keyof F];

/** What a backend's implementation of a kernel receives: every field present, defaults filled in. */
export type Args<F> = { readonly [K in keyof F]: RawOf<F[K]> };

/** What a caller passes: optional fields may be left out, buffers may be tensors. */
export type CallArgs<F> = { readonly [K in Exclude<keyof F, OptionalKeys<F>>]: InputOf<F[K]> } & {
  readonly [K in OptionalKeys<F>]?: InputOf<F[K]> | null;
};

type BufferKeys<F> = {
  [K in keyof F]: F[K] extends BufferSpec | ViewSpec ? K : never;
}[keyof F];

export type Returns = 'void' | 'number';
export type ResultOf<R extends Returns> = R extends 'number' ? number : void;

export interface KernelSpec<F extends Fields = Fields, R extends Returns = Returns> {
  /** What the kernel computes (one line; the fields document themselves). */
  readonly doc: string;
  readonly fields: F;
  readonly returns: R;
  /**
   * The least number of elements each buffer must hold, from the sizes (already checked to be
   * integers). A view's extent is checked from its offset and strides instead.
   */
  readonly extents?: (a: Args<F>) => { readonly [K in BufferKeys<F>]?: number };
  /** Further constraints: a message naming the offending argument, or null. */
  readonly check?: (a: Args<F>) => string | null;
}

export function kernel<F extends Fields, R extends Returns = 'void'>(spec: {
  doc: string;
  fields: F;
  returns?: R;
  extents?: (a: Args<F>) => { readonly [K in BufferKeys<F>]?: number };
  check?: (a: Args<F>) => string | null;
}): KernelSpec<F, R> {
  return { ...spec, returns: (spec.returns ?? 'void') as R };
}

// ---- resolution and checks -------------------------------------------------------------------------

export class KernelArgumentError extends RangeError {
  constructor(kernelName: string, message: string) {
    super(`kernel ${kernelName}: ${message}`);
    this.name = 'KernelArgumentError';
  }
}

/** Highest element offset (+1) a view reaches over `dims`, and the lowest. */
function reach(dims: readonly number[], strides: readonly number[], offset: number): [number, number] {
  let lo = offset;
  let hi = offset;
  for (let i = 0; i < dims.length; i++) {
    if (dims[i] === 0) return [offset, offset];
    const span = (dims[i] - 1) * strides[i];
    if (span < 0) lo += span;
    else hi += span;
  }
  return [lo, hi + 1];
}

/** The extent checks of a strided operand over `dims`: every element it reaches lies inside `data`. */
export function checkReach(
  name: string,
  data: { length: number },
  offset: number,
  strides: readonly number[],
  dims: readonly number[],
): string | null {
  if (strides.length !== dims.length) return `${name} has ${strides.length} strides for rank ${dims.length}`;
  for (const s of strides) if (!Number.isSafeInteger(s)) return `${name} strides must be integers`;
  const [lo, hi] = reach(dims, strides, offset);
  if (lo < 0 || hi > data.length)
    return `${name} (${data.length} elements) is too short for offset ${offset} and strides [${strides.join(', ')}]`;
  return null;
}

function resolveBuffer(
  kernelName: string,
  key: string,
  dtypes: readonly BufferDType[],
  value: unknown,
): AnyArray {
  let arr: unknown = value;
  if (value instanceof Tensor) {
    if (value.isDisposed)
      throw new KernelArgumentError(
        kernelName,
        `argument '${key}' is a disposed tensor (${value.describe()})`,
      );
    arr = value.storageArray;
  }
  const dt = dtypeOfArray(arr);
  if (dt === null || !dtypes.includes(dt)) {
    const want = dtypes.map((d) => `${d} (${TENSOR_DTYPE[d]})`).join(' or ');
    const got =
      value instanceof Tensor
        ? `a ${value.dtype} tensor`
        : dt
          ? `a ${dt} array`
          : value === null || value === undefined
            ? 'nothing'
            : `a ${typeof value}`;
    throw new KernelArgumentError(kernelName, `argument '${key}' must be ${want}, got ${got}`);
  }
  return arr as AnyArray;
}

/**
 * Checks a call against its declaration and returns the arguments a backend receives (tensors
 * replaced by their arrays, defaults filled in). Throws a `KernelArgumentError` naming the kernel and
 * the argument.
 */
export function resolveArgs<F extends Fields, R extends Returns>(
  kernelName: string,
  spec: KernelSpec<F, R>,
  input: CallArgs<F>,
): Args<F> {
  const fail = (msg: string): never => {
    throw new KernelArgumentError(kernelName, msg);
  };
  const given = input as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key in spec.fields) {
    const f = spec.fields[key];
    const v = given[key];
    switch (f.kind) {
      case 'buffer':
        out[key] =
          v === undefined || v === null
            ? f.optional
              ? null
              : fail(`argument '${key}' is missing`)
            : resolveBuffer(kernelName, key, f.dtypes, v);
        break;
      case 'view': {
        const mv = v as MatrixView<unknown> | undefined;
        if (!mv || typeof mv !== 'object') fail(`argument '${key}' must be a matrix view`);
        else {
          const data = resolveBuffer(kernelName, `${key}.data`, f.dtypes, mv.data);
          if (!Number.isSafeInteger(mv.offset) || mv.offset < 0)
            fail(`argument '${key}.offset' must be a non-negative integer, got ${mv.offset}`);
          if (!Array.isArray(mv.strides) || mv.strides.length !== 4)
            fail(`argument '${key}.strides' must be 4 integers`);
          for (const s of mv.strides)
            if (!Number.isSafeInteger(s)) fail(`argument '${key}.strides' must be integers`);
          out[key] = { data, offset: mv.offset, strides: mv.strides };
        }
        break;
      }
      case 'size':
      case 'int':
      case 'number': {
        const n = v === undefined && f.optional ? f.default : v;
        if (typeof n !== 'number') fail(`argument '${key}' must be a number, got ${typeof n}`);
        else if (f.kind !== 'number' && !Number.isSafeInteger(n))
          fail(`argument '${key}' must be an integer, got ${n}`);
        else if (f.kind === 'size' && n < 0) fail(`argument '${key}' must be >= 0, got ${n}`);
        out[key] = n;
        break;
      }
      case 'flag': {
        const b = v === undefined && f.optional ? f.default : v;
        if (typeof b !== 'boolean') fail(`argument '${key}' must be a boolean, got ${typeof b}`);
        out[key] = b;
        break;
      }
      case 'choice':
        if (typeof v !== 'string' || !(f.values as readonly string[]).includes(v))
          fail(`argument '${key}' must be one of ${f.values.join(', ')}, got '${String(v)}'`);
        out[key] = v;
        break;
      case 'ints':
        if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x)))
          fail(`argument '${key}' must be a list of integers`);
        out[key] = v;
        break;
    }
  }
  const args = out as Args<F>;
  if (spec.check) {
    const msg = spec.check(args);
    if (msg !== null) fail(msg);
  }
  if (spec.extents) {
    const need = spec.extents(args) as Record<string, number | undefined>;
    for (const key in need) {
      const n = need[key];
      const arr = out[key] as AnyArray | null;
      if (n === undefined || arr === null) continue;
      if (!Number.isSafeInteger(n) || n > Number.MAX_SAFE_INTEGER) fail(`size overflow for '${key}'`);
      if (arr.length < n) fail(`argument '${key}' has ${arr.length} elements, needs at least ${n}`);
    }
  }
  return args;
}
