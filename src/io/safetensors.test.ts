import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { CheckpointError } from './errors.js';
import { DTYPE_SIZE, type HostTensor, type StateDict } from './host_tensor.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

const FIXTURES = new URL('../../test/fixtures/io/', import.meta.url);
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const expected = JSON.parse(readFileSync(new URL('expected.json', FIXTURES), 'utf8')) as {
  safetensors: { tensors: Record<string, Json>; metadata: Record<string, string> };
};

/** The Python used for cross-checks (LAPE_PYTHON overrides it, e.g. for a virtualenv in CI). */
const PYTHON = process.env.LAPE_PYTHON ?? '/usr/bin/python3';
/** Why the tests that need numpy are skipped, or false when it is importable. */
const noNumpy: string | false = (() => {
  const r = spawnSync(PYTHON, ['-c', "import importlib.util as u; assert u.find_spec('numpy')"], {
    encoding: 'utf8',
  });
  return r.status === 0 ? false : `needs ${PYTHON} with numpy (${r.error?.message ?? 'not installed'})`;
})();

const tmp = mkdtempSync(join(tmpdir(), 'lape-st-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const tmpFile = (name = 'x.safetensors'): string => join(tmp, `${counter++}-${name}`);

/** A tensor in the tagged form of expected.json: f16/bf16 as bits, int64 as strings, bool as 0/1. */
function tagTensor(t: HostTensor): Json {
  const values: Json[] =
    t.dtype === 'int64' ? Array.from(t.data, String) : Array.from(t.data as ArrayLike<number>);
  return { $tensor: { dtype: t.dtype, shape: t.shape, values } };
}

function assertCheckpointError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CheckpointError, `expected a CheckpointError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

/** Writes a safetensors file from a header object and data bytes, as given (valid or not). */
function rawFile(header: unknown, data: Uint8Array, headerText = JSON.stringify(header)): string {
  const h = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  const path = tmpFile();
  writeFileSync(path, out);
  return path;
}

function everyDType(): StateDict {
  return new Map<string, HostTensor>([
    ['z.f32', { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1.5, -2, 3.25, 0, -0, 1e-30]) }],
    ['f64', { dtype: 'float64', shape: [2], data: Float64Array.from([Math.PI, -1e300]) }],
    ['f16', { dtype: 'float16', shape: [3], data: Uint16Array.from([0x3c00, 0xc100, 0x7bff]) }],
    ['bf16', { dtype: 'bfloat16', shape: [2], data: Uint16Array.from([0x3f80, 0xc2c8]) }],
    ['i64', { dtype: 'int64', shape: [3], data: BigInt64Array.from([-(2n ** 63n), 2n ** 53n + 1n, 7n]) }],
    ['i32', { dtype: 'int32', shape: [2], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1]) }],
    ['i16', { dtype: 'int16', shape: [1], data: Int16Array.from([-32768]) }],
    ['i8', { dtype: 'int8', shape: [3], data: Int8Array.from([-128, 127, 1]) }],
    ['u8', { dtype: 'uint8', shape: [1, 2], data: Uint8Array.from([0, 255]) }],
    ['bool', { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) }],
    ['scalar', { dtype: 'float32', shape: [], data: Float32Array.from([42]) }],
    ['empty', { dtype: 'int32', shape: [0, 4], data: new Int32Array(0) }],
  ]);
}

test('reads a safetensors file written from the spec', () => {
  const { tensors, metadata } = readSafetensors(new URL('tensors.safetensors', FIXTURES).pathname);
  assert.deepEqual({ ...metadata }, expected.safetensors.metadata);
  assert.deepEqual(
    [...tensors.keys()],
    ['weight', 'index', 'half', 'mask', 'pixels', 'scalar'],
    'in file order',
  );
  for (const [name, t] of tensors) assert.deepEqual(tagTensor(t), expected.safetensors.tensors[name], name);
});

test('round-trips every dtype, with metadata, aligned and sorted like the reference writer', () => {
  const sd = everyDType();
  const path = tmpFile();
  writeSafetensors(path, sd, { format: 'pt', epoch: '3' });
  const back = readSafetensors(path);
  assert.deepEqual(new Map([...back.tensors].sort()), new Map([...sd].sort()));
  assert.deepEqual({ ...back.metadata }, { format: 'pt', epoch: '3' });

  const bytes = readFileSync(path);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0, 'data starts 8-byte aligned');
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; data_offsets: [number, number] }
  >;
  // The header lists the tensors in data order (JSON.parse keeps the order of non-numeric keys).
  const order = Object.entries(header).filter(([k]) => k !== '__metadata__');
  order.forEach(([name, e], i) =>
    assert.equal(e.data_offsets[0], i === 0 ? 0 : order[i - 1][1].data_offsets[1], name),
  );
  assert.deepEqual(
    order.map(([k]) => k),
    ['f64', 'i64', 'empty', 'i32', 'scalar', 'z.f32', 'bf16', 'f16', 'i16', 'bool', 'i8', 'u8'],
    'by element size, then name',
  );
  for (const [name, e] of order)
    assert.equal(e.data_offsets[0] % DTYPE_SIZE[(sd.get(name) as HostTensor).dtype], 0, `${name} aligned`);
  // Without metadata there is no __metadata__ entry.
  writeSafetensors(path, new Map([['a', sd.get('u8') as HostTensor]]));
  const small = readFileSync(path);
  assert.equal(small.length, 8 + 56 + 2);
  assert.equal(
    small.subarray(8, 64).toString('utf8'),
    '{"a":{"dtype":"U8","shape":[1,2],"data_offsets":[0,2]}} ',
  );
  assert.deepEqual([...small.subarray(64)], [0, 255]);
});

test('validates the header', () => {
  const four = new Uint8Array(4);
  const entry = (dtype: string, shape: number[], offsets: number[]): Json => ({
    dtype,
    shape,
    data_offsets: offsets,
  });
  assertCheckpointError(
    () => readSafetensors(rawFile({ a: entry('U16', [2], [0, 4]) }, four)),
    /\d+-x\.safetensors: tensor 'a' has dtype 'U16', which lape does not support/,
  );
  assertCheckpointError(
    () => readSafetensors(rawFile({ a: entry('F32', [-1], [0, 4]) }, four)),
    /tensor 'a' has an invalid shape/,
  );
  assertCheckpointError(
    () => readSafetensors(rawFile({ a: entry('constructor', [1], [0, 4]) }, four)),
    /tensor 'a' has dtype 'constructor', which lape does not support/,
  );
  assertCheckpointError(
    () => readSafetensors(rawFile({ a: entry('F32', [2], [0, 4]) }, four)),
    /tensor 'a' of shape \[2\] and dtype F32 needs 8 bytes, its offsets span 4/,
  );
  assertCheckpointError(
    () => readSafetensors(rawFile({ a: entry('F32', [1], [4, 0]) }, four)),
    /tensor 'a' has invalid data_offsets/,
  );
  assertCheckpointError(
    () => readSafetensors(rawFile({ a: { dtype: 'F32', shape: [1] } }, four)),
    /tensor 'a' has invalid data_offsets/,
  );
  assertCheckpointError(
    () =>
      readSafetensors(
        rawFile({ a: entry('F32', [1], [0, 4]), b: entry('I16', [2], [2, 6]) }, new Uint8Array(6)),
      ),
    /tensors 'a' and 'b' overlap/,
  );
  assertCheckpointError(
    () =>
      readSafetensors(
        rawFile({ a: entry('U8', [2], [0, 2]), b: entry('U8', [2], [3, 5]) }, new Uint8Array(5)),
      ),
    /data bytes 2\.\.3 belong to no tensor/,
  );
  assertCheckpointError(
    () => readSafetensors(rawFile({ a: entry('F32', [1], [0, 4]) }, new Uint8Array(6))),
    /2 bytes of data after the last tensor/,
  );
  assertCheckpointError(
    () => readSafetensors(rawFile({ a: entry('F64', [1], [0, 8]) }, four)),
    /file is truncated: the tensors need 8 bytes of data, the file has 4/,
  );
  assertCheckpointError(
    () => readSafetensors(rawFile({ __metadata__: { a: 1 } }, new Uint8Array(0))),
    /__metadata__ value for 'a' is not a string/,
  );
  assertCheckpointError(() => readSafetensors(rawFile(null, four, '[1, 2]')), /not a JSON object/);
  assertCheckpointError(() => readSafetensors(rawFile(null, four, '{"a": ')), /not valid UTF-8 JSON/);
  const path = tmpFile();
  writeFileSync(path, Uint8Array.from([0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x7b]));
  assertCheckpointError(
    () => readSafetensors(path),
    /header length 65535 exceeds the file size 9 \(truncated file, or not safetensors\)/,
  );
  writeFileSync(path, Uint8Array.from([1, 2, 3]));
  assertCheckpointError(
    () => readSafetensors(path),
    /file is truncated \(shorter than the 8-byte header length\)/,
  );
  assertCheckpointError(
    () => readSafetensors(join(tmp, 'missing.safetensors')),
    /^missing\.safetensors: cannot read safetensors file: ENOENT/,
  );
  // Whitespace padding after the JSON is allowed.
  const padded = rawFile(null, four, JSON.stringify({ a: entry('I32', [1], [0, 4]) }) + '     ');
  assert.deepEqual([...(readSafetensors(padded).tensors.get('a') as HostTensor).data], [0]);
});

test('every truncation of a file is a CheckpointError', () => {
  const full = readFileSync(new URL('tensors.safetensors', FIXTURES));
  const path = tmpFile('cut.safetensors');
  for (let n = 0; n < full.length; n++) {
    writeFileSync(path, full.subarray(0, n));
    assertCheckpointError(() => readSafetensors(path), /^\d+-cut\.safetensors: /);
  }
});

test('refuses to write what the format cannot hold, atomically', () => {
  const path = tmpFile('w.safetensors');
  const t: HostTensor = { dtype: 'float32', shape: [1], data: new Float32Array(1) };
  assertCheckpointError(
    () => writeSafetensors(path, new Map([['__metadata__', t]])),
    /'__metadata__' cannot be a tensor name/,
  );
  const bad: HostTensor = { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) };
  assertCheckpointError(
    () => writeSafetensors(path, new Map([['w', bad]])),
    /tensor 'w' of shape \[2,2\] has 3 elements/,
  );
  assertCheckpointError(
    () => writeSafetensors(path, new Map(), { a: 5 as unknown as string }),
    /metadata value for 'a' is not a string/,
  );
  assertCheckpointError(
    () => writeSafetensors(join(tmp, 'nodir', 'x.safetensors'), new Map()),
    /^x\.safetensors: cannot write: ENOENT/,
  );
  // A name that is special to JS objects stays an ordinary tensor name.
  writeSafetensors(
    path,
    new Map([
      ['__proto__', t],
      ['constructor', t],
    ]),
  );
  assert.deepEqual([...readSafetensors(path).tensors.keys()].sort(), ['__proto__', 'constructor']);
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.includes('.tmp-')),
    [],
  );
});

test('numpy reads what writeSafetensors writes', { skip: noNumpy }, () => {
  const path = tmpFile('py.safetensors');
  const sd = everyDType();
  writeSafetensors(path, sd, { source: 'lape' });
  const script = `
import sys, json, struct, numpy as np
args = json.loads(sys.stdin.read())
raw = open(args['path'], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
assert header.pop('__metadata__') == {'source': 'lape'}
np_types = {'F32': '<f4', 'F64': '<f8', 'F16': '<u2', 'BF16': '<u2', 'I64': '<i8', 'I32': '<i4', 'I16': '<i2', 'I8': 'i1', 'U8': 'u1', 'BOOL': 'u1'}
out = {}
for name, e in header.items():
    b, end = e['data_offsets']
    a = np.frombuffer(data[b:end], dtype=np_types[e['dtype']]).reshape(e['shape'])
    out[name] = {'dtype': e['dtype'], 'shape': list(a.shape), 'values': [str(v) if e['dtype'] == 'I64' else v for v in a.reshape(-1).tolist()]}
print(json.dumps(out, sort_keys=True))
`;
  const r = spawnSync(PYTHON, ['-c', script], { input: JSON.stringify({ path }), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as Record<string, { dtype: string; shape: number[]; values: Json[] }>;
  const codes: Record<string, string> = {
    float32: 'F32',
    float64: 'F64',
    float16: 'F16',
    bfloat16: 'BF16',
    int64: 'I64',
    int32: 'I32',
    int16: 'I16',
    int8: 'I8',
    uint8: 'U8',
    bool: 'BOOL',
  };
  assert.deepEqual(Object.keys(got).sort(), [...sd.keys()].sort());
  for (const [name, t] of sd) {
    const { $tensor } = tagTensor(t) as { $tensor: { shape: number[]; values: Json[] } };
    assert.deepEqual(
      got[name],
      { dtype: codes[t.dtype], shape: $tensor.shape, values: $tensor.values },
      name,
    );
  }
});
