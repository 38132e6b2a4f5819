/**
 * The pickle interpreter: reads the opcodes of protocols 0 to 5 into a PyValue without executing
 * anything. Stack, memo and containers live here; what a named global does when called is the
 * Rebuilder's business (rebuild.ts), and which names exist at all is the allow-list's (globals.ts).
 */
import { CheckpointError, withCheckpointErrors } from '../errors.js';
import { ReadBudget, type ReadLimits } from '../limits.js';
import { quote } from '../sanitize.js';
import { checkGraph } from './graph.js';
import { type Item, Internal, RawTuple, RefusedTensor, resolveGlobal } from './globals.js';
import { OP } from './opcodes.js';
import { Rebuilder, type StorageLoader, type UnpicklerContext } from './rebuild.js';
import { decodeLong, decodeRawUnicodeEscape, latin1, pyInt } from './text.js';
import { type PyDict, type PyKey, PySet, PyTuple, type PyValue, describeValue } from './values.js';

export interface UnpickleOptions {
  /** Named in every error message. */
  file: string;
  /** Resolves persistent ids; without it a pickle that refers to a storage is an error. */
  loadStorage?: StorageLoader;
  /** Resource limits (see limits.ts); default: the current default limits. */
  limits?: Partial<ReadLimits>;
  /** A budget shared with the reader of the surrounding file (overrides `limits`). */
  budget?: ReadBudget;
}

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

export function unpickle(data: Uint8Array, options: UnpickleOptions): PyValue {
  // The safety net turns e.g. a RangeError from absurdly deep nesting into a CheckpointError.
  return withCheckpointErrors(options.file, 'cannot read pickle', () => new Unpickler(data, options).load());
}

class Unpickler implements UnpicklerContext {
  readonly file: string;
  private readonly r: ByteReader;
  private stack: Item[] = [];
  private readonly metastack: Item[][] = [];
  private readonly memo = new Map<number, Item>();
  private readonly rebuild: Rebuilder;
  private readonly budget: ReadBudget;
  /** RawTuples already converted to values: a shared tuple stays one shared PyTuple. */
  private readonly converted = new WeakMap<RawTuple, PyTuple>();
  private opcodeAt = 0;

  constructor(data: Uint8Array, options: UnpickleOptions) {
    this.file = options.file;
    this.budget = options.budget ?? new ReadBudget(options.file, options.limits, data.byteLength);
    this.r = new ByteReader(data, (problem) => this.fail(problem));
    this.rebuild = new Rebuilder(this, this.budget, options.loadStorage);
  }

  fail(problem: string): never {
    throw new CheckpointError(this.file, problem);
  }

  corrupt(problem: string): never {
    this.fail(`corrupt pickle: ${problem} (opcode at offset ${this.opcodeAt})`);
  }

  /** Pushes onto the current stack (read at call time: popMark() may have just replaced it). */
  private push(item: Item): void {
    this.budget.objectsCreated(1);
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
  value(item: Item): PyValue {
    if (item instanceof RawTuple) {
      let t = this.converted.get(item);
      if (t === undefined) {
        this.budget.objectsCreated(item.items.length);
        t = new PyTuple(item.items.map((x) => this.value(x)));
        this.converted.set(item, t);
      }
      return t;
    }
    if (item instanceof RefusedTensor) this.fail(`pickle holds a tensor that ${item.problem}`);
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
    this.budget.objectsCreated(items.length);
    if (!items.some((x) => x instanceof Internal)) return new PyTuple(items as PyValue[]);
    let depth = 1;
    for (const x of items) if (x instanceof RawTuple) depth = Math.max(depth, x.depth + 1);
    this.budget.depth(depth, 'pickle tuples');
    return new RawTuple(items, depth);
  }

  /** The items of a container built from the stack: each counts against the object budget. */
  private values(items: Item[]): PyValue[] {
    this.budget.objectsCreated(items.length);
    return items.map((x) => this.value(x));
  }

  private memoPut(index: number): void {
    this.budget.objectsCreated(1);
    this.memo.set(index, this.top());
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
          checkGraph(result, this.budget, (problem) => this.fail(problem));
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
          this.budget.depth(this.metastack.length, 'pickle MARKs');
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
          this.push(this.values(this.popMark()));
          break;
        case OP.APPEND: {
          const item = this.value(this.pop());
          this.budget.objectsCreated(1);
          this.listOnTop('APPEND').push(item);
          break;
        }
        case OP.APPENDS: {
          const items = this.values(this.popMark());
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
          const items = this.values(this.popMark());
          const set = this.top();
          if (!(set instanceof PySet) || set.frozen) this.corrupt('ADDITEMS target is not a set');
          set.items.push(...items);
          break;
        }
        case OP.FROZENSET:
          this.push(new PySet(this.values(this.popMark()), true));
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
          this.memoPut(this.parseIndex(r.line()));
          break;
        case OP.BINPUT:
          this.memoPut(r.u8());
          break;
        case OP.LONG_BINPUT:
          this.memoPut(r.u32());
          break;
        case OP.MEMOIZE:
          this.memoPut(this.memo.size);
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
          this.push(this.rebuild.call(fn, this.args(args, 'REDUCE')));
          break;
        }
        case OP.NEWOBJ: {
          const args = this.pop();
          const cls = this.pop();
          this.push(this.rebuild.instantiate(cls, this.args(args, 'NEWOBJ')));
          break;
        }
        case OP.NEWOBJ_EX: {
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!(kwargs instanceof Map) || kwargs.size > 0) this.corrupt('NEWOBJ_EX with keyword arguments');
          this.push(this.rebuild.instantiate(cls, this.args(args, 'NEWOBJ_EX')));
          break;
        }
        case OP.INST: {
          const cls = resolveGlobal(this.file, r.line(), r.line());
          this.push(this.rebuild.instantiate(cls, this.popMark()));
          break;
        }
        case OP.OBJ: {
          const [cls, ...args] = this.popMark();
          if (cls === undefined) this.corrupt('OBJ without a class');
          this.push(this.rebuild.instantiate(cls, args));
          break;
        }
        case OP.BUILD: {
          const state = this.pop();
          this.rebuild.build(this.top(), state);
          break;
        }
        case OP.PERSID:
          this.fail('pickle uses a text persistent id (protocol 0), which torch.save never writes');
          break;
        case OP.BINPERSID:
          this.push(this.rebuild.persistentLoad(this.pop()));
          break;
        default:
          this.corrupt(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }

