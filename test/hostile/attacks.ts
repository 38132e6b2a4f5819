/**
 * The hostile files of the reliability audit, generated (never committed): pickle and zip bombs,
 * stride-0 and overlapping expansions, self-containing and deeply nested pickles, escape sequences and
 * huge texts in the places a message quotes. `writeAttacks(dir)` writes them all and says what each
 * one's error must mention; `npm run hostile -- DIR` does the same from the command line.
 *
 * The two bombs that really are 600 and 512 MB once inflated take a few seconds to deflate, so they
 * are cached in the system's temporary folder between runs (keyed by CACHE_VERSION).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';

/** One hostile file and what its error must mention. */
export interface Attack {
  /** File name (also the attack's name). */
  readonly name: string;
  readonly format: 'pth' | 'safetensors' | 'npy';
  /** What the audit saw or what it targets. */
  readonly about: string;
  /** The error message must match this (besides naming the file and being clean). */
  readonly expect: RegExp;
}

// ---------------------------------------------------------------------------------------------------
// Building blocks: pickle opcodes and a minimal zip writer (stored or deflated records).

const enc = new TextEncoder();

export function concat(parts: readonly (Uint8Array | number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const u16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];

/** Pickle opcodes used here (a subset of CPython's Lib/pickle.py). */
export const P = {
  proto2: [0x80, 2],
  stop: [0x2e],
  mark: [0x28],
  emptyList: [0x5d],
  emptyDict: [0x7d],
  emptyTuple: [0x29],
  append: [0x61],
  appends: [0x65],
  setitem: [0x73],
  setitems: [0x75],
  tuple: [0x74],
  tuple1: [0x85],
  tuple2: [0x86],
  tuple3: [0x87],
  pop: [0x30],
  reduce: [0x52],
  binpersid: [0x51],
  newfalse: [0x89],
  binput: (i: number): number[] => [0x71, i],
  longBinput: (i: number): number[] => [0x72, ...u32(i)],
  binget: (i: number): number[] => [0x68, i],
  longBinget: (i: number): number[] => [0x6a, ...u32(i)],
  /** BININT for 32-bit values, LONG1 (8 bytes, two's complement) beyond. */
  int: (v: number): number[] => {
    if (v >= -(2 ** 31) && v < 2 ** 31) return [0x4a, ...u32(v)];
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt(v), true);
    return [0x8a, 8, ...b];
  },
  str: (s: string): Uint8Array => {
    const b = enc.encode(s);
    return concat([[0x58, ...u32(b.length)], b]);
  },
  global: (module: string, name: string): Uint8Array => enc.encode(`c${module}\n${name}\n`),
};

/** A tuple of already-encoded items (MARK ... TUPLE). */
export function tupleOf(items: readonly (Uint8Array | number[])[]): Uint8Array {
  return concat([P.mark, ...items, P.tuple]);
}

/** `_rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict())` */
export function rebuildTensor(
  storageKey: string,
  storageNumel: number,
  offset: number,
  size: readonly number[],
  stride: readonly number[],
): Uint8Array {
  return concat([
    P.global('torch._utils', '_rebuild_tensor_v2'),
    P.mark,
    tupleOf([
      P.str('storage'),
      P.global('torch', 'FloatStorage'),
      P.str(storageKey),
      P.str('cpu'),
      P.int(storageNumel),
    ]),
    P.binpersid,
    P.int(offset),
    tupleOf(size.map((d) => P.int(d))),
    tupleOf(stride.map((d) => P.int(d))),
    P.newfalse,
    P.global('collections', 'OrderedDict'),
    P.emptyTuple,
    P.reduce,
    P.tuple,
    P.reduce,
  ]);
}

/** A state-dict pickle `{key: tensor, ...}` of the given tensors. */
export function stateDictPickle(entries: readonly (readonly [string, Uint8Array])[]): Uint8Array {
  return concat([
    P.proto2,
    P.emptyDict,
    P.mark,
    ...entries.flatMap(([k, t]) => [P.str(k), t]),
    P.setitems,
    P.stop,
  ]);
}

interface ZipRecordSpec {
  readonly name: string;
  /** The record's bytes as stored in the archive (already deflated for method 8). */
  readonly data: Uint8Array;
  readonly method: 0 | 8;
  /** Uncompressed size and CRC-32 as the headers claim them. */
  readonly size: number;
  readonly crc: number;
}

function stored(name: string, data: Uint8Array): ZipRecordSpec {
  return { name, data, method: 0, size: data.length, crc: zlib.crc32(data) };
}

