/**
 * A restricted reader and a writer for Python pickles, as `torch.save` uses them.
 *
 * The reader interprets opcodes of protocols 0 to 5 but never runs anything: a pickle names the callables
 * that rebuild its objects (GLOBAL / STACK_GLOBAL), and here a name resolves only against a fixed
 * allow-list of known-harmless ones (containers, tensor rebuilding, numpy scalars, argparse.Namespace),
 * each re-implemented in TS. Any other name is refused with a CheckpointError before anything is built,
 * which is what `torch.load(weights_only=True)` does, only stricter.
 *
 * The writer emits protocol 2, the protocol torch.save uses, with tensors as persistent ids of storages,
 * and only opcodes that PyTorch 1.13's `weights_only=True` loader accepts, except BINFLOAT (that loader
 * has no float opcode at all, so a pickle holding a Python float loads only without weights_only).
 */

import { CheckpointError, withCheckpointErrors } from './errors.js';
import {
  DTYPE_SIZE,
  type HostDType,
  type HostTensor,
  emptyTensor,
  halfBitsToFloat,
  isHostDType,
  isHostTensor,
  numelOf,
  tensorBytes,
} from './host_tensor.js';

// ---------------------------------------------------------------------------------------------------
// Values

/** A Python tuple (a JS array stands for a Python list). */
export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** A Python set or frozenset, as its items. */
export class PySet {
  constructor(
    readonly items: PyValue[],
    readonly frozen: boolean,
  ) {}
}

/**
 * An instance of an allow-listed Python class with plain attributes; in practice `argparse.Namespace`,
 * which the reference training scripts store as `checkpoint['args']`. `attrs` has no prototype, so any
 * attribute name (even `__proto__`) is just a key.
 */
export class PyObject {
  readonly attrs: Record<string, PyValue>;
  constructor(
    /** Qualified class name, e.g. `argparse.Namespace`. */
    readonly className: string,
    attrs: Record<string, PyValue> = {},
  ) {
    this.attrs = Object.assign(Object.create(null) as Record<string, PyValue>, attrs);
  }

  /** An `argparse.Namespace` with these attributes, e.g. the `args` entry of a training checkpoint. */
  static namespace(attrs: Record<string, PyValue>): PyObject {
    return new PyObject('argparse.Namespace', attrs);
  }
}

