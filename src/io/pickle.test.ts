import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { CheckpointError } from './errors.js';
import { type HostTensor, tensorBytes } from './host_tensor.js';
import {
  type PyKey,
  PyGlobalRef,
  PyObject,
  PySet,
  PyTuple,
  type PyValue,
  pickle,
  unpickle,
} from './pickle.js';

const FIXTURES = new URL('../../test/fixtures/io/', import.meta.url);
const fixture = (name: string): Uint8Array => readFileSync(new URL(name, FIXTURES));
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const expected = JSON.parse(readFileSync(new URL('expected.json', FIXTURES), 'utf8')) as { generic: Json };

/** The Python used for cross-checks (LAPE_PYTHON overrides it, e.g. for a virtualenv in CI). */
const PYTHON = process.env.LAPE_PYTHON ?? '/usr/bin/python3';
/** Why the tests that need PyTorch are skipped, or false when it is importable. */
const noTorch: string | false = (() => {
  // find_spec answers without importing torch (which takes seconds).
  const probe = "import importlib.util as u; assert u.find_spec('torch') and u.find_spec('numpy')";
  const r = spawnSync(PYTHON, ['-c', probe], { encoding: 'utf8' });
  return r.status === 0
    ? false
    : `needs ${PYTHON} with torch and numpy (${r.error?.message ?? 'not installed'})`;
})();

function python(script: string, stdin: string | Uint8Array): string {
  const r = spawnSync(PYTHON, ['-c', script], { input: stdin, encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, `python failed:\n${r.stderr}`);
  return r.stdout;
}

/** The tagged JSON form of a value that make_io_fixtures.py writes to expected.json (see `tag` there). */
function toTagged(v: PyValue): Json {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    return Number.isFinite(v) ? v : { $float: Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf' };
  }
  if (typeof v === 'bigint') return { $bigint: String(v) };
  if (Array.isArray(v)) return v.map(toTagged);
  if (v instanceof PyTuple) return { $tuple: v.items.map(toTagged) };
  if (v instanceof Map) return { $dict: [...v].map(([k, x]) => [toTagged(k), toTagged(x)]) };
  if (v instanceof PySet) return { [v.frozen ? '$frozenset' : '$set']: v.items.map(toTagged) };
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('hex') };
  if (v instanceof PyObject) {
    return {
      $object: v.className,
      attrs: Object.fromEntries(Object.entries(v.attrs).map(([k, x]) => [k, toTagged(x)])),
    };
  }
  if (v instanceof PyGlobalRef) return { $global: v.toString() };
  const values: Json[] =
    v.dtype === 'int64' ? Array.from(v.data, String) : Array.from(v.data as ArrayLike<number>);
  return { $tensor: { dtype: v.dtype, shape: v.shape, values } };
}

// --- a tiny pickle assembler for hand-written streams: numbers are bytes, strings latin-1 text