/** A plain zip (no zip64, no alignment): enough for these files, and what other tools write. */
function zip(records: readonly ZipRecordSpec[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const r of records) {
    const name = enc.encode(r.name);
    const common = [
      ...u16(20),
      ...u16(0),
      ...u16(r.method),
      ...u16(0),
      ...u16(0x21),
      ...u32(r.crc),
      ...u32(r.data.length),
      ...u32(r.size),
      ...u16(name.length),
      ...u16(0),
    ];
    const local = concat([u32(0x04034b50), common, name]);
    central.push(
      concat([u32(0x02014b50), u16(20), common, u16(0), u16(0), u16(0), u32(0), u32(offset), name]),
    );
    parts.push(local, r.data);
    offset += local.length + r.data.length;
  }
  const cd = concat(central);
  const end = concat([
    u32(0x06054b50),
    u16(0),
    u16(0),
    u16(records.length),
    u16(records.length),
    u32(cd.length),
    u32(offset),
    u16(0),
  ]);
  return concat([...parts, cd, end]);
}

/** A torch-style archive around a pickle and its storage records (all stored). */
export function pth(pkl: Uint8Array, storages: Record<string, Uint8Array> = {}): Uint8Array {
  return zip([
    stored('archive/data.pkl', pkl),
    ...Object.entries(storages).map(([k, d]) => stored(`archive/data/${k}`, d)),
    stored('archive/version', enc.encode('3\n')),
  ]);
}

/**
 * Deflates `repeat` copies of `chunk` as one raw deflate stream without ever holding the inflated
 * data: the output of a real zip bomb. Returns the deflated bytes and the CRC-32 of the inflated data.
 */
async function deflateRepeated(
  chunk: Uint8Array,
  repeat: number,
): Promise<{ data: Uint8Array; crc: number }> {
  const d = zlib.createDeflateRaw({ level: 9, memLevel: 9 });
  const out: Buffer[] = [];
  d.on('data', (b: Buffer) => out.push(b));
  const done = new Promise<void>((resolve, reject) => {
    d.on('end', resolve);
    d.on('error', reject);
  });
  let crc = 0;
  for (let i = 0; i < repeat; i++) {
    crc = zlib.crc32(chunk, crc);
    if (!d.write(chunk)) await new Promise((r) => d.once('drain', r));
  }
  d.end();
  await done;
  return { data: Buffer.concat(out), crc };
}

const CACHE_VERSION = 2;

/** `make()`'s bytes, cached in the temporary folder under `name` (see the module comment). */
async function cached(name: string, make: () => Promise<Uint8Array>): Promise<Uint8Array> {
  const dir = join(tmpdir(), `lape-hostile-cache-v${CACHE_VERSION}`);
  const path = join(dir, name);
  if (existsSync(path)) return readFileSync(path);
  const bytes = await make();
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
  return bytes;
}

// ---------------------------------------------------------------------------------------------------
// The attacks

const MiB = 1024 * 1024;
const ESC = '\u001b';
/** What one audit file did to the terminal: clear it, then print a fake green success line. */
const FAKE_SUCCESS = `${ESC}[2J${ESC}[H${ESC}[32mall checks passed${ESC}[0m`;

/** A float32 storage record of `n` elements (value i at element i). */
export function floats(n: number): Uint8Array {
  return new Uint8Array(Float32Array.from({ length: n }, (_, i) => i).buffer);
}

/** safetensors bytes from a header object and the data that follows it. */
function safetensors(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = enc.encode(JSON.stringify(header));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
  return concat([len, json, data]);
}

/** .npy bytes from a header text (padded to 64 bytes, version 1) and the data. */
function npy(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  const text = header + ' '.repeat(total - 10 - header.length - 1) + '\n';
  const bytes = new Uint8Array(total);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, ...u16(text.length)]);
  for (let i = 0; i < text.length; i++) bytes[10 + i] = text.charCodeAt(i) & 0xff;
  return concat([bytes, data]);
}