  private parseInt(text: string): number | bigint {
    if (!/^[+-]?\d+$/.test(text)) this.corrupt(`bad integer literal ${quote(text, 40)}`);
    // Decimal-to-bigint conversion is quadratic; Python itself refuses more digits than this.
    if (text.length > 4300) this.corrupt(`integer literal of ${text.length} digits (at most 4300 are read)`);
    return pyInt(BigInt(text));
  }

  private parseFloat(text: string): number {
    const t = text.trim().toLowerCase();
    if (t === 'nan' || t === '-nan') return NaN;
    if (t === 'inf' || t === '+inf') return Infinity;
    if (t === '-inf') return -Infinity;
    const v = Number(t);
    if (t === '' || Number.isNaN(v)) this.corrupt(`bad float literal ${quote(text, 40)}`);
    return v;
  }

  private parseIndex(text: string): number {
    if (!/^\d+$/.test(text)) this.corrupt(`bad memo index ${quote(text, 40)}`);
    return Number(text);
  }

  /** STRING's argument: a Python 2 bytes literal such as 'a\n\x00' (quoted, with escapes). */
  private parseQuotedBytes(text: string): Uint8Array {
    const q = text[0];
    if (text.length < 2 || (q !== "'" && q !== '"') || text[text.length - 1] !== q) {
      this.corrupt('STRING argument is not quoted');
    }
    const body = text.slice(1, -1);
    // Each character gives at most one byte (an unknown escape gives its two characters back).
    const out = new Uint8Array(body.length);
    let n = 0;
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
    const isOctal = (ch: string | undefined): boolean => ch !== undefined && ch >= '0' && ch <= '7';
    for (let i = 0; i < body.length; i++) {
      const c = body[i];
      if (c !== '\\') {
        out[n++] = body.charCodeAt(i) & 0xff;
        continue;
      }
      const e = body[++i];
      if (e === undefined) this.corrupt('STRING ends in a backslash');
      if (e in simple) out[n++] = simple[e];
      else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 1, i + 3))) {
        out[n++] = parseInt(body.slice(i + 1, i + 3), 16);
        i += 2;
      } else if (isOctal(e)) {
        let len = 1;
        while (len < 3 && isOctal(body[i + len])) len++;
        out[n++] = parseInt(body.slice(i, i + len), 8) & 0xff;
        i += len - 1;
      } else {
        out[n++] = 92; // unknown escapes stay as written, as in Python
        out[n++] = body.charCodeAt(i) & 0xff;
      }
    }
    return out.slice(0, n);
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

  setItems(dict: PyDict, items: Item[]): void {
    if (items.length % 2 !== 0) this.corrupt('odd number of items for a dict');
    this.budget.objectsCreated(items.length / 2);
    for (let i = 0; i < items.length; i += 2) {
      const key = this.key(items[i]);
      const v = items[i + 1];
      // A tensor a limit refused is reported here, where its name is known.
      if (v instanceof RefusedTensor) this.fail(`tensor ${quote(describeKey(key))} ${v.problem}`);
      dict.set(key, this.value(v));
    }
  }

  args(item: Item, op: string): Item[] {
    if (item instanceof PyTuple) {
      this.budget.objectsCreated(item.items.length);
      return [...item.items];
    }
    if (item instanceof RawTuple) return item.items;
    this.corrupt(`${op} arguments are not a tuple`);
  }
}

/** A dict key as text for messages. */
function describeKey(key: PyKey): string {
  if (key instanceof PyTuple) return `(${key.items.map((x) => String(x)).join(', ')})`;
  return String(key);
}