type Part = number | string | Uint8Array;
function pk(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (let i = 0; i < p.length; i++) out.push(p.charCodeAt(i));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
const uni = (s: string): Uint8Array => {
  const b = new TextEncoder().encode(s);
  return pk('X', u32(b.length), b);
};
const int1 = (n: number): Uint8Array => pk('K', n);
const load = (bytes: Uint8Array, file = 'test.pkl'): PyValue => unpickle(bytes, { file });

function assertCheckpointError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CheckpointError, `expected a CheckpointError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('reads the reference value pickled with every protocol, 0 to 5', () => {
  const want = expected.generic as { $dict: [Json, Json][] };
  for (let proto = 0; proto <= 5; proto++) {
    const v = load(fixture(`pickles/proto${proto}.pkl`));
    assert.deepEqual(toTagged(v), want, `protocol ${proto}`);
    // deepEqual compares Maps without regard to order: check the order separately.
    assert.deepEqual(
      [...(v as Map<PyKey, PyValue>).keys()].map((k) => toTagged(k)),
      want.$dict.map(([k]) => k),
    );
  }
  const v = load(fixture('pickles/proto2.pkl')) as Map<PyKey, PyValue>;
  const ns = v.get('namespace');
  assert.ok(ns instanceof PyObject && ns.className === 'argparse.Namespace');
  assert.equal(ns.attrs.model, 'deit_small_patch16_224');
  assert.deepEqual(v.get('numpy'), [71.5, 0.25, -7, 123, true, 200, 1.5]);
  assert.deepEqual(v.get('size'), new PyTuple([2, 3, 4]));
  assert.equal(typeof (v.get('bigints') as PyValue[])[2], 'bigint');
});

test('refuses any global outside the allow-list, naming the file and the global', () => {
  const marker = join(mkdtempSync(join(tmpdir(), 'lape-pickle-')), 'pwned');
  try {
    const osSystem = pk('\x80\x02', 'cos\nsystem\n', uni(`touch ${marker}`), '\x85R.');
    assert.throws(
      () => load(osSystem, '/some/dir/evil.pkl'),
      new CheckpointError(
        '/some/dir/evil.pkl',
        "pickle refers to global 'os.system', which lape does not load (only tensors, containers and numbers are allowed)",
      ),
    );
    assert.equal(
      (() => {
        try {
          load(osSystem, '/some/dir/evil.pkl');
        } catch (err) {
          return (err as Error).message;
        }
      })(),
      "evil.pkl: pickle refers to global 'os.system', which lape does not load (only tensors, containers and numbers are allowed)",
    );
    const stackGlobal = pk('\x80\x04', '\x8c\x08builtins', '\x8c\x04eval', '\x93', uni('1+1'), '\x85R.');
    assertCheckpointError(() => load(stackGlobal), /global 'builtins\.eval'/);
    const inst = pk('(', uni('ls'), 'isubprocess\nPopen\n.');
    assertCheckpointError(() => load(inst), /global 'subprocess\.Popen'/);
    const py2Name = pk('c__builtin__\ngetattr\n.');
    assertCheckpointError(() => load(py2Name), /global 'builtins\.getattr'/);
    assertCheckpointError(() => load(pk('ctorch\nload\n.')), /global 'torch\.load'/);
    assertCheckpointError(
      () => load(pk('cnumpy.core.multiarray\n_reconstruct\n.')),
      /global 'numpy\.core\.multiarray\._reconstruct'/,
    );
    assert.ok(!existsSync(marker), 'nothing was executed');
  } finally {
    rmSync(join(marker, '..'), { recursive: true, force: true });
  }
});

test('allow-listed globals are only used as intended', () => {
  const encode = (enc: string): Uint8Array =>
    pk('\x80\x02', 'c_codecs\nencode\n', uni('abc'), uni(enc), '\x86R.');
  assert.deepEqual(load(encode('latin1')), Uint8Array.from([97, 98, 99]));
  assertCheckpointError(() => load(encode('rot13')), /encoding other than latin1/);
  // A class or function stored as a value, not called.
  assertCheckpointError(
    () => load(pk('\x80\x02]cargparse\nNamespace\na.')),
    /uses global 'argparse\.Namespace' as a value/,
  );
  // Calling something that is not a global, and instantiating a function.
  assertCheckpointError(() => load(pk('\x80\x02', uni('print'), ')R.')), /calls str as a function/);
  assertCheckpointError(() => load(pk('\x80\x02ctorch\nSize\n)\x81.')), /creates an instance of torch\.Size/);
  // BUILD on something that has no state to set.
  assertCheckpointError(() => load(pk('\x80\x02', uni('s'), '}b.')), /sets the state of str/);
  // Persistent ids other than torch storages, and storages without a source.
  assertCheckpointError(
    () => load(pk('\x80\x02', uni('x'), 'Q.')),
    /persistent id that is not a torch storage/,
  );
  const storagePid = pk('(', uni('storage'), 'ctorch\nFloatStorage\n', uni('0'), uni('cpu'), int1(2), 'tQ.');
  assertCheckpointError(() => load(storagePid), /no storage source/);
  const complexPid = pk(
    '(',
    uni('storage'),
    'ctorch\nComplexFloatStorage\n',
    uni('0'),
    uni('cpu'),
    int1(2),
    'tQ.',
  );
  assertCheckpointError(
    () => load(complexPid),
    /torch\.ComplexFloatStorage, whose dtype lape does not support/,
  );
});

test('reads protocol 0 text opcodes and the rarer binary ones', () => {
  // STRING (Python 2 str) with escapes, INT booleans and big values, LONG, FLOAT specials, GET/PUT.
  const text = pk(
    "(lp0\nS'a\\n\\x41\\'b'\np1\naI01\naI00\naI-12345678901234567890\naL5L\naFnan\naF-inf\nag1\na.",
  );
  const v = load(text) as PyValue[];
  assert.deepEqual(v.slice(0, 5), ["a\nA'b", true, false, -12345678901234567890n, 5]);
  assert.ok(Number.isNaN(v[5] as number));
  assert.deepEqual(v.slice(6), [-Infinity, "a\nA'b"]);
  // POP, POP_MARK, DUP, LONG4, BINBYTES8, EMPTY_SET + ADDITEMS, FROZENSET, BYTEARRAY8 + READONLY_BUFFER.
  const bin = pk(
    '\x80\x05]',
    int1(9),
    '0', // POP
    '(',
    int1(1),
    int1(2),
    '1', // POP_MARK
    '(',
    '\x8b',
    u32(9),
    pk(0, 0, 0, 0, 0, 0, 0, 0, 0x80), // LONG4: -2^71
    '\x8e',
    u64(2),
    'hi',
    '\x8f(',
    int1(7),
    int1(8),
    '\x90', // EMPTY_SET, ADDITEMS
    '(',
    int1(3),
    '\x91', // FROZENSET
    '\x96',
    u64(1),
    'z',
    '\x98', // BYTEARRAY8, READONLY_BUFFER
    'e2', // APPENDS, then DUP the list
    '\x86.', // TUPLE2 of the list with itself
  );
  const t = load(bin) as PyTuple;
  assert.ok(t instanceof PyTuple && t.items[0] === t.items[1], 'DUP pushes the same object');
  assert.deepEqual(t.items[0], [
    -(2n ** 71n),
    Uint8Array.from([104, 105]),
    new PySet([7, 8], false),
    new PySet([3], true),
    Uint8Array.from([122]),
  ]);
  // UNICODE (raw-unicode-escape) and OrderedDict from a list of pairs, via INST and OBJ.
  const objs = pk(
    '(',
    'Vcaf\\u00e9 \\U0001f389\n',
    '(ccollections\nOrderedDict\n',
    '(',
    '(',
    uni('k'),
    int1(1),
    'tl',
    'o', // OBJ: OrderedDict([('k', 1)])
    '(',
    'iargparse\nNamespace\n', // INST: Namespace()
    'l.',
  );
  assert.deepEqual(load(objs), ['café 🎉', new Map([['k', 1]]), new PyObject('argparse.Namespace')]);
});

test('round-trips every value kind through pickle and unpickle', () => {
  const value: PyValue = new Map<PyKey, PyValue>([
    ['none', null],
    ['bools', [true, false]],
    ['ints', [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, -(2 ** 53 - 1)]],
    ['bigints', [2n ** 53n, -(2n ** 64n), 2n ** 100n + 7n, -128n * 2n ** 56n]],
    ['floats', [0.5, -1e-300, Infinity, -Infinity, 1e300]],
    ['strings', ['', 'naïve', '日本', '🎉', 'a\nb\\c']],
    ['bytes', [new Uint8Array(0), Uint8Array.from([0, 1, 127, 128, 255])]],
    ['tuples', [new PyTuple([]), new PyTuple([1]), new PyTuple([1, 2, 3, 4, 5])]],
    [7, 'int key'],
    [new PyTuple([1, 'x']), 'tuple key'],
    ['set', new PySet([1, 2], false)],
    ['frozen', new PySet(['a'], true)],
    ['ns', PyObject.namespace({ model: 'deit', lr: 0.0005, nested: [new Map([['a', 1]])] })],
    ['dtype', new PyGlobalRef('torch', 'float16')],
    ['long', Array.from({ length: 2500 }, (_, i) => i)],
    ['wide', new Map(Array.from({ length: 1200 }, (_, i) => [`k${i}`, i] as [PyKey, PyValue]))],
  ]);
  const bytes = pickle(value, { file: 'x.pth', assignStorage: () => assert.fail('no tensors here') });
  assert.deepEqual(load(bytes), value);
  assert.deepEqual([...(load(bytes) as Map<PyKey, PyValue>).keys()], [...value.keys()]);
  // Numbers that are not safe integers are floats; -0 stays a float.
  assert.ok(Object.is(load(pickle(-0, { file: 'x', assignStorage: () => ({ key: '' }) })), -0));
  assert.equal(load(pickle(2 ** 60, { file: 'x', assignStorage: () => ({ key: '' }) })), 2 ** 60);
});

test('tensors become persistent storage ids and come back through the loader', () => {
  const a: HostTensor = { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
  const b: HostTensor = { dtype: 'int64', shape: [], data: BigInt64Array.from([-(2n ** 62n)]) };
  const c: HostTensor = { dtype: 'bfloat16', shape: [0, 4], data: new Uint16Array(0) };
  const storages = new Map<string, HostTensor>();
  const bytes = pickle(
    new Map<PyKey, PyValue>([
      ['a', a],
      ['b', [b, a]],
      ['c', c],
    ]),
    {
      file: 'x.pth',
      assignStorage: (t) => {
        const key = [...storages].find(([, s]) => s === t)?.[0] ?? String(storages.size);
        storages.set(key, t);
        return { key };
      },
    },
  );
  assert.equal(storages.size, 3, 'a tensor used twice is stored once');
  const requested: string[] = [];
  const v = unpickle(bytes, {
    file: 'x.pth',
    loadStorage: (req) => {
      requested.push(`${req.key}:${req.dtype}:${req.numel}:${req.location}`);
      return tensorBytes(storages.get(req.key) as HostTensor).slice();
    },
  }) as Map<PyKey, PyValue>;
  assert.deepEqual(
    requested,
    ['0:float32:6:cpu', '1:int64:1:cpu', '2:bfloat16:0:cpu'],
    'each storage loaded once',
  );
  assert.deepEqual(v.get('a'), a);
  assert.deepEqual(v.get('b'), [b, a]);
  assert.deepEqual(v.get('c'), c);
});

/** A hand-written `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`. */
function rebuildPickle(
  storageType: string,
  numel: number,
  offset: number,
  size: number[],
  stride: number[],
): Uint8Array {
  const tuple = (xs: number[]): Uint8Array => pk('(', ...xs.map(int1), 't');
  return pk(
    '\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(',
    pk('(', uni('storage'), `ctorch\n${storageType}\n`, uni('0'), uni('cpu'), int1(numel), 'tQ'),
    int1(offset),
    tuple(size),
    tuple(stride),
    '\x89ccollections\nOrderedDict\n)R',
    'tR.',
  );
}

test('rebuilds strided, offset and broadcast views as dense tensors', () => {
  const base = Float64Array.from({ length: 24 }, (_, i) => i * 1.5 - 3);
  const loadStorage = (): Uint8Array => new Uint8Array(base.buffer.slice(0));
  const view = (offset: number, size: number[], stride: number[]): number[] => {
    const t = unpickle(rebuildPickle('DoubleStorage', 24, offset, size, stride), {
      file: 'v.pth',
      loadStorage,
    });
    assert.ok(t !== null && typeof t === 'object' && 'dtype' in t && t.dtype === 'float64');
    assert.deepEqual(t.shape, size);
    return [...t.data];
  };
  // Reference: element [i, j, k] of the view is base[offset + i*s0 + j*s1 + k*s2].
  const ref = (offset: number, size: number[], stride: number[]): number[] => {
    const out: number[] = [];
    const walk = (d: number, at: number): void => {
      if (d === size.length) out.push(base[at]);
      else for (let i = 0; i < size[d]; i++) walk(d + 1, at + i * stride[d]);
    };
    walk(0, offset);
    return out;
  };
  const cases: [number, number[], number[]][] = [
    [0, [4, 6], [6, 1]], // contiguous
    [0, [6, 4], [1, 6]], // transpose
    [7, [2, 3], [6, 1]], // slice with offset
    [2, [4], [6]], // column
    [0, [2, 3, 4], [1, 8, 2]], // 3-D permutation
    [5, [3, 2], [0, 1]], // expand (stride 0)
    [23, [], []], // scalar
  ];
  for (const [offset, size, stride] of cases)
    assert.deepEqual(view(offset, size, stride), ref(offset, size, stride));
  assertCheckpointError(
    () => view(20, [2, 3], [3, 1]),
    /storage '0' is too small for a tensor of shape \[2,3\].*needs 26 elements, the storage has 24/,
  );
  assertCheckpointError(
    () =>
      unpickle(rebuildPickle('FloatStorage', 10, 0, [10], [1]), {
        file: 'v.pth',
        loadStorage: () => new Uint8Array(36),
      }),
    /storage '0' has 36 bytes but the pickle says it holds 10 float32 \(40 bytes\)/,
  );
});

test('every truncation of a pickle is a CheckpointError', () => {
  for (let proto = 0; proto <= 5; proto++) {
    const full = fixture(`pickles/proto${proto}.pkl`);
    for (let n = 0; n < full.length; n++) {
      assert.throws(
        () => load(full.subarray(0, n), 'cut.pkl'),
        CheckpointError,
        `protocol ${proto}, ${n} bytes`,
      );
    }
  }
});

test('flipped bytes give a value or a CheckpointError, never another exception', () => {
  for (const proto of [0, 2, 4]) {
    const full = fixture(`pickles/proto${proto}.pkl`);
    for (let i = 0; i < full.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = full.slice();
        bad[i] ^= mask;
        try {
          load(bad, 'flipped.pkl');
        } catch (err) {
          assert.ok(err instanceof CheckpointError, `protocol ${proto}, byte ${i} ^ ${mask}: ${String(err)}`);
          assert.match(err.message, /^flipped\.pkl: /);
        }
      }
    }
  }
});

test('corrupt streams are reported as such', () => {
  assertCheckpointError(
    () => load(pk('\x80\x02\xff.')),
    /corrupt pickle: unknown opcode 0xff \(opcode at offset 2\)/,
  );
  assertCheckpointError(() => load(pk('\x80\x06N.')), /pickle protocol 6 is newer than 5/);
  assertCheckpointError(() => load(pk('\x80\x02h\x05.')), /memo index 5 was never stored/);
  assertCheckpointError(() => load(pk('\x80\x02NN.')), /items left on the stack/);
  assertCheckpointError(() => load(pk('\x80\x02.')), /stack underflow/);
  assertCheckpointError(() => load(pk('\x80\x02e.')), /MARK expected/);
  assertCheckpointError(() => load(pk('\x80\x02X\x02\x00\x00\x00\xff\xfe.')), /not valid UTF-8/);
  assertCheckpointError(() => load(pk('\x80\x05\x97.')), /out-of-band buffers/);
  assertCheckpointError(() => load(pk('\x80\x02\x82\x01.')), /extension registry/);
  assertCheckpointError(() => load(pk('P0\n.')), /text persistent id/);
  assertCheckpointError(() => load(pk('\x80\x02X\xff\xff\xff\x7fab')), /pickle data is truncated/);
  assertCheckpointError(() => load(pk('\x80\x02}]]s.')), /dict key of unsupported type \(list\)/);
});

test('the writer refuses what it cannot represent', () => {
  const opts = { file: 'out.pth', assignStorage: () => ({ key: '0' }) };
  const cyclic: PyValue[] = [];
  cyclic.push(cyclic);
  assertCheckpointError(() => pickle(cyclic, opts), /^out\.pth: cannot write a value that contains itself/);
  assertCheckpointError(
    () => pickle(new Date() as unknown as PyValue, opts),
    /cannot write a value of type \[object Date\]/,
  );
  assertCheckpointError(() => pickle(new PyObject('NoModule'), opts), /needs module\.name/);
  const badShape = { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) } as HostTensor;
  assertCheckpointError(() => pickle(badShape, opts), /tensor of shape \[2,2\] has 3 elements/);
});

test(
  'Python reads what the writer writes, and torch weights_only accepts its opcodes',
  { skip: noTorch },
  () => {
    // The reference value goes through the TS reader and writer; Python compares it with the original.
    const ours = pickle(load(fixture('pickles/proto2.pkl')), {
      file: 'x',
      assignStorage: () => assert.fail(),
    });
    // PyTorch 1.13's weights_only unpickler has no float or bytes opcodes; everything else must pass it.
    const plain = pickle(
      new Map<PyKey, PyValue>([
        ['ints', [0, 300, -5, 70000, 2n ** 80n]],
        ['t', new PyTuple([true, false, null, 'ü', new PyTuple([1, 2, 3, 4])])],
        [3, new Map([['x', new PyTuple([])]])],
      ]),
      { file: 'x', assignStorage: () => assert.fail() },
    );
    const script = `
import sys, io, json, pickle, argparse
import torch._weights_only_unpickler as w
args = json.loads(sys.stdin.read())
ours = pickle.loads(bytes.fromhex(args['ours']))
with open(args['ref'], 'rb') as f:
    ref = pickle.load(f)
assert ours == ref, (ours, ref)
assert type(ours['namespace']) is argparse.Namespace and ours['namespace'].lr == 0.001
assert type(ours['tuples'][2]) is tuple and type(ours['ints']) is list and type(ours['bigints'][4]) is int
assert ours['bytes'][1] == b'\\x00\\x01\\xff abc' and type(ours['set']) is set and type(ours['frozenset']) is frozenset
print(repr(w.load(io.BytesIO(bytes.fromhex(args['plain'])), encoding='utf-8')))
`;
    const out = python(
      script,
      JSON.stringify({
        ours: Buffer.from(ours).toString('hex'),
        plain: Buffer.from(plain).toString('hex'),
        ref: new URL('pickles/proto2.pkl', FIXTURES).pathname,
      }),
    );
    assert.equal(
      out.trim(),
      "{'ints': [0, 300, -5, 70000, 1208925819614629174706176], 't': (True, False, None, 'ü', (1, 2, 3, 4)), 3: {'x': ()}}",
    );
  },
);