/** A reference to an allow-listed non-callable global, i.e. a torch dtype such as `torch.float32`. */
export class PyGlobalRef {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/** The key types a pickled dict may have here. */
export type PyKey = string | number | bigint | boolean | null | PyTuple;

/** A Python dict (or OrderedDict): insertion order is kept. */
export type PyDict = Map<PyKey, PyValue>;

/**
 * A loaded Python value. Python ints are JS numbers, or bigints beyond 2^53; Python floats are numbers,
 * so `1.0` reads as `1` (and is written back as an int). numpy scalars become numbers or booleans,
 * `torch.Size` a PyTuple, bytes a Uint8Array, tensors and parameters a HostTensor.
 */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PySet
  | PyObject
  | PyGlobalRef
  | HostTensor;

export function isPyDict(v: PyValue): v is PyDict {
  return v instanceof Map;
}

// ---------------------------------------------------------------------------------------------------
// Storages (torch's persistent ids)

/** The torch storage classes and the dtype of their elements; `null` for types lape cannot hold. */
const STORAGE_DTYPES: ReadonlyMap<string, HostDType | null> = new Map<string, HostDType | null>([
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

const STORAGE_NAME_BY_DTYPE: Readonly<Record<HostDType, string>> = {
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

/** What a pickle asks for when it refers to a storage: `('storage', type, key, location, numel)`. */
export interface StorageRequest {
  /** The storage's record name in the archive (`<archive>/data/<key>`). */
  key: string;
  dtype: HostDType;
  /** Number of elements the pickle says the storage has. */
  numel: number;
  /** The device it was saved from, e.g. `cpu` or `cuda:0` (everything loads onto the host). */
  location: string;
}

/** Returns the raw little-endian bytes of a storage. Called once per distinct key. */
export type StorageLoader = (request: StorageRequest) => Uint8Array;

export interface UnpickleOptions {
  /** Named in every error message. */
  file: string;
  /** Resolves persistent ids; without it a pickle that refers to a storage is an error. */
  loadStorage?: StorageLoader;
}

// ---------------------------------------------------------------------------------------------------
// Internal stack items that never escape as values

/** Base of the objects that only live on the unpickler's stack. */
abstract class Internal {
  abstract describe(): string;
}

/** The allow-listed callables and classes, by what they do. */
type GlobalKind =
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

class Global extends Internal {
  constructor(
    readonly fullName: string,
    readonly kind: GlobalKind,
  ) {
    super();
  }
  describe(): string {
    return `global '${this.fullName}'`;
  }
}

class StorageType extends Internal {
  constructor(
    readonly name: string,
    readonly dtype: HostDType | null,
  ) {
    super();
  }
  describe(): string {
    return `storage type 'torch.${this.name}'`;
  }
}

/** A loaded storage: its bytes as an aligned typed-array-ready buffer, and its element count. */
class Storage extends Internal {
  constructor(
    readonly key: string,
    readonly dtype: HostDType,
    readonly bytes: Uint8Array,
    readonly numel: number,
  ) {
    super();
  }
  describe(): string {
    return `storage '${this.key}'`;
  }
}

/** A `numpy.dtype` under construction (its byte order arrives later, through BUILD). */
class NpDType extends Internal {
  order = '=';
  constructor(readonly code: string) {
    super();
  }
  describe(): string {
    return `numpy dtype '${this.code}'`;
  }
}

/** A tuple holding internal items, such as the arguments of `_rebuild_tensor_v2`. */
class RawTuple extends Internal {
  constructor(readonly items: Item[]) {
    super();
  }
  describe(): string {
    return 'tuple holding ' + (this.items.find((x) => x instanceof Internal) as Internal).describe();
  }
}

type Item = PyValue | Internal;

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

function resolveGlobal(file: string, rawModule: string, name: string): Item {
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
    `pickle refers to global '${fullName}', which lape does not load (only tensors, containers and numbers are allowed)`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Reader

const OP = {
  MARK: 0x28, // (
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  DUP: 0x32, // 2
  FLOAT: 0x46, // F
  INT: 0x49, // I
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  LONG: 0x4c, // L
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  PERSID: 0x50, // P
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  STRING: 0x53, // S
  BINSTRING: 0x54, // T
  SHORT_BINSTRING: 0x55, // U
  UNICODE: 0x56, // V
  BINUNICODE: 0x58, // X
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  DICT: 0x64, // d
  EMPTY_DICT: 0x7d, // }
  APPENDS: 0x65, // e
  GET: 0x67, // g
  BINGET: 0x68, // h
  INST: 0x69, // i
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  EMPTY_LIST: 0x5d, // ]
  OBJ: 0x6f, // o
  PUT: 0x70, // p
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  EMPTY_TUPLE: 0x29, // )
  SETITEMS: 0x75, // u
  BINFLOAT: 0x47, // G
  // protocol 2
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  // protocol 3
  BINBYTES: 0x42, // B
  SHORT_BINBYTES: 0x43, // C
  // protocol 4
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  // protocol 5
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

const UTF8 = new TextDecoder('utf-8');
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

/** Bounds-checked little-endian reads over the pickle bytes. */
class ByteReader {
  pos = 0;
  private readonly view: DataView;
  private readonly buf: Uint8Array;
  constructor(
    buf: Uint8Array,
    private readonly fail: (problem: string) => never,
  ) {
    // A Node Buffer's slice() is a view, not a copy: work on a plain Uint8Array over the same memory.
    this.buf = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): number {
    if (n > this.buf.length - this.pos) {
      this.fail(
        `pickle data is truncated (${n} more bytes needed at offset ${this.pos} of ${this.buf.length})`,
      );
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.buf[this.need(1)];
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(this.buf.length)) {
      this.fail(`pickle data is truncated (length ${v} at offset ${this.pos - 8})`);
    }
    return Number(v);
  }
  f64be(): number {
    return this.view.getFloat64(this.need(8), false);
  }
  bytes(n: number): Uint8Array {
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }
  /** A text-protocol argument: the bytes up to the next newline, as latin-1 (they are ASCII). */
  line(): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`pickle data is truncated (unterminated line at offset ${this.pos})`);
    const s = latin1(this.buf.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** An int as a JS number when exact, else a bigint. */
function pyInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Decodes pickle's LONG1/LONG4 payload: little-endian two's complement. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  // Through a hex string: linear time, where shifting byte by byte is quadratic for huge LONG4s.
  const hex = Buffer.from(bytes).reverse().toString('hex');
  let v = BigInt(`0x${hex}`);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return pyInt(v);
}

/**
 * Parses a pickle (as written by `torch.save` or `pickle.dumps`) into a PyValue without executing
 * anything. Throws CheckpointError for a forbidden global, a corrupt or truncated stream, or an object
 * that is not a plain value.
 */
export function unpickle(data: Uint8Array, options: UnpickleOptions): PyValue {
  // The safety net turns e.g. a RangeError from absurdly deep nesting into a CheckpointError.
  return withCheckpointErrors(options.file, 'cannot read pickle', () => new Unpickler(data, options).load());
}

class Unpickler {
  private readonly file: string;
  private readonly r: ByteReader;
  private stack: Item[] = [];
  private readonly metastack: Item[][] = [];
  private readonly memo = new Map<number, Item>();
  private readonly storages = new Map<string, Storage>();
  private opcodeAt = 0;

  constructor(
    data: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.file = options.file;
    this.r = new ByteReader(data, (problem) => this.fail(problem));
  }

  private fail(problem: string): never {
    throw new CheckpointError(this.file, problem);
  }

  private corrupt(problem: string): never {
    this.fail(`corrupt pickle: ${problem} (opcode at offset ${this.opcodeAt})`);
  }

  /** Pushes onto the current stack (read at call time: popMark() may have just replaced it). */
  private push(item: Item): void {
    this.stack.push(item);
  }

  private pop(): Item {
    if (this.stack.length === 0) this.corrupt('stack underflow');
    return this.stack.pop() as Item;
  }

  private top(): Item {
    if (this.stack.length === 0) this.corrupt('stack underflow');
    return this.stack[this.stack.length - 1];
  }

  /** The items pushed since the last MARK, restoring the stack below it. */
  private popMark(): Item[] {
    const items = this.stack;
    const below = this.metastack.pop();
    if (below === undefined) this.corrupt('MARK expected');
    this.stack = below;
    return items;
  }

  /** An item used as a value (stored in a container or returned): internal objects are refused. */
  private value(item: Item): PyValue {
    if (item instanceof RawTuple) return new PyTuple(item.items.map((x) => this.value(x)));
    if (item instanceof Internal) {
      this.fail(`pickle uses ${item.describe()} as a value, which lape does not load`);
    }
    return item;
  }

  private key(item: Item): PyKey {
    const v = this.value(item);
    if (
      v === null ||
      typeof v === 'string' ||
      typeof v === 'number' ||
      typeof v === 'bigint' ||
      typeof v === 'boolean' ||
      v instanceof PyTuple
    ) {
      return v;
    }
    this.fail(`pickle has a dict key of unsupported type (${describeValue(v)})`);
  }

  private tuple(items: Item[]): Item {
    return items.some((x) => x instanceof Internal) ? new RawTuple(items) : new PyTuple(items as PyValue[]);
  }

  private string(bytes: Uint8Array): string {
    try {
      return UTF8_STRICT.decode(bytes);
    } catch {
      this.corrupt('string is not valid UTF-8');
    }
  }

  load(): PyValue {
    const r = this.r;
    for (;;) {
      this.opcodeAt = r.pos;
      const op = r.u8();
      switch (op) {
        case OP.PROTO: {
          const v = r.u8();
          if (v > 5) this.fail(`pickle protocol ${v} is newer than 5, the newest lape reads`);
          break;
        }
        case OP.FRAME:
          r.u64(); // frames only group opcodes for buffered reading; the opcodes inside are read as usual
          break;
        case OP.STOP: {
          const result = this.value(this.pop());
          if (this.stack.length !== 0 || this.metastack.length !== 0) this.corrupt('items left on the stack');
          return result;
        }

        // --- constants
        case OP.NONE:
          this.push(null);
          break;
        case OP.NEWTRUE:
          this.push(true);
          break;
        case OP.NEWFALSE:
          this.push(false);
          break;
        case OP.INT: {
          const text = r.line();
          // Protocol 0 spells booleans as INT 01 / 00.
          if (text === '01') this.push(true);
          else if (text === '00') this.push(false);
          else this.push(this.parseInt(text));
          break;
        }
        case OP.LONG:
          this.push(this.parseInt(r.line().replace(/L$/, '')));
          break;
        case OP.BININT:
          this.push(r.i32());
          break;
        case OP.BININT1:
          this.push(r.u8());
          break;
        case OP.BININT2:
          this.push(r.u16());
          break;
        case OP.LONG1:
          this.push(decodeLong(r.bytes(r.u8())));
          break;
        case OP.LONG4: {
          const n = r.i32();
          if (n < 0) this.corrupt('negative LONG4 length');
          this.push(decodeLong(r.bytes(n)));
          break;
        }
        case OP.FLOAT:
          this.push(this.parseFloat(r.line()));
          break;
        case OP.BINFLOAT:
          this.push(r.f64be());
          break;

        // --- strings and bytes
        case OP.STRING:
          this.push(UTF8.decode(this.parseQuotedBytes(r.line())));
          break;
        case OP.BINSTRING: {
          const n = r.i32();
          if (n < 0) this.corrupt('negative BINSTRING length');
          // Python 2 str: torch.load decodes these as UTF-8 by default.
          this.push(UTF8.decode(r.bytes(n)));
          break;
        }
        case OP.SHORT_BINSTRING:
          this.push(UTF8.decode(r.bytes(r.u8())));
          break;
        case OP.UNICODE:
          this.push(decodeRawUnicodeEscape(r.line()));
          break;
        case OP.BINUNICODE:
          this.push(this.string(r.bytes(r.u32())));
          break;
        case OP.SHORT_BINUNICODE:
          this.push(this.string(r.bytes(r.u8())));
          break;
        case OP.BINUNICODE8:
          this.push(this.string(r.bytes(r.u64())));
          break;
        case OP.BINBYTES:
          this.push(r.bytes(r.u32()).slice());
          break;
        case OP.SHORT_BINBYTES:
          this.push(r.bytes(r.u8()).slice());
          break;
        case OP.BINBYTES8:
        case OP.BYTEARRAY8:
          this.push(r.bytes(r.u64()).slice());
          break;
        case OP.NEXT_BUFFER:
          this.fail('pickle uses out-of-band buffers (protocol 5 NEXT_BUFFER), which lape does not load');
          break;
        case OP.READONLY_BUFFER:
          this.top(); // marks the top buffer read-only: nothing to do here
          break;

        // --- containers
        case OP.MARK:
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case OP.EMPTY_TUPLE:
          this.push(new PyTuple([]));
          break;
        case OP.TUPLE:
          this.push(this.tuple(this.popMark()));
          break;
        case OP.TUPLE1: {
          const a = this.pop();
          this.push(this.tuple([a]));
          break;
        }
        case OP.TUPLE2: {
          const b = this.pop();
          const a = this.pop();
          this.push(this.tuple([a, b]));
          break;
        }
        case OP.TUPLE3: {
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.push(this.tuple([a, b, c]));
          break;
        }
        case OP.EMPTY_LIST:
          this.push([]);
          break;
        case OP.LIST:
          this.push(this.popMark().map((x) => this.value(x)));
          break;
        case OP.APPEND: {
          const item = this.value(this.pop());
          this.listOnTop('APPEND').push(item);
          break;
        }
        case OP.APPENDS: {
          const items = this.popMark().map((x) => this.value(x));
          const list = this.listOnTop('APPENDS');
          for (const x of items) list.push(x);
          break;
        }
        case OP.EMPTY_DICT:
          this.push(new Map());
          break;
        case OP.DICT: {
          const dict: PyDict = new Map();
          this.setItems(dict, this.popMark());
          this.push(dict);
          break;
        }
        case OP.SETITEM: {
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.dictOnTop('SETITEM'), [k, v]);
          break;
        }
        case OP.SETITEMS: {
          const items = this.popMark();
          this.setItems(this.dictOnTop('SETITEMS'), items);
          break;
        }
        case OP.EMPTY_SET:
          this.push(new PySet([], false));
          break;
        case OP.ADDITEMS: {
          const items = this.popMark().map((x) => this.value(x));
          const set = this.top();
          if (!(set instanceof PySet) || set.frozen) this.corrupt('ADDITEMS target is not a set');
          set.items.push(...items);
          break;
        }
        case OP.FROZENSET:
          this.push(
            new PySet(
              this.popMark().map((x) => this.value(x)),
              true,
            ),
          );
          break;

        // --- stack and memo
        case OP.POP:
          if (this.stack.length > 0) this.stack.pop();
          else this.popMark(); // POP with an empty stack pops a MARK, as in CPython
          break;
        case OP.POP_MARK:
          this.popMark();
          break;
        case OP.DUP:
          this.push(this.top());
          break;
        case OP.PUT:
          this.memo.set(this.parseIndex(r.line()), this.top());
          break;
        case OP.BINPUT:
          this.memo.set(r.u8(), this.top());
          break;
        case OP.LONG_BINPUT:
          this.memo.set(r.u32(), this.top());
          break;
        case OP.MEMOIZE:
          this.memo.set(this.memo.size, this.top());
          break;
        case OP.GET:
          this.push(this.memoGet(this.parseIndex(r.line())));
          break;
        case OP.BINGET:
          this.push(this.memoGet(r.u8()));
          break;
        case OP.LONG_BINGET:
          this.push(this.memoGet(r.u32()));
          break;

        // --- globals and object construction
        case OP.GLOBAL: {
          const module = r.line();
          const name = r.line();
          this.push(resolveGlobal(this.file, module, name));
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') {
            this.corrupt('STACK_GLOBAL needs two strings');
          }
          this.push(resolveGlobal(this.file, module, name));
          break;
        }
        case OP.EXT1:
        case OP.EXT2:
        case OP.EXT4:
          this.fail('pickle uses the copyreg extension registry (EXT opcodes), which lape does not load');
          break;
        case OP.REDUCE: {
          const args = this.pop();
          const fn = this.pop();
          this.push(this.call(fn, this.args(args, 'REDUCE')));
          break;
        }
        case OP.NEWOBJ: {
          const args = this.pop();
          const cls = this.pop();
          this.push(this.instantiate(cls, this.args(args, 'NEWOBJ')));
          break;
        }
        case OP.NEWOBJ_EX: {
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!(kwargs instanceof Map) || kwargs.size > 0) this.corrupt('NEWOBJ_EX with keyword arguments');
          this.push(this.instantiate(cls, this.args(args, 'NEWOBJ_EX')));
          break;
        }
        case OP.INST: {
          const cls = resolveGlobal(this.file, r.line(), r.line());
          this.push(this.instantiate(cls, this.popMark()));
          break;
        }
        case OP.OBJ: {
          const [cls, ...args] = this.popMark();
          if (cls === undefined) this.corrupt('OBJ without a class');
          this.push(this.instantiate(cls, args));
          break;
        }
        case OP.BUILD: {
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case OP.PERSID:
          this.fail('pickle uses a text persistent id (protocol 0), which torch.save never writes');
          break;
        case OP.BINPERSID:
          this.push(this.persistentLoad(this.pop()));
          break;
        default:
          this.corrupt(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }

  private parseInt(text: string): number | bigint {
    if (!/^[+-]?\d+$/.test(text)) this.corrupt(`bad integer literal '${text.slice(0, 40)}'`);
    return pyInt(BigInt(text));
  }

  private parseFloat(text: string): number {
    const t = text.trim().toLowerCase();
    if (t === 'nan' || t === '-nan') return NaN;
    if (t === 'inf' || t === '+inf') return Infinity;
    if (t === '-inf') return -Infinity;
    const v = Number(t);
    if (t === '' || Number.isNaN(v)) this.corrupt(`bad float literal '${text.slice(0, 40)}'`);
    return v;
  }

  private parseIndex(text: string): number {
    if (!/^\d+$/.test(text)) this.corrupt(`bad memo index '${text.slice(0, 40)}'`);
    return Number(text);
  }

  /** STRING's argument: a Python 2 bytes literal such as 'a\n\x00' (quoted, with escapes). */
  private parseQuotedBytes(text: string): Uint8Array {
    const q = text[0];
    if (text.length < 2 || (q !== "'" && q !== '"') || text[text.length - 1] !== q) {
      this.corrupt('STRING argument is not quoted');
    }
    const body = text.slice(1, -1);
    const out: number[] = [];
    const simple: Record<string, number> = {
      n: 10,
      t: 9,
      r: 13,
      '\\': 92,
      "'": 39,
      '"': 34,
      a: 7,
      b: 8,
      f: 12,
      v: 11,
    };
    for (let i = 0; i < body.length; i++) {
      const c = body[i];
      if (c !== '\\') {
        out.push(body.charCodeAt(i) & 0xff);
        continue;
      }
      const e = body[++i];
      if (e === undefined) this.corrupt('STRING ends in a backslash');
      if (e in simple) out.push(simple[e]);
      else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 1, i + 3))) {
        out.push(parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (/[0-7]/.test(e)) {
        const m = /^[0-7]{1,3}/.exec(body.slice(i)) as RegExpExecArray;
        out.push(parseInt(m[0], 8) & 0xff);
        i += m[0].length - 1;
      } else {
        out.push(92, body.charCodeAt(i) & 0xff); // unknown escapes stay as written, as in Python
      }
    }
    return Uint8Array.from(out);
  }

  private memoGet(i: number): Item {
    const v = this.memo.get(i);
    if (v === undefined) this.corrupt(`memo index ${i} was never stored`);
    return v;
  }

  private listOnTop(op: string): PyValue[] {
    const list = this.top();
    if (!Array.isArray(list)) this.corrupt(`${op} target is not a list`);
    return list;
  }

  private dictOnTop(op: string): PyDict {
    const dict = this.top();
    if (!(dict instanceof Map)) this.corrupt(`${op} target is not a dict`);
    return dict;
  }

  private setItems(dict: PyDict, items: Item[]): void {
    if (items.length % 2 !== 0) this.corrupt('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) dict.set(this.key(items[i]), this.value(items[i + 1]));
  }

  private args(item: Item, op: string): Item[] {
    if (item instanceof PyTuple) return [...item.items];
    if (item instanceof RawTuple) return item.items;
    this.corrupt(`${op} arguments are not a tuple`);
  }

  private expectGlobal(fn: Item, what: string): Global {
    if (!(fn instanceof Global)) {
      this.fail(`pickle calls ${describeItem(fn)} as ${what}, which lape does not do`);
    }
    return fn;
  }

  /** REDUCE: `fn(*args)` for the allow-listed callables, each re-implemented here. */
  private call(fnItem: Item, args: Item[]): Item {
    const fn = this.expectGlobal(fnItem, 'a function');
    const arity = (min: number, max = min): void => {
      if (args.length < min || args.length > max) {
        this.corrupt(`${fn.fullName} called with ${args.length} arguments`);
      }
    };
    switch (fn.kind) {
      case 'OrderedDict': {
        arity(0, 1);
        const dict: PyDict = new Map();
        // OrderedDict(iterable_of_pairs), which older pickles may use.
        if (args.length === 1) {
          const pairs = this.value(args[0]);
          if (!Array.isArray(pairs)) this.corrupt('OrderedDict argument is not a list');
          for (const p of pairs) {
            if (!(p instanceof PyTuple) || p.items.length !== 2) {
              this.corrupt('OrderedDict item is not a pair');
            }
            this.setItems(dict, [p.items[0], p.items[1]]);
          }
        }
        return dict;
      }
      case 'Namespace':
      case 'object':
      case 'Tensor':
      case 'Parameter':
        return this.instantiate(fn, args);
      case 'rebuild_tensor':
        arity(4);
        return this.rebuildTensor(args[0], args[1], args[2], args[3]);
      case 'rebuild_tensor_v2':
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        arity(6, 7);
        return this.rebuildTensor(args[0], args[1], args[2], args[3]);
      case 'rebuild_parameter':
      case 'rebuild_parameter_with_state': {
        // (data, requires_grad, backward_hooks[, state]): a Parameter is just its tensor here.
        arity(fn.kind === 'rebuild_parameter' ? 3 : 4);
        return this.tensorArg(args[0], fn.fullName);
      }
      case 'rebuild_from_type_v2': {
        // (func, type, args, state): func(*args), then the tensor subclass and its state are dropped.
        arity(4);
        const type = this.expectGlobal(args[1], 'a tensor type');
        if (type.kind !== 'Tensor' && type.kind !== 'Parameter') {
          this.fail(`pickle rebuilds a tensor as ${type.fullName}, which lape does not load`);
        }
        return this.tensorArg(this.call(args[0], this.args(args[2], fn.fullName)), fn.fullName);
      }
      case 'Size': {
        arity(1);
        const dims = this.value(args[0]);
        const items = dims instanceof PyTuple ? dims.items : Array.isArray(dims) ? dims : null;
        if (!items || !items.every((d) => typeof d === 'number')) this.corrupt('torch.Size of non-integers');
        return new PyTuple(items);
      }
      case 'set':
      case 'frozenset': {
        arity(0, 1);
        const items = args.length ? this.value(args[0]) : [];
        if (!Array.isArray(items)) this.corrupt(`${fn.fullName} argument is not a list`);
        return new PySet(items, fn.kind === 'frozenset');
      }
      case 'bytes':
      case 'bytearray': {
        arity(0, 1);
        if (args.length === 0) return new Uint8Array(0);
        const src = this.value(args[0]);
        if (src instanceof Uint8Array) return src.slice();
        this.corrupt(`${fn.fullName} of a non-bytes value`);
      }
      case 'codecs_encode': {
        // Protocol 2 writes bytes as _codecs.encode(text, 'latin1'): each char is one byte.
        arity(2);
        const [text, encoding] = args;
        if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
          this.fail(`pickle calls _codecs.encode with an encoding other than latin1, which lape does not do`);
        }
        const out = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) {
          const c = text.charCodeAt(i);
          if (c > 0xff) this.corrupt('latin1 text with a character above U+00FF');
          out[i] = c;
        }
        return out;
      }
      case 'reconstructor': {
        // copyreg._reconstructor(cls, object, None): protocols 0-1 create plain instances this way.
        arity(3);
        const base = this.expectGlobal(args[1], 'a base class');
        if (base.kind !== 'object' || args[2] !== null) {
          this.corrupt('unsupported copyreg._reconstructor call');
        }
        return this.instantiate(args[0], []);
      }
      case 'np_dtype': {
        arity(1, 3);
        const code = args[0];
        if (typeof code !== 'string') this.corrupt('numpy.dtype of a non-string');
        return new NpDType(code);
      }
      case 'np_scalar': {
        arity(1, 2);
        const [dtype, raw] = args;
        if (!(dtype instanceof NpDType) || !(raw instanceof Uint8Array)) this.corrupt('bad numpy scalar');
        return this.numpyScalar(dtype, raw);
      }
    }
  }

  /** NEWOBJ / INST / OBJ: creating an instance of an allow-listed class. */
  private instantiate(clsItem: Item, args: Item[]): Item {
    const cls = this.expectGlobal(clsItem, 'a class');
    switch (cls.kind) {
      case 'Namespace':
        // argparse.Namespace(**kwargs) is never pickled with arguments: its attributes come via BUILD.
        if (args.length !== 0) this.corrupt('argparse.Namespace created with arguments');
        return new PyObject('argparse.Namespace');
      case 'OrderedDict':
        return this.call(cls, args);
      case 'Parameter':
        // torch.nn.Parameter(data, requires_grad) as older pickles construct it.
        if (args.length < 1 || args.length > 2) this.corrupt('Parameter created with bad arguments');
        return this.tensorArg(args[0], cls.fullName);
      case 'set':
      case 'frozenset':
        return this.call(cls, args);
      default:
        this.fail(`pickle creates an instance of ${cls.fullName}, which lape does not load`);
    }
  }

  /** BUILD: setting an object's state. */
  private build(inst: Item, stateItem: Item): void {
    if (inst instanceof PyObject) {
      const state = this.value(stateItem);
      // A (dict_state, slots_state) pair is how objects with __slots__ pickle their state.
      const parts = state instanceof PyTuple ? state.items : [state];
      for (const part of parts) {
        if (part === null) continue;
        if (!(part instanceof Map)) this.corrupt(`state of ${inst.className} is not a dict`);
        for (const [k, v] of part) {
          if (typeof k !== 'string') this.corrupt(`attribute name of ${inst.className} is not a string`);
          inst.attrs[k] = v;
        }
      }
    } else if (inst instanceof NpDType) {
      // numpy.dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags).
      const state = this.value(stateItem);
      if (!(state instanceof PyTuple) || typeof state.items[1] !== 'string') {
        this.corrupt('bad numpy dtype state');
      }
      inst.order = state.items[1];
    } else if (inst instanceof Map || isHostTensor(inst)) {
      // Instance attributes of a dict (state_dict()'s `_metadata` version table) or of a tensor: they
      // are parsed (so they pass the same checks) and dropped; lape keeps a dict's items only.
      this.value(stateItem);
    } else {
      this.fail(`pickle sets the state of ${describeItem(inst)}, which lape does not do`);
    }
  }

  private tensorArg(item: Item, what: string): HostTensor {
    if (!isHostTensor(item)) this.corrupt(`${what} of something that is not a tensor`);
    return item;
  }

  private persistentLoad(pidItem: Item): Storage {
    const pid = pidItem instanceof RawTuple ? pidItem.items : null;
    const tag = pid?.[0] instanceof Uint8Array ? latin1(pid[0]) : pid?.[0];
    if (!pid || tag !== 'storage' || pid.length !== 5) {
      this.fail(`pickle has a persistent id that is not a torch storage (${describeItem(pidItem)})`);
    }
    const [, type, key, location, numel] = pid;
    if (!(type instanceof StorageType)) this.corrupt('storage id without a storage type');
    if (typeof key !== 'string' || typeof location !== 'string' || typeof numel !== 'number' || numel < 0) {
      this.corrupt('malformed storage id');
    }
    if (type.dtype === null) {
      this.fail(`tensor storage '${key}' has type torch.${type.name}, whose dtype lape does not support`);
    }
    const cached = this.storages.get(key);
    if (cached) {
      if (cached.dtype !== type.dtype) this.fail(`storage '${key}' is used with two dtypes`);
      return cached;
    }
    const load = this.options.loadStorage;
    if (!load) this.fail('pickle refers to a tensor storage, but no storage source was given');
    let bytes = load({ key, dtype: type.dtype, numel, location });
    const need = numel * DTYPE_SIZE[type.dtype];
    if (bytes.byteLength < need) {
      this.fail(
        `storage '${key}' has ${bytes.byteLength} bytes but the pickle says it holds ${numel} ${type.dtype} (${need} bytes)`,
      );
    }
    // Typed arrays need element-aligned offsets; copy the rare misaligned buffer once.
    if (bytes.byteOffset % DTYPE_SIZE[type.dtype] !== 0) bytes = bytes.slice();
    const storage = new Storage(key, type.dtype, bytes, numel);
    this.storages.set(key, storage);
    return storage;
  }

  private intList(item: Item, what: string): number[] {
    const v = this.value(item);
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
    if (
      !items ||
      !items.every((d): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
    ) {
      this.corrupt(`tensor ${what} is not a tuple of non-negative integers`);
    }
    return [...items];
  }

  /** `_rebuild_tensor_v2`: the (possibly strided, offset) view of a storage, copied into a dense tensor. */
  private rebuildTensor(storageItem: Item, offsetItem: Item, sizeItem: Item, strideItem: Item): HostTensor {
    if (!(storageItem instanceof Storage)) {
      this.corrupt('tensor rebuilt from something that is not a storage');
    }
    const storage = storageItem;
    const shape = this.intList(sizeItem, 'size');
    const stride = this.intList(strideItem, 'stride');
    const offset = offsetItem;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      this.corrupt('tensor storage offset is not a non-negative integer');
    }
    if (stride.length !== shape.length) this.corrupt('tensor size and stride differ in length');
    let numel: number;
    try {
      numel = numelOf(shape);
    } catch (err) {
      this.corrupt((err as Error).message);
    }
    const out = emptyTensor(storage.dtype, shape);
    if (numel === 0) return out;
    let last = offset;
    for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
    if (last >= storage.numel) {
      this.fail(
        `storage '${storage.key}' is too small for a tensor of shape [${shape}] (offset ${offset}, strides [${stride}]): ` +
          `it needs ${last + 1} elements, the storage has ${storage.numel}`,
      );
    }
    gatherStrided(storage.bytes, tensorBytes(out), DTYPE_SIZE[storage.dtype], offset, shape, stride);
    return out;
  }

  private numpyScalar(dtype: NpDType, raw: Uint8Array): PyValue {
    const kind = dtype.code.replace(/^[<>=|]/, '');
    const order = /^[<>=|]/.test(dtype.code) ? dtype.code[0] : dtype.order;
    const size = Number(kind.slice(1));
    if (!/^[fiub]\d+$/.test(kind) || raw.length !== size) {
      this.fail(`pickle holds a numpy scalar of dtype '${dtype.code}', which lape does not load`);
    }
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const le = order !== '>';
    switch (kind) {
      case 'f2':
        return halfBitsToFloat(view.getUint16(0, le));
      case 'f4':
        return view.getFloat32(0, le);
      case 'f8':
        return view.getFloat64(0, le);
      case 'i1':
        return view.getInt8(0);
      case 'i2':
        return view.getInt16(0, le);
      case 'i4':
        return view.getInt32(0, le);
      case 'i8':
        return pyInt(view.getBigInt64(0, le));
      case 'u1':
        return view.getUint8(0);
      case 'u2':
        return view.getUint16(0, le);
      case 'u4':
        return view.getUint32(0, le);
      case 'u8':
        return pyInt(view.getBigUint64(0, le));
      case 'b1':
        return raw[0] !== 0;
      default:
        this.fail(`pickle holds a numpy scalar of dtype '${dtype.code}', which lape does not load`);
    }
  }
}

/**
 * Copies the strided view (offset, shape, stride in elements) of `src` into the dense `dst`. Elements
 * are moved as whole 1/2/4-byte words, or pairs of 4-byte words for 8-byte dtypes, so values (NaN
 * payloads included) are copied bit for bit.
 */
function gatherStrided(
  src: Uint8Array,
  dst: Uint8Array,
  itemSize: number,
  offset: number,
  shape: readonly number[],
  stride: readonly number[],
): void {
  const words = itemSize === 8 ? 2 : 1;
  const wordSize = itemSize / words;
  const view = (b: Uint8Array): Uint8Array | Uint16Array | Uint32Array => {
    const n = Math.floor(b.byteLength / wordSize);
    if (wordSize === 1) return new Uint8Array(b.buffer, b.byteOffset, n);
    if (wordSize === 2) return new Uint16Array(b.buffer, b.byteOffset, n);
    return new Uint32Array(b.buffer, b.byteOffset, n);
  };
  const s = view(src);
  const d = view(dst);
  const ndim = shape.length;
  // Contiguous (C-order) views are one block copy.
  let contiguous = true;
  for (let k = ndim - 1, expect = 1; k >= 0; k--) {
    if (shape[k] !== 1 && stride[k] !== expect) contiguous = false;
    expect *= shape[k];
  }
  const n = dst.byteLength / itemSize;
  if (contiguous) {
    d.set(s.subarray(offset * words, (offset + n) * words));
    return;
  }
  const inner = ndim > 0 ? shape[ndim - 1] : 1;
  const innerStride = ndim > 0 ? stride[ndim - 1] : 0;
  const index = new Array<number>(Math.max(ndim - 1, 0)).fill(0);
  let base = offset;
  for (let o = 0; o < n; o += inner) {
    for (let i = 0, at = base; i < inner; i++, at += innerStride) {
      for (let w = 0; w < words; w++) d[(o + i) * words + w] = s[at * words + w];
    }
    // Advance the outer multi-index like an odometer.
    for (let k = ndim - 2; k >= 0; k--) {
      base += stride[k];
      if (++index[k] < shape[k]) break;
      base -= stride[k] * shape[k];
      index[k] = 0;
    }
  }
}

/** Python's raw-unicode-escape: only \uXXXX and \UXXXXXXXX are escapes; other chars are latin-1. */
function decodeRawUnicodeEscape(text: string): string {
  return text.replace(
    /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
    (_, u4: string | undefined, u8: string | undefined) =>
      String.fromCodePoint(parseInt((u4 ?? u8) as string, 16)),
  );
}

function describeValue(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Map) return 'dict';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PySet) return v.frozen ? 'frozenset' : 'set';
  if (v instanceof PyObject) return v.className;
  if (v instanceof PyGlobalRef) return v.toString();
  if (v instanceof Uint8Array) return 'bytes';
  if (isHostTensor(v)) return 'tensor';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  return typeof v === 'number' && !Number.isInteger(v) ? 'float' : 'int';
}

function describeItem(item: Item): string {
  return item instanceof Internal ? item.describe() : describeValue(item);
}

// ---------------------------------------------------------------------------------------------------
// Writer

/** Where a tensor's elements go: the pth writer assigns each distinct tensor a storage record. */
export type StorageAssigner = (tensor: HostTensor) => { key: string };

export interface PickleOptions {
  /** Named in error messages. */
  file: string;
  /** Called for each tensor; the pickle refers to the storage by the returned key. */
  assignStorage: StorageAssigner;
}

/** Growable byte buffer. */
class ByteWriter {
  private buf = new Uint8Array(1024);
  private len = 0;
  private readonly scratch = new DataView(new ArrayBuffer(8));
  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  u16(v: number): void {
    this.scratch.setUint16(0, v, true);
    this.bytes(new Uint8Array(this.scratch.buffer, 0, 2));
  }
  i32(v: number): void {
    this.scratch.setInt32(0, v, true);
    this.bytes(new Uint8Array(this.scratch.buffer, 0, 4));
  }
  u32(v: number): void {
    this.scratch.setUint32(0, v, true);
    this.bytes(new Uint8Array(this.scratch.buffer, 0, 4));
  }
  f64be(v: number): void {
    this.scratch.setFloat64(0, v, false);
    this.bytes(new Uint8Array(this.scratch.buffer, 0, 8));
  }
  ascii(s: string): void {
    for (let i = 0; i < s.length; i++) this.byte(s.charCodeAt(i));
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const UTF8_ENCODER = new TextEncoder();
/** Python's pickler batches APPENDS/SETITEMS in groups of this size. */
const BATCH = 1000;

/**
 * Serializes a value as a protocol-2 pickle the way torch.save does: dicts (Maps) as dicts, tensors as
 * `_rebuild_tensor_v2` of a persistent storage id, PyObjects as `argparse.Namespace`-style objects.
 * Integers within 2^53 (and bigints) are written as Python ints, other numbers as floats.
 */
export function pickle(value: PyValue, options: PickleOptions): Uint8Array {
  return withCheckpointErrors(options.file, 'cannot write pickle', () => new Pickler(options).dump(value));
}

class Pickler {
  private readonly w = new ByteWriter();
  private readonly memo = new Map<string, number>();
  private readonly active = new Set<object>();

  constructor(private readonly options: PickleOptions) {}

  private fail(problem: string): never {
    throw new CheckpointError(this.options.file, problem);
  }

  dump(value: PyValue): Uint8Array {
    this.w.byte(OP.PROTO);
    this.w.byte(2);
    this.save(value);
    this.w.byte(OP.STOP);
    return this.w.result();
  }

  /** GLOBAL, memoized so each name is spelled out once (as Python's pickler does). */
  private global(module: string, name: string): void {
    const full = `${module}\n${name}\n`;
    const index = this.memo.get(full);
    if (index !== undefined) {
      if (index < 256) {
        this.w.byte(OP.BINGET);
        this.w.byte(index);
      } else {
        this.w.byte(OP.LONG_BINGET);
        this.w.u32(index);
      }
      return;
    }
    this.w.byte(OP.GLOBAL);
    this.w.ascii(full);
    const slot = this.memo.size;
    this.memo.set(full, slot);
    if (slot < 256) {
      this.w.byte(OP.BINPUT);
      this.w.byte(slot);
    } else {
      this.w.byte(OP.LONG_BINPUT);
      this.w.u32(slot);
    }
  }

  private int(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v < 256) {
      this.w.byte(OP.BININT1);
      this.w.byte(v);
    } else if (typeof v === 'number' && v >= 0 && v < 65536) {
      this.w.byte(OP.BININT2);
      this.w.u16(v);
    } else if (typeof v === 'number' && v >= -0x80000000 && v <= 0x7fffffff) {
      this.w.byte(OP.BININT);
      this.w.i32(v);
    } else {
      // LONG1: minimal little-endian two's complement.
      let x = BigInt(v);
      const bytes: number[] = [];
      while (true) {
        bytes.push(Number(x & 0xffn));
        x >>= 8n; // arithmetic shift: ends at 0 or -1
        const signBit = (bytes[bytes.length - 1] & 0x80) !== 0;
        if ((x === 0n && !signBit) || (x === -1n && signBit)) break;
      }
      if (bytes.length > 255) this.fail(`integer ${v} is too large to write`);
      this.w.byte(OP.LONG1);
      this.w.byte(bytes.length);
      this.w.bytes(Uint8Array.from(bytes));
    }
  }

  private str(s: string): void {
    const b = UTF8_ENCODER.encode(s);
    this.w.byte(OP.BINUNICODE);
    this.w.u32(b.length);
    this.w.bytes(b);
  }

  /** A tuple of already-known length: EMPTY_TUPLE, TUPLE1-3 or MARK ... TUPLE. */
  private tuple(items: readonly (() => void)[]): void {
    if (items.length === 0) {
      this.w.byte(OP.EMPTY_TUPLE);
      return;
    }
    if (items.length > 3) this.w.byte(OP.MARK);
    for (const f of items) f();
    this.w.byte(items.length <= 3 ? [OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length - 1] : OP.TUPLE);
  }

  private enter(o: object): void {
    if (this.active.has(o)) this.fail('cannot write a value that contains itself');
    this.active.add(o);
  }

  private save(v: PyValue): void {
    const w = this.w;
    if (v === null) w.byte(OP.NONE);
    else if (v === true) w.byte(OP.NEWTRUE);
    else if (v === false) w.byte(OP.NEWFALSE);
    else if (typeof v === 'bigint') this.int(v);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) this.int(v);
      else {
        w.byte(OP.BINFLOAT);
        w.f64be(v);
      }
    } else if (typeof v === 'string') this.str(v);
    else if (v instanceof Uint8Array) {
      // Protocol 2 has no bytes opcode; Python writes _codecs.encode(latin1 text, 'latin1').
      if (v.length === 0) {
        this.global('__builtin__', 'bytes');
        w.byte(OP.EMPTY_TUPLE);
      } else {
        this.global('_codecs', 'encode');
        this.tuple([() => this.str(latin1(v)), () => this.str('latin1')]);
      }
      w.byte(OP.REDUCE);
    } else if (Array.isArray(v)) {
      this.enter(v);
      w.byte(OP.EMPTY_LIST);
      for (let i = 0; i < v.length; i += BATCH) {
        w.byte(OP.MARK);
        for (const x of v.slice(i, i + BATCH)) this.save(x);
        w.byte(OP.APPENDS);
      }
      this.active.delete(v);
    } else if (v instanceof PyTuple) {
      this.enter(v);
      this.tuple(v.items.map((x) => () => this.save(x)));
      this.active.delete(v);
    } else if (v instanceof Map) {
      this.enter(v);
      w.byte(OP.EMPTY_DICT);
      this.dictItems(v);
      this.active.delete(v);
    } else if (v instanceof PySet) {
      this.enter(v);
      this.global('__builtin__', v.frozen ? 'frozenset' : 'set');
      this.tuple([() => this.save([...v.items])]);
      w.byte(OP.REDUCE);
      this.active.delete(v);
    } else if (v instanceof PyObject) {
      // Like Python: cls.__new__(cls) via NEWOBJ, then the attribute dict through BUILD.
      this.enter(v);
      const dot = v.className.lastIndexOf('.');
      if (dot <= 0) this.fail(`cannot write an object of class '${v.className}' (needs module.name)`);
      this.global(v.className.slice(0, dot), v.className.slice(dot + 1));
      w.byte(OP.EMPTY_TUPLE);
      w.byte(OP.NEWOBJ);
      w.byte(OP.EMPTY_DICT);
      this.dictItems(new Map(Object.entries(v.attrs)));
      w.byte(OP.BUILD);
      this.active.delete(v);
    } else if (v instanceof PyGlobalRef) {
      this.global(v.module, v.name);
    } else if (isHostTensor(v)) {
      this.tensor(v);
    } else {
      this.fail(`cannot write a value of type ${Object.prototype.toString.call(v)}`);
    }
  }

  private dictItems(d: ReadonlyMap<PyKey, PyValue>): void {
    const entries = [...d];
    for (let i = 0; i < entries.length; i += BATCH) {
      this.w.byte(OP.MARK);
      for (const [k, x] of entries.slice(i, i + BATCH)) {
        this.save(k);
        this.save(x);
      }
      this.w.byte(OP.SETITEMS);
    }
  }

  /** `_rebuild_tensor_v2(('storage', torch.XStorage, key, 'cpu', numel), 0, size, stride, False, OrderedDict())` */
  private tensor(t: HostTensor): void {
    let numel: number;
    try {
      numel = numelOf(t.shape);
    } catch (err) {
      this.fail(`tensor has an invalid shape: ${(err as Error).message}`);
    }
    if (t.data.length !== numel) this.fail(`tensor of shape [${t.shape}] has ${t.data.length} elements`);
    const { key } = this.options.assignStorage(t);
    const stride = new Array<number>(t.shape.length);
    for (let k = t.shape.length - 1, s = 1; k >= 0; k--) {
      stride[k] = s;
      s *= t.shape[k];
    }
    const w = this.w;
    this.global('torch._utils', '_rebuild_tensor_v2');
    w.byte(OP.MARK);
    this.tuple([
      () => this.str('storage'),
      () => this.global('torch', STORAGE_NAME_BY_DTYPE[t.dtype]),
      () => this.str(key),
      () => this.str('cpu'),
      () => this.int(numel),
    ]);
    w.byte(OP.BINPERSID);
    this.int(0);
    this.tuple(t.shape.map((d) => () => this.int(d)));
    this.tuple(stride.map((d) => () => this.int(d)));
    w.byte(OP.NEWFALSE);
    this.global('collections', 'OrderedDict');
    w.byte(OP.EMPTY_TUPLE);
    w.byte(OP.REDUCE);
    w.byte(OP.TUPLE);
    w.byte(OP.REDUCE);
  }
}
