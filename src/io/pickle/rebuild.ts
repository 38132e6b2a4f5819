/**
 * The allow-listed callables, re-implemented: what REDUCE, NEWOBJ/INST/OBJ, BUILD and BINPERSID do for
 * each name the allow-list admits. Tensors are rebuilt from torch storages (`_rebuild_tensor_v2` and
 * its parameter/subclass wrappers), numpy scalars from their dtype and raw bytes; containers and
 * argparse.Namespace objects as plain values.
 */
import {
  DTYPE_SIZE,
  type HostDType,
  type HostTensor,
  emptyTensor,
  halfBitsToFloat,
  isHostTensor,
  numelOf,
  tensorBytes,
  tensorOverBytes,
} from '../host_tensor.js';
import { type ReadBudget, formatBytes } from '../limits.js';
import { quote } from '../sanitize.js';
import {
  Global,
  type Item,
  NpDType,
  RawTuple,
  RefusedTensor,
  Storage,
  StorageType,
  describeItem,
} from './globals.js';
import { latin1, pyInt } from './text.js';
import { type PyDict, PyObject, PySet, PyTuple, type PyValue } from './values.js';

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

/** What the rebuilders need from the interpreter: its errors and its value conversions. */
export interface UnpicklerContext {
  /** Named in every error message. */
  readonly file: string;
  /** Throws a CheckpointError for a well-formed pickle that lape refuses. */
  fail(problem: string): never;
  /** Throws a CheckpointError for a malformed pickle (names the opcode's offset). */
  corrupt(problem: string): never;
  /** An item used as a value: internal items are refused. */
  value(item: Item): PyValue;
  /** Fills a dict from alternating keys and values. */
  setItems(dict: PyDict, items: Item[]): void;
  /** The items of an argument tuple. */
  args(item: Item, op: string): Item[];
}

/** The allow-listed callables and classes for one unpickle (it caches the storages it loaded). */
export class Rebuilder {
  private readonly storages = new Map<string, Storage>();
  /** `_codecs.encode` results by text. */
  private readonly encoded = new Map<string, Uint8Array>();

  constructor(
    private readonly u: UnpicklerContext,
    private readonly budget: ReadBudget,
    private readonly loadStorage: StorageLoader | undefined,
  ) {}

  private expectGlobal(fn: Item, what: string): Global {
    if (!(fn instanceof Global)) {
      this.u.fail(`pickle calls ${describeItem(fn)} as ${what}, which lape does not do`);
    }
    return fn;
  }

