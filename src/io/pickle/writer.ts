/**
 * The pickle writer: protocol 2, the protocol torch.save uses, with tensors as persistent ids of
 * storages and only opcodes that PyTorch 1.13's `weights_only=True` loader accepts (except BINFLOAT).
 */
import { CheckpointError, withCheckpointErrors } from '../errors.js';
import { type HostTensor, isHostTensor, numelOf } from '../host_tensor.js';
import { STORAGE_NAME_BY_DTYPE } from './globals.js';
import { OP } from './opcodes.js';
import { latin1 } from './text.js';
import { type PyKey, PyGlobalRef, PyObject, PySet, PyTuple, type PyValue } from './values.js';

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
 * Integers within 2^53 (and bigints) are written as Python ints, other numbers as floats. An object
 * that occurs more than once is written once and referred to through the memo (as Python does), so a
 * value with shared parts is written in time and space proportional to its distinct objects.
 */
export function pickle(value: PyValue, options: PickleOptions): Uint8Array {
  return withCheckpointErrors(options.file, 'cannot write pickle', () => new Pickler(options).dump(value));
}

/** Objects the writer may meet more than once: containers, byte strings and tensors. */
function isShareable(v: PyValue): v is Exclude<PyValue, null | boolean | number | bigint | string> {
  return typeof v === 'object' && v !== null && !(v instanceof PyGlobalRef);
}

/** How often each shareable object occurs in `root` (each visited once, iteratively). */
function countReferences(root: PyValue): Map<object, number> {
  const counts = new Map<object, number>();
  const todo: PyValue[] = [root];
  while (todo.length > 0) {
    const v = todo.pop() as PyValue;
    if (!isShareable(v)) continue;
    const n = counts.get(v) ?? 0;
    counts.set(v, n + 1);
    if (n > 0) continue;
    if (Array.isArray(v)) todo.push(...v);
    else if (v instanceof PyTuple || v instanceof PySet) todo.push(...v.items);
    else if (v instanceof Map) for (const [k, x] of v) todo.push(k, x);
    else if (v instanceof PyObject) todo.push(...Object.values(v.attrs));
  }
  return counts;
}

class Pickler {
  private readonly w = new ByteWriter();
  /** Memo slots of global names already written. */
  private readonly memo = new Map<string, number>();
  /** Memo slots of shared objects already written. */
  private readonly written = new Map<object, number>();
  private nextSlot = 0;
  private counts = new Map<object, number>();
  private readonly active = new Set<object>();

  constructor(private readonly options: PickleOptions) {}

  private fail(problem: string): never {
    throw new CheckpointError(this.options.file, problem);
  }

  dump(value: PyValue): Uint8Array {
    this.counts = countReferences(value);
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
      this.get(index);
      return;
    }
    this.w.byte(OP.GLOBAL);
    this.w.ascii(full);
    this.memo.set(full, this.put());
  }

  /** Stores the top of the stack in the next memo slot (BINPUT / LONG_BINPUT); returns the slot. */
  private put(): number {
    const slot = this.nextSlot++;
    if (slot < 256) {
      this.w.byte(OP.BINPUT);
      this.w.byte(slot);
    } else {
      this.w.byte(OP.LONG_BINPUT);
      this.w.u32(slot);
    }
    return slot;
  }

  /** Pushes memo slot `slot` (BINGET / LONG_BINGET). */
  private get(slot: number): void {
    if (slot < 256) {
      this.w.byte(OP.BINGET);
      this.w.byte(slot);
    } else {
      this.w.byte(OP.LONG_BINGET);
      this.w.u32(slot);
    }
  }

  /** After a shared object's opcodes have pushed it: remember it, so later occurrences refer to it. */
  private memoize(v: object): void {
    if ((this.counts.get(v) ?? 0) > 1) this.written.set(v, this.put());
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
    if (isShareable(v)) {
      if (this.active.has(v)) this.fail('cannot write a value that contains itself');
      const slot = this.written.get(v);
      if (slot !== undefined) {
        this.get(slot);
        return;
      }
      this.saveObject(v);
      this.memoize(v);
    } else {
      this.saveObject(v);
    }
  }

  private saveObject(v: PyValue): void {
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