/** Writes every attack file into `dir`; returns what each error must say. */
export async function writeAttacks(dir: string): Promise<Attack[]> {
  mkdirSync(dir, { recursive: true });
  const attacks: Attack[] = [];
  const add = (attack: Attack, bytes: Uint8Array): void => {
    writeFileSync(join(dir, attack.name), bytes);
    attacks.push(attack);
  };

  // 1. The audit's 602 KB .pth: a deflated pickle of 300 million memo references (6.6 GB, then abort).
  const memoBomb = await cached('memo-bomb.pth', async () => {
    const head = concat([P.proto2, P.emptyList, P.str('x'), P.binput(1), P.pop, P.mark]);
    const chunk = new Uint8Array(MiB);
    for (let i = 0; i < chunk.length; i += 2) chunk.set(P.binget(1), i);
    const tail = concat([P.appends, P.stop]);
    // The stream: head, 600 MiB of BINGETs, tail; deflated in one go without holding it inflated.
    const d = zlib.createDeflateRaw({ level: 9, memLevel: 9 });
    const out: Buffer[] = [];
    d.on('data', (b: Buffer) => out.push(b));
    const done = new Promise<void>((resolve) => d.on('end', resolve));
    let crc = zlib.crc32(head);
    d.write(head);
    for (let i = 0; i < 600; i++) {
      crc = zlib.crc32(chunk, crc);
      if (!d.write(chunk)) await new Promise((r) => d.once('drain', r));
    }
    crc = zlib.crc32(tail, crc);
    d.end(tail);
    await done;
    const size = head.length + 600 * MiB + tail.length;
    return zip([
      { name: 'archive/data.pkl', data: Buffer.concat(out), method: 8, size, crc },
      stored('archive/version', enc.encode('3\n')),
    ]);
  });
  add(
    {
      name: 'memo-bomb.pth',
      format: 'pth',
      about: '602 KB deflated pickle of 300M memo references (audit: 6.6 GB, SIGABRT)',
      expect: /record 'archive\/data\.pkl' decompresses to 600\.0 MiB.*maxInflateRatio/,
    },
    memoBomb,
  );

  // 2. The same bomb, stored: 12 MB of memo references that do not need decompressing.
  {
    const refs = new Uint8Array(6_000_000 * 2);
    for (let i = 0; i < refs.length; i += 2) refs.set(P.binget(1), i);
    const pkl = concat([
      P.proto2,
      P.emptyList,
      P.str('x'),
      P.binput(1),
      P.pop,
      P.mark,
      refs,
      P.appends,
      P.stop,
    ]);
    add(
      {
        name: 'memo-refs-stored.pth',
        format: 'pth',
        about: 'stored pickle pushing one memoized string 6 million times',
        expect: /pickle creates more than 5,000,000 objects \(maxPickleObjects\)/,
      },
      pth(pkl),
    );
  }

  // 3. A memo bomb that calls _rebuild_tensor_v2 on one memoized argument tuple 200,000 times: a
  //    transposed view, so each call would copy 4 MiB (800 GB in all) if views were not shared.
  {
    const n = 1 << 20;
    const view = rebuildTensor('0', n, 0, [1024, 1024], [1, 1024]);
    // rebuildTensor ends with: global, MARK, args..., TUPLE, REDUCE. Memoize the global and the tuple.
    const fnEnd = P.global('torch._utils', '_rebuild_tensor_v2').length;
    const first = concat([
      view.subarray(0, fnEnd),
      P.binput(8),
      view.subarray(fnEnd, -1),
      P.binput(9),
      P.reduce,
    ]);
    const again = [...P.binget(8), ...P.binget(9), P.reduce[0], P.append[0]];
    const repeats = new Uint8Array(200_000 * again.length);
    for (let i = 0; i < repeats.length; i += again.length) repeats.set(again, i);
    const pkl = concat([P.proto2, P.emptyList, first, P.append, repeats, P.stop]);
    add(
      {
        name: 'tensor-memo-bomb.pth',
        format: 'pth',
        about: 'one memoized 4 MiB tensor view appended 200,000 times (800 GB if each were a copy)',
        expect: /no model weights found: the checkpoint is not a dict/,
      },
      pth(pkl, { '0': floats(n) }),
    );
  }

  // 4. Shared references nested 64 deep: 2^64 paths through 64 lists (a naive walk never ends).
  {
    const parts: (Uint8Array | number[])[] = [P.proto2, P.emptyList, P.longBinput(0)];
    for (let k = 1; k <= 64; k++) {
      parts.push(
        P.emptyList,
        P.mark,
        P.longBinget(k - 1),
        P.longBinget(k - 1),
        P.appends,
        P.longBinput(k),
        P.pop,
      );
    }
    parts.push(P.pop, P.emptyDict, P.str('model'), P.longBinget(64), P.setitem, P.stop);
    add(
      {
        name: 'shared-dag.pth',
        format: 'pth',
        about: 'a 64-level DAG of shared lists (2^64 paths)',
        expect: /no model weights found/,
      },
      pth(concat(parts)),
    );
  }

  // 5. Lists nested 100,000 deep, and a list that contains itself.
  {
    const parts: (Uint8Array | number[])[] = [P.proto2, P.emptyList, P.longBinput(0)];
    // Each step: the new list goes into the one on the stack, which is then swapped for the new one.
    for (let k = 1; k < 100_000; k++)
      parts.push(P.emptyList, P.longBinput(k), P.append, P.pop, P.longBinget(k));
    parts.push(P.pop, P.longBinget(0), P.stop);
    add(
      {
        name: 'deep-nesting.pth',
        format: 'pth',
        about: 'lists nested 100,000 deep',
        expect: /nests containers deeper than 1000 levels \(maxPickleDepth\)/,
      },
      pth(concat(parts)),
    );
    add(
      {
        name: 'self-containing.pth',
        format: 'pth',
        about: 'a list that contains itself',
        expect: /a container that contains itself/,
      },
      pth(concat([P.proto2, P.emptyList, P.binput(0), P.binget(0), P.append, P.stop])),
    );
  }

  // 6. The audit's 80 KB stride-0 file: one float viewed as 1G elements (4 GiB built before failing),
  //    and the same past 4 GiB ("Invalid typed array length"), and an overlapping 16 GiB window.
  for (const [name, key, size, stride, about] of [
    [
      'stride0-1g.pth',
      'pos_embed',
      [1 << 30],
      [0],
      'stride-0 view of 1 element as 1G elements (audit: 4 GiB)',
    ],
    ['stride0-2g.pth', 'pos_embed', [2 ** 31], [0], 'stride-0 view of 1 element as 2G elements (8 GiB)'],
    [
      'overlap-16g.pth',
      'blocks.0.attn.qkv.weight',
      [65536, 65536],
      [1, 1],
      'overlapping 65536 x 65536 window',
    ],
    [
      'stride0-escape-key.pth',
      `pos${FAKE_SUCCESS}`,
      [1 << 30],
      [0],
      'stride-0 view under a key with escapes',
    ],
  ] as const) {
    const numel = 1 + size.reduce((n, d, i) => n + (d - 1) * stride[i], 0);
    const shown = key.split(ESC).join('\\x1b'); // how the message must quote the key
    add(
      {
        name,
        format: 'pth',
        about,
        expect: new RegExp(`tensor '${escapeRegExp(shown)}' is a view of shape .*maxExpandedBytes`),
      },
      pth(stateDictPickle([[key, rebuildTensor('0', numel, 0, size, stride)]]), { '0': floats(numel) }),
    );
  }

  // 7. The audit's 526 KB zip whose storage record deflates to 512 MB of zeros (accepted at 1.1 GB),
  //    and the same with the record's size field lying (claims 4 KB).
  const zipBomb = await cached('zip-bomb-record.bin', async () => {
    const { data, crc } = await deflateRepeated(new Uint8Array(MiB), 512);
    return concat([u32(crc), data]);
  });
  {
    const crc = new DataView(zipBomb.buffer, zipBomb.byteOffset).getUint32(0, true);
    const data = zipBomb.subarray(4);
    const numel = (512 * MiB) / 4;
    const pkl = stateDictPickle([['head.weight', rebuildTensor('0', numel, 0, [numel], [1])]]);
    const records = (size: number): Uint8Array =>
      zip([
        stored('archive/data.pkl', pkl),
        { name: 'archive/data/0', data, method: 8, size, crc },
        stored('archive/version', enc.encode('3\n')),
      ]);
    add(
      {
        name: 'zip-bomb.pth',
        format: 'pth',
        about: '526 KB zip whose storage record inflates to 512 MiB (audit: accepted at 1.1 GB)',
        expect: /record 'archive\/data\/0' decompresses to 512 MiB.*maxInflateRatio/,
      },
      records(512 * MiB),
    );
    add(
      {
        name: 'zip-bomb-lying-size.pth',
        format: 'pth',
        about: 'the same record claiming to inflate to 4 KiB',
        expect: /record 'archive\/data\/0' does not decompress/,
      },
      records(4096),
    );
  }

  // 8. Escape sequences and huge texts where messages quote the file.
  add(
    {
      name: 'escape-global.pth',
      format: 'pth',
      about: 'a global whose name clears the screen and prints a fake success line',
      expect: /global 'os\.\\x1b\[2J\\x1b\[H\\x1b\[32mall checks passed\\x1b\[0m'/,
    },
    pth(concat([P.proto2, P.global('os', FAKE_SUCCESS), P.stop])),
  );
  add(
    {
      name: 'huge-global.pth',
      format: 'pth',
      about: 'a 100,000-character global name with newlines (through STACK_GLOBAL)',
      expect: /pickle refers to global 'builtins\.(A\\x0a)+.*characters in all\)'/,
    },
    pth(concat([P.proto2, P.str('builtins'), P.str('A\n'.repeat(50_000)), [0x93], P.stop])),
  );
  {
    const keys = Array.from({ length: 100_000 }, (_, i) => `${FAKE_SUCCESS}${'k'.repeat(50)}${i}`);
    const pkl = concat([
      P.proto2,
      P.emptyDict,
      P.mark,
      ...keys.flatMap((k) => [P.str(k), P.int(1)]),
      P.setitems,
      P.stop,
    ]);
    add(
      {
        name: 'many-keys.pth',
        format: 'pth',
        about: '100,000 top-level keys with escapes (a 10,000-line message, naively)',
        expect: /no model weights found: .*top-level keys: '\\x1b\[2J.*and 99995 more/,
      },
      pth(pkl),
    );
  }
  add(
    {
      name: 'escape-record.pth',
      format: 'pth',
      about: 'a storage key that is an escape sequence, missing from the archive',
      expect:
        /storage record 'archive\/data\/\\x1b\[2J\\x1b\[H\\x1b\[32mall checks passed\\x1b\[0m' is missing/,
    },
    pth(stateDictPickle([['w', rebuildTensor(FAKE_SUCCESS, 1, 0, [1], [1])]])),
  );
  add(
    {
      name: 'escape-dtype.safetensors',
      format: 'safetensors',
      about: 'a dtype that clears the screen',
      expect: /has dtype '\\x1b\[2J\\x1b\[H\\x1b\[32mall chec.*, which lape does not support/,
    },
    safetensors({ w: { dtype: FAKE_SUCCESS, shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
  );
  add(
    {
      name: 'huge-name.safetensors',
      format: 'safetensors',
      about: 'a 1 MB tensor name full of newlines and escapes',
      expect: /tensor '(\\x0a\\x1b)+.*characters in all\)' has no dtype/,
    },
    safetensors({ ['\n\u001b'.repeat(500_000)]: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
  );
  add(
    {
      name: 'bad-json.safetensors',
      format: 'safetensors',
      about: 'a header that is not JSON and holds escapes',
      expect: /not valid UTF-8 JSON/,
    },
    (() => {
      const text = enc.encode(`{"a": ${FAKE_SUCCESS}${'x'.repeat(20_000)}}`);
      const len = new Uint8Array(8);
      new DataView(len.buffer).setBigUint64(0, BigInt(text.length), true);
      return concat([len, text]);
    })(),
  );
  {
    // 330,000 zero-sized tensors in a 17 MB header (the reference reads headers up to 100 MB).
    const entries: string[] = [];
    for (let i = 0; i < 330_000; i++)
      entries.push(`"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
    const text = enc.encode(`{${entries.join(',')}}`);
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(text.length), true);
    add(
      {
        name: 'many-tensors.safetensors',
        format: 'safetensors',
        about: '330,000 zero-sized tensors in a 17 MB header',
        expect: /header of \d+(\.\d)? MiB is larger than the 16 MiB lape reads/,
      },
      concat([len, text]),
    );
  }
  add(
    {
      name: 'escape-descr.npy',
      format: 'npy',
      about: 'a dtype that clears the screen',
      expect: /dtype '\\x1b\[2J.*' is not supported/,
    },
    npy(`{'descr': '${FAKE_SUCCESS}', 'fortran_order': False, 'shape': (1,), }`, new Uint8Array(4)),
  );
  add(
    {
      name: 'huge-header.npy',
      format: 'npy',
      about: 'a 60,000-character malformed header with escapes',
      expect: /malformed header .*characters in all\)'/,
    },
    npy(`{'descr': '<f4', ${FAKE_SUCCESS.repeat(1000)}`),
  );
  add(
    {
      name: 'huge-shape.npy',
      format: 'npy',
      about: 'a shape of 10^15 elements with no data',
      expect: /file is truncated: shape \[1000000000000000\] of <f4 needs 4000000000000000 data bytes/,
    },
    npy(`{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000000,), }`),
  );
  return attacks;
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/** A short digest of the generated files, for reports. */
export function digest(dir: string, attacks: readonly Attack[]): string {
  const h = createHash('sha256');
  for (const a of attacks) h.update(readFileSync(join(dir, a.name)));
  return h.digest('hex').slice(0, 16);
}
