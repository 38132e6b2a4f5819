/**
 * The allow-list of Python globals a pickle may name, and the internal items that only live on the
 * unpickler's stack (allow-listed callables, storage types, loaded storages, numpy dtypes, tuples
 * holding such items). A name outside the allow-list is refused with a CheckpointError before
 * anything is built.
 */
import { CheckpointError } from '../errors.js';
import { quote } from '../sanitize.js';
import { type HostDType, type HostTensor, isHostDType } from '../host_tensor.js';
import { PyGlobalRef, type PyValue, describeValue } from './values.js';

/** The torch storage classes and the dtype of their elements; `null` for types lape cannot hold. */
export const STORAGE_DTYPES: ReadonlyMap<string, HostDType | null> = new Map<string, HostDType | null>([
  ['FloatStorage', 'float32'],
  ['DoubleStorage', 'float64'],
  ['HalfStorage', 'float16'],
  ['BFloat16Storage', 'bfloat16'],
  ['LongStorage', 'int64'],
  ['IntStorage', 'int32'],
  ['ShortStorage', 'int16'],
  ['CharStorage', 'int8'],
  ['ByteStorage', 'uint8'],
  ['BoolStorage', 'bool'],
  // torch.save of a bare UntypedStorage: its elements are bytes.
  ['UntypedStorage', 'uint8'],
  ['ComplexFloatStorage', null],
  ['ComplexDoubleStorage', null],
  ['QInt8Storage', null],
  ['QUInt8Storage', null],
  ['QInt32Storage', null],
  ['QUInt4x2Storage', null],
  ['QUInt2x4Storage', null],
]);

export const STORAGE_NAME_BY_DTYPE: Readonly<Record<HostDType, string>> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int16: 'ShortStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

// ---------------------------------------------------------------------------------------------------
// Internal stack items that never escape as values

/** Base of the objects that only live on the unpickler's stack. */
export abstract class Internal {
  abstract describe(): string;
}

/** The allow-listed callables and classes, by what they do. */
export type GlobalKind =
  | 'OrderedDict'
  | 'Namespace'
  | 'object'
  | 'Tensor'
  | 'Parameter'
  | 'rebuild_tensor'
  | 'rebuild_tensor_v2'
  | 'rebuild_parameter'
  | 'rebuild_parameter_with_state'
  | 'rebuild_from_type_v2'
  | 'Size'
  | 'set'
  | 'frozenset'
  | 'bytes'
  | 'bytearray'
  | 'codecs_encode'
  | 'reconstructor'
  | 'np_scalar'
  | 'np_dtype';

export class Global extends Internal {
  constructor(
    readonly fullName: string,
    readonly kind: GlobalKind,
  ) {
    super();
  }
  describe(): string {
    return `global ${quote(this.fullName)}`;
  }
}

export class StorageType extends Internal {
  constructor(
    readonly name: string,
    readonly dtype: HostDType | null,
  ) {
    super();
  }
  describe(): string {
    return `storage type ${quote(`torch.${this.name}`)}`;
  }
}

/** A loaded storage: its bytes as an aligned typed-array-ready buffer, and its element count. */
export class Storage extends Internal {
  /** Bytes of the distinct views materialized from it so far. */
  viewedBytes = 0;
  /** Whether a tensor already uses `bytes` itself (the first contiguous view does; later ones copy). */
  lent = false;
  /** Materialized views by (offset, shape, stride): an identical view is the same tensor. */
  readonly views = new Map<string, HostTensor>();
  constructor(
    readonly key: string,
    readonly dtype: HostDType,
    readonly bytes: Uint8Array,
    readonly numel: number,
  ) {
    super();
  }
  describe(): string {
    return `storage ${quote(this.key)}`;
  }
}

/** A `numpy.dtype` under construction (its byte order arrives later, through BUILD). */
export class NpDType extends Internal {
  order = '=';
  constructor(readonly code: string) {
    super();
  }
  describe(): string {
    return `numpy dtype ${quote(this.code)}`;
  }
}

/**
 * A tensor whose view a read limit refuses to materialize. Nothing is allocated for it; the error is
 * raised where the tensor is stored, so it can name the tensor's key.
 */
export class RefusedTensor extends Internal {
  constructor(
    /** Completes "tensor 'key' ..." (e.g. "is a view of shape [..]: ... past the limit ..."). */
    readonly problem: string,
  ) {
    super();
  }
  describe(): string {
    return `a tensor that ${this.problem}`;
  }
}

/** A tuple holding internal items, such as the arguments of `_rebuild_tensor_v2`. */
export class RawTuple extends Internal {
  constructor(
    readonly items: Item[],
    /** Nesting depth counted in RawTuples (1 for one holding none). */
    readonly depth: number,
  ) {
    super();
  }
  describe(): string {
    return 'tuple holding ' + (this.items.find((x) => x instanceof Internal) as Internal).describe();
  }
}

export type Item = PyValue | Internal;

const ALLOWED_GLOBALS: ReadonlyMap<string, GlobalKind> = new Map<string, GlobalKind>([
  ['collections.OrderedDict', 'OrderedDict'],
  ['argparse.Namespace', 'Namespace'],
  ['builtins.object', 'object'],
  ['builtins.set', 'set'],
  ['builtins.frozenset', 'frozenset'],
  ['builtins.bytes', 'bytes'],
  ['builtins.bytearray', 'bytearray'],
  ['_codecs.encode', 'codecs_encode'],
  ['copyreg._reconstructor', 'reconstructor'],
  ['torch.Tensor', 'Tensor'],
  ['torch.nn.parameter.Parameter', 'Parameter'],
  ['torch.Size', 'Size'],
  ['torch._utils._rebuild_tensor', 'rebuild_tensor'],
  ['torch._utils._rebuild_tensor_v2', 'rebuild_tensor_v2'],
  ['torch._utils._rebuild_parameter', 'rebuild_parameter'],
  ['torch._utils._rebuild_parameter_with_state', 'rebuild_parameter_with_state'],
  ['torch._tensor._rebuild_from_type_v2', 'rebuild_from_type_v2'],
  ['numpy.core.multiarray.scalar', 'np_scalar'],
  ['numpy._core.multiarray.scalar', 'np_scalar'],
  ['numpy.dtype', 'np_dtype'],
]);

/** Python 2 module names that protocols 0-2 write for compatibility. */
const PY2_MODULES: ReadonlyMap<string, string> = new Map([
  ['__builtin__', 'builtins'],
  ['copy_reg', 'copyreg'],
]);

export function resolveGlobal(file: string, rawModule: string, name: string): Item {
  const module = PY2_MODULES.get(rawModule) ?? rawModule;
  const fullName = `${module}.${name}`;
  const kind = ALLOWED_GLOBALS.get(fullName);
  if (kind) return new Global(fullName, kind);
  if (module === 'torch') {
    const storageDType = STORAGE_DTYPES.get(name);
    if (storageDType !== undefined) return new StorageType(name, storageDType);
    if (isHostDType(name)) return new PyGlobalRef('torch', name);
  }
  throw new CheckpointError(
    file,
    `pickle refers to global ${quote(fullName)}, which lape does not load (only tensors, containers and numbers are allowed)`,
  );
}

/** What an item is, for messages. */
export function describeItem(item: Item): string {
  return item instanceof Internal ? item.describe() : describeValue(item);
}