  /** REDUCE: `fn(*args)` for the allow-listed callables, each re-implemented here. */
  call(fnItem: Item, args: Item[]): Item {
    const fn = this.expectGlobal(fnItem, 'a function');
    const arity = (min: number, max = min): void => {
      if (args.length < min || args.length > max) {
        this.u.corrupt(`${fn.fullName} called with ${args.length} arguments`);
      }
    };
    switch (fn.kind) {
      case 'OrderedDict': {
        arity(0, 1);
        const dict: PyDict = new Map();
        // OrderedDict(iterable_of_pairs), which older pickles may use.
        if (args.length === 1) {
          const pairs = this.u.value(args[0]);
          if (!Array.isArray(pairs)) this.u.corrupt('OrderedDict argument is not a list');
          for (const p of pairs) {
            if (!(p instanceof PyTuple) || p.items.length !== 2) {
              this.u.corrupt('OrderedDict item is not a pair');
            }
            this.u.setItems(dict, [p.items[0], p.items[1]]);
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
          this.u.fail(`pickle rebuilds a tensor as ${type.fullName}, which lape does not load`);
        }
        return this.tensorArg(this.call(args[0], this.u.args(args[2], fn.fullName)), fn.fullName);
      }
      case 'Size': {
        arity(1);
        const dims = this.u.value(args[0]);
        const items = dims instanceof PyTuple ? dims.items : Array.isArray(dims) ? dims : null;
        if (!items || !items.every((d) => typeof d === 'number'))
          this.u.corrupt('torch.Size of non-integers');
        this.budget.objectsCreated(items.length);
        return new PyTuple([...items]);
      }
      case 'set':
      case 'frozenset': {
        arity(0, 1);
        const items = args.length ? this.u.value(args[0]) : [];
        if (!Array.isArray(items)) this.u.corrupt(`${fn.fullName} argument is not a list`);
        this.budget.objectsCreated(items.length);
        return new PySet([...items], fn.kind === 'frozenset');
      }
      case 'bytes':
      case 'bytearray': {
        arity(0, 1);
        if (args.length === 0) return new Uint8Array(0);
        const src = this.u.value(args[0]);
        // Shared, not copied: lape never mutates loaded bytes, and a pickle that rebuilds one memoized
        // value a million times must not make a million copies.
        if (src instanceof Uint8Array) return src;
        this.u.corrupt(`${fn.fullName} of a non-bytes value`);
      }
      case 'codecs_encode': {
        // Protocol 2 writes bytes as _codecs.encode(text, 'latin1'): each char is one byte.
        arity(2);
        const [text, encoding] = args;
        if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
          this.u.fail(
            `pickle calls _codecs.encode with an encoding other than latin1, which lape does not do`,
          );
        }
        // The same text encodes to the same (shared) bytes: repeating a memoized call costs nothing.
        const known = this.encoded.get(text);
        if (known !== undefined) return known;
        const out = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) {
          const c = text.charCodeAt(i);
          if (c > 0xff) this.u.corrupt('latin1 text with a character above U+00FF');
          out[i] = c;
        }
        this.encoded.set(text, out);
        return out;
      }
      case 'reconstructor': {
        // copyreg._reconstructor(cls, object, None): protocols 0-1 create plain instances this way.
        arity(3);
        const base = this.expectGlobal(args[1], 'a base class');
        if (base.kind !== 'object' || args[2] !== null) {
          this.u.corrupt('unsupported copyreg._reconstructor call');
        }
        return this.instantiate(args[0], []);
      }
      case 'np_dtype': {
        arity(1, 3);
        const code = args[0];
        if (typeof code !== 'string') this.u.corrupt('numpy.dtype of a non-string');
        return new NpDType(code);
      }
      case 'np_scalar': {
        arity(1, 2);
        const [dtype, raw] = args;
        if (!(dtype instanceof NpDType) || !(raw instanceof Uint8Array)) this.u.corrupt('bad numpy scalar');
        return this.numpyScalar(dtype, raw);
      }
    }
  }

  /** NEWOBJ / INST / OBJ: creating an instance of an allow-listed class. */
  instantiate(clsItem: Item, args: Item[]): Item {
    const cls = this.expectGlobal(clsItem, 'a class');
    switch (cls.kind) {
      case 'Namespace':
        // argparse.Namespace(**kwargs) is never pickled with arguments: its attributes come via BUILD.
        if (args.length !== 0) this.u.corrupt('argparse.Namespace created with arguments');
        return new PyObject('argparse.Namespace');
      case 'OrderedDict':
        return this.call(cls, args);
      case 'Parameter':
        // torch.nn.Parameter(data, requires_grad) as older pickles construct it.
        if (args.length < 1 || args.length > 2) this.u.corrupt('Parameter created with bad arguments');
        return this.tensorArg(args[0], cls.fullName);
      case 'set':
      case 'frozenset':
        return this.call(cls, args);
      default:
        this.u.fail(`pickle creates an instance of ${cls.fullName}, which lape does not load`);
    }
  }

  /** BUILD: setting an object's state. */
  build(inst: Item, stateItem: Item): void {
    if (inst instanceof PyObject) {
      const state = this.u.value(stateItem);
      // A (dict_state, slots_state) pair is how objects with __slots__ pickle their state.
      const parts = state instanceof PyTuple ? state.items : [state];
      for (const part of parts) {
        if (part === null) continue;
        if (!(part instanceof Map)) this.u.corrupt(`state of ${inst.className} is not a dict`);
        for (const [k, v] of part) {
          if (typeof k !== 'string') this.u.corrupt(`attribute name of ${inst.className} is not a string`);
          inst.attrs[k] = v;
        }
      }
    } else if (inst instanceof NpDType) {
      // numpy.dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags).
      const state = this.u.value(stateItem);
      if (!(state instanceof PyTuple) || typeof state.items[1] !== 'string') {
        this.u.corrupt('bad numpy dtype state');
      }
      inst.order = state.items[1];
    } else if (inst instanceof Map || isHostTensor(inst) || inst instanceof RefusedTensor) {
      // Instance attributes of a dict (state_dict()'s `_metadata` version table) or of a tensor: they
      // are parsed (so they pass the same checks) and dropped; lape keeps a dict's items only.
      this.u.value(stateItem);
    } else {
      this.u.fail(`pickle sets the state of ${describeItem(inst)}, which lape does not do`);
    }
  }

  /** A tensor argument (a refused one passes through, to be reported under its key). */
  private tensorArg(item: Item, what: string): HostTensor | RefusedTensor {
    if (!isHostTensor(item) && !(item instanceof RefusedTensor)) {
      this.u.corrupt(`${what} of something that is not a tensor`);
    }
    return item;
  }

  persistentLoad(pidItem: Item): Storage {
    const pid = pidItem instanceof RawTuple ? pidItem.items : null;
    const tag = pid?.[0] instanceof Uint8Array ? latin1(pid[0]) : pid?.[0];
    if (!pid || tag !== 'storage' || pid.length !== 5) {
      this.u.fail(`pickle has a persistent id that is not a torch storage (${describeItem(pidItem)})`);
    }
    const [, type, key, location, numel] = pid;
    if (!(type instanceof StorageType)) this.u.corrupt('storage id without a storage type');
    if (typeof key !== 'string' || typeof location !== 'string' || typeof numel !== 'number' || numel < 0) {
      this.u.corrupt('malformed storage id');
    }
    if (type.dtype === null) {
      this.u.fail(
        `tensor storage ${quote(key)} has type torch.${type.name}, whose dtype lape does not support`,
      );
    }
    const cached = this.storages.get(key);
    if (cached) {
      if (cached.dtype !== type.dtype) this.u.fail(`storage ${quote(key)} is used with two dtypes`);
      return cached;
    }
    const load = this.loadStorage;
    if (!load) this.u.fail('pickle refers to a tensor storage, but no storage source was given');
    let bytes = load({ key, dtype: type.dtype, numel, location });
    const need = numel * DTYPE_SIZE[type.dtype];
    if (bytes.byteLength < need) {
      this.u.fail(
        `storage ${quote(key)} has ${bytes.byteLength} bytes but the pickle says it holds ${numel} ${type.dtype} (${need} bytes)`,
      );
    }
    // Typed arrays need element-aligned offsets; copy the rare misaligned buffer once.
    if (bytes.byteOffset % DTYPE_SIZE[type.dtype] !== 0) {
      this.budget.allocate(bytes.byteLength, `storage ${quote(key)}`);
      bytes = bytes.slice();
    }
    const storage = new Storage(key, type.dtype, bytes, numel);
    this.storages.set(key, storage);
    return storage;
  }

  private intList(item: Item, what: string): number[] {
    const v = this.u.value(item);
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
    if (
      !items ||
      !items.every((d): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
    ) {
      this.u.corrupt(`tensor ${what} is not a tuple of non-negative integers`);
    }
    return [...items];
  }

  /**
   * `_rebuild_tensor_v2`: the (possibly strided, offset) view of a storage as a dense tensor. The first
   * contiguous view of a storage uses the storage's bytes in place; other views are copied, and an
   * identical view (same offset, shape and strides) is the same tensor. Copies are charged to the read
   * budget before they are made; a view that would pass a limit comes back as a RefusedTensor, reported
   * with its key when it is stored.
   */
  private rebuildTensor(
    storageItem: Item,
    offsetItem: Item,
    sizeItem: Item,
    strideItem: Item,
  ): HostTensor | RefusedTensor {
    if (!(storageItem instanceof Storage)) {
      this.u.corrupt('tensor rebuilt from something that is not a storage');
    }
    const storage = storageItem;
    const shape = this.intList(sizeItem, 'size');
    const stride = this.intList(strideItem, 'stride');
    const offset = offsetItem;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      this.u.corrupt('tensor storage offset is not a non-negative integer');
    }
    if (stride.length !== shape.length) this.u.corrupt('tensor size and stride differ in length');
    let numel: number;
    try {
      numel = numelOf(shape);
    } catch (err) {
      this.u.corrupt((err as Error).message);
    }
    if (numel === 0) return emptyTensor(storage.dtype, shape);
    let last = offset;
    for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
    if (!Number.isSafeInteger(last) || last >= storage.numel) {
      this.u.fail(
        `storage ${quote(storage.key)} is too small for a tensor of shape [${shape}] (offset ${offset}, strides [${stride}]): ` +
          `it needs ${last + 1} elements, the storage has ${storage.numel}`,
      );
    }
    const viewKey = `${offset}|${shape.join(',')}|${stride.join(',')}`;
    const seen = storage.views.get(viewKey);
    if (seen !== undefined) return seen;

    const itemSize = DTYPE_SIZE[storage.dtype];
    const bytes = numel * itemSize;
    const storageBytes = storage.numel * itemSize;
    const contiguous = isContiguous(shape, stride);
    const what = () =>
      `is a view of shape [${shape}] with strides [${stride}] of storage ${quote(storage.key)} ` +
      `(${storage.numel.toLocaleString('en')} ${storage.dtype} element${storage.numel === 1 ? '' : 's'}, ${formatBytes(storageBytes)})`;
    // Bytes beyond the storage's own that this view adds (stride 0, overlaps, several views).
    const excess =
      Math.max(0, storage.viewedBytes + bytes - storageBytes) -
      Math.max(0, storage.viewedBytes - storageBytes);
    const problem = this.budget.problemWith(contiguous && !storage.lent ? 0 : bytes, excess, what);
    if (problem !== null) return new RefusedTensor(problem);
    storage.viewedBytes += bytes;

    let out: HostTensor;
    if (contiguous && !storage.lent) {
      storage.lent = true;
      out = tensorOverBytes(
        storage.dtype,
        shape,
        storage.bytes.subarray(offset * itemSize, (offset + numel) * itemSize),
      );
    } else {
      out = emptyTensor(storage.dtype, shape);
      gatherStrided(storage.bytes, tensorBytes(out), itemSize, offset, shape, stride);
    }
    storage.views.set(viewKey, out);
    return out;
  }

  private numpyScalar(dtype: NpDType, raw: Uint8Array): PyValue {
    const kind = dtype.code.replace(/^[<>=|]/, '');
    const order = /^[<>=|]/.test(dtype.code) ? dtype.code[0] : dtype.order;
    const size = Number(kind.slice(1));
    if (!/^[fiub]\d+$/.test(kind) || raw.length !== size) {
      this.u.fail(`pickle holds a numpy scalar of dtype ${quote(dtype.code)}, which lape does not load`);
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
        this.u.fail(`pickle holds a numpy scalar of dtype ${quote(dtype.code)}, which lape does not load`);
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
  const n = dst.byteLength / itemSize;
  // Contiguous (C-order) views are one block copy.
  if (isContiguous(shape, stride)) {
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

/** Whether a view with these strides is C-contiguous (dimensions of size 1 may have any stride). */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  for (let k = shape.length - 1, expect = 1; k >= 0; k--) {
    if (shape[k] !== 1 && stride[k] !== expect) return false;
    expect *= shape[k];
  }
  return true;
}
