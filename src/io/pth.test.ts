import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type Zippable, unzipSync, zipSync } from 'fflate';

import { CheckpointError } from './errors.js';
import {
  DTYPE_SIZE,
  type HostTensor,
  type StateDict,
  byteSwapInPlace,
  isHostTensor,
  toFloat32,
} from './host_tensor.js';
import { type PyKey, PyGlobalRef, PyObject, PySet, PyTuple, type PyValue, unpickle } from './pickle.js';
import { crc32, crc32Portable, readPth, readStateDict, writePth } from './pth.js';

const FIXTURES = new URL('../../test/fixtures/io/', import.meta.url);
const fixturePath = (name: string): string => new URL(name, FIXTURES).pathname;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const expected = JSON.parse(readFileSync(new URL('expected.json', FIXTURES), 'utf8')) as Record<string, Json>;

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

const tmp = mkdtempSync(join(tmpdir(), 'lape-pth-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const tmpFile = (name = 'x.pth'): string => join(tmp, `${counter++}-${name}`);

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

function get(v: PyValue, ...path: PyKey[]): PyValue {
  for (const k of path) {
    if (v instanceof Map) v = v.get(k) as PyValue;
    else if (Array.isArray(v) && typeof k === 'number') v = v[k];
    else assert.fail(`no ${String(k)} in ${String(v)}`);
  }
  return v;
}

function assertCheckpointError(fn: () => unknown, pattern: RegExp): CheckpointError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CheckpointError, `expected a CheckpointError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  return caught;
}

/** The records of a zip (via fflate, independent of the code under test). */
const unzip = (path: string): Record<string, Uint8Array> => unzipSync(readFileSync(path));

/** Where each record's data starts, and its compression method, from the central directory. */
function dataOffsets(bytes: Uint8Array): Map<string, { offset: number; method: number }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = bytes.length - 22; // these archives have no comment
  assert.equal(view.getUint32(eocd, true), 0x06054b50);
  const out = new Map<string, { offset: number; method: number }>();
  for (let p = view.getUint32(eocd + 16, true), i = 0; i < view.getUint16(eocd + 10, true); i++) {
    const nameLen = view.getUint16(p + 28, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    const local = view.getUint32(p + 42, true);
    const offset = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    out.set(name, { offset, method: view.getUint16(p + 10, true) });
    p += 46 + nameLen + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
  }
  return out;
}

test('reads a bare state dict: every dtype, views, offsets and shared storages', () => {
  const v = readPth(fixturePath('state_dict.pth'));
  assert.deepEqual(toTagged(v), expected.state_dict);
  assert.ok(v instanceof Map);
  const want = (expected.state_dict as { $dict: [string, Json][] }).$dict.map(([k]) => k);
  assert.deepEqual([...v.keys()], want, 'order kept');
  // Views of one storage come out as independent dense copies.
  const base = v.get('base') as HostTensor;
  const baseT = v.get('base_t') as HostTensor;
  assert.deepEqual(baseT.shape, [5, 4]);
  assert.equal(baseT.data[1 * 4 + 2], base.data[2 * 5 + 1]);
  (base.data as Float32Array)[0] = 1234;
  assert.notEqual(baseT.data[0], 1234);
  assert.deepEqual(
    [...(v.get('base_slice') as HostTensor).data],
    [...base.data.slice(6, 9), ...base.data.slice(11, 14)],
  );
  assert.deepEqual([...(v.get('expanded') as HostTensor).data], [1.5, -2.5, 3.25, 1.5, -2.5, 3.25]);
  assert.deepEqual([...(v.get('i64') as HostTensor).data].slice(2, 6), [
    2n ** 53n + 1n,
    2n ** 62n + 3n,
    -(2n ** 63n),
    2n ** 63n - 1n,
  ]);
  assert.deepEqual(
    toFloat32(v.get('f16') as HostTensor).slice(0, 5),
    Float32Array.from([0, -0, 1, -2.5, 65504]),
  );
});

test('reads the reference training checkpoint layout', () => {
  const v = readPth(fixturePath('checkpoint.pth'));
  assert.deepEqual(toTagged(v), expected.checkpoint);
  assert.equal(get(v, 'epoch'), 3);
  assert.equal(get(v, 'max_accuracy'), 71.5);
  const args = get(v, 'args');
  assert.ok(args instanceof PyObject);
  assert.equal(args.className, 'argparse.Namespace');
  assert.equal(args.attrs.model, 'deit_tiny_patch16_224');
  assert.equal(args.attrs.lr, 5e-4);
  assert.deepEqual(args.attrs.mean, new PyTuple([0.485, 0.456, 0.406]));
  const step = get(v, 'optimizer', 'state', 0, 'step');
  assert.ok(isHostTensor(step) && step.dtype === 'float32');
  assert.deepEqual(step.shape, []);
  assert.equal(step.data[0], 3);
  const group = get(v, 'optimizer', 'param_groups', 0);
  assert.deepEqual(get(group, 'betas'), new PyTuple([0.9, 0.999]));
  assert.equal(get(group, 'weight_decay'), 0.05);
  assert.deepEqual(get(group, 'params'), [0, 1, 2, 3]);
  assert.equal(get(v, 'lr_scheduler', 'T_max'), 300);

  const p4 = readPth(fixturePath('checkpoint_p4.pth'));
  assert.deepEqual(toTagged(p4), expected.checkpoint_p4, 'pickle protocol 4');
});

test('readStateDict finds the weights: top level, model, or a chosen key', () => {
  const bare = readStateDict(fixturePath('state_dict.pth'));
  assert.equal(bare.source, 'top-level');
  assert.equal(bare.stateDict.size, 20);

  const ck = readStateDict(fixturePath('checkpoint.pth'));
  assert.equal(ck.source, 'model');
  assert.deepEqual([...ck.stateDict.keys()], ['0.weight', '0.bias', '1.weight', '1.bias']);
  assert.ok(ck.raw instanceof Map && ck.raw.has('optimizer'));
  const ema = readStateDict(fixturePath('checkpoint.pth'), { key: 'model_ema' });
  assert.equal(ema.source, 'model_ema');
  const w = ck.stateDict.get('0.weight') as HostTensor;
  const we = ema.stateDict.get('0.weight') as HostTensor;
  assert.deepEqual(
    [...we.data],
    [...w.data].map((x) => Math.fround((x as number) * 0.5)),
  );

  assertCheckpointError(
    () => readStateDict(fixturePath('checkpoint.pth'), { key: 'nope' }),
    /^checkpoint\.pth: no dict of tensors under key 'nope' \(top-level keys: 'model', 'model_ema', 'optimizer', 'lr_scheduler', 'scaler', 'epoch', 'args', 'max_accuracy'\)/,
  );
  assertCheckpointError(
    () => readStateDict(fixturePath('checkpoint_p4.pth')),
    /^checkpoint_p4\.pth: no model weights found: expected a dict of tensors or a 'model' entry \(top-level keys: 'w', 'step', 'name', 't'\)/,
  );
});

test('refuses malicious pickles without running them', () => {
  assertCheckpointError(
    () => readPth(fixturePath('malicious.pth')),
    /^malicious\.pth: pickle refers to global 'os\.system', which lape does not load \(only tensors, containers and numbers are allowed\)$/,
  );
  assertCheckpointError(
    () => readStateDict(fixturePath('malicious_nested.pth')),
    /^malicious_nested\.pth: pickle refers to global 'posix\.system'/,
  );
});

test('rejects the legacy format, non-zips, empty and missing files with clear messages', () => {
  assertCheckpointError(
    () => readPth(fixturePath('legacy.pth')),
    /^legacy\.pth: legacy PyTorch format \(pre-1\.6, _use_new_zipfile_serialization=False\) is not supported; re-save it with torch\.save$/,
  );
  const text = tmpFile('notes.pth');
  writeFileSync(text, 'hello, this is not a checkpoint\n');
  assertCheckpointError(
    () => readPth(text),
    /notes\.pth: not a PyTorch checkpoint \(the file is not a zip archive\)/,
  );
  const empty = tmpFile('empty.pth');
  writeFileSync(empty, '');
  assertCheckpointError(() => readPth(empty), /empty\.pth: file is empty/);
  assertCheckpointError(
    () => readPth(join(tmp, 'missing.pth')),
    /^missing\.pth: cannot read checkpoint: ENOENT/,
  );
});

test('truncated and corrupted files give a CheckpointError naming the file', () => {
  const full = readFileSync(fixturePath('state_dict.pth'));
  const path = tmpFile('cut.pth');
  writeFileSync(path, full.subarray(0, full.length >> 1));
  assertCheckpointError(() => readPth(path), /^\d+-cut\.pth: file is truncated or not a zip archive/);
  for (let n = 1; n < full.length; n += 97) {
    writeFileSync(path, full.subarray(0, n));
    assertCheckpointError(() => readPth(path), /^\d+-cut\.pth: /);
  }
  // A flipped bit in a storage is caught by the record checksum.
  const offsets = dataOffsets(full);
  const record = offsets.get('state_dict/data/3');
  assert.ok(record);
  const flipped = Uint8Array.from(full);
  flipped[record.offset + 1] ^= 0x10;
  writeFileSync(path, flipped);
  assertCheckpointError(
    () => readPth(path),
    /record 'state_dict\/data\/3' is corrupt \(size or CRC-32 mismatch\)/,
  );
  // Any flipped byte anywhere: a value (if it only hit alignment padding or header fields that zip
  // readers ignore, such as timestamps) or a CheckpointError.
  let failures = 0;
  let flips = 0;
  for (let i = 0; i < full.length; i += 7, flips++) {
    const bad = Uint8Array.from(full);
    bad[i] ^= 0xff;
    writeFileSync(path, bad);
    try {
      readPth(path);
    } catch (err) {
      assert.ok(err instanceof CheckpointError, `byte ${i}: ${String(err)}`);
      assert.match(err.message, /^\d+-cut\.pth: /);
      failures++;
    }
  }
  assert.ok(failures > 0.5 * flips, `most flips are detected (${failures} of ${flips})`);
});

test('reads archives written by other tools: any folder name, deflate, big-endian', () => {
  const records = unzip(fixturePath('state_dict.pth'));
  const renamed: Zippable = {};
  const deflated: Zippable = {};
  const bigEndian: Zippable = {};
  const sd = readPth(fixturePath('state_dict.pth'));
  // Storage key -> element size, as the pickle's storage requests say.
  const itemSizes = new Map<string, number>();
  unpickle(records['state_dict/data.pkl'], {
    file: 'data.pkl',
    loadStorage: ({ key, dtype }) => {
      itemSizes.set(key, DTYPE_SIZE[dtype]);
      return records[`state_dict/data/${key}`];
    },
  });
  assert.equal(itemSizes.size, Object.keys(records).filter((n) => n.includes('/data/')).length);
  for (const [name, data] of Object.entries(records)) {
    const rest = name.slice('state_dict/'.length);
    renamed[`anything-goes/${rest}`] = [data, { level: 0 }];
    deflated[name] = [data, { level: 6 }];
    const key = /^data\/(\d+)$/.exec(rest)?.[1];
    const swapped = Uint8Array.from(data);
    if (key !== undefined) byteSwapInPlace(swapped, itemSizes.get(key) as number);
    bigEndian[name] = [swapped, { level: 0 }];
  }
  bigEndian['state_dict/byteorder'] = [new TextEncoder().encode('big'), { level: 0 }];
  for (const [label, zippable] of Object.entries({ renamed, deflated, bigEndian })) {
    const path = tmpFile(`${label}.pth`);
    writeFileSync(path, zipSync(zippable));
    assert.deepEqual(readPth(path), sd, label);
  }
  const deflatedFile = tmpFile('deflated.pth');
  writeFileSync(deflatedFile, zipSync(deflated));
  assert.ok(
    [...dataOffsets(readFileSync(deflatedFile)).values()].some((r) => r.method === 8),
    'deflate was used',
  );
});

test('reports missing records and storages that are too small', () => {
  const records = unzip(fixturePath('state_dict.pth'));
  const variant = (label: string, edit: (z: Record<string, Uint8Array>) => void): string => {
    const copy = { ...records };
    edit(copy);
    const path = tmpFile(`${label}.pth`);
    writeFileSync(
      path,
      zipSync(Object.fromEntries(Object.entries(copy).map(([k, d]) => [k, [d, { level: 0 }]]))),
    );
    return path;
  };
  const noPkl = variant('nopkl', (z) => delete z['state_dict/data.pkl']);
  assertCheckpointError(
    () => readPth(noPkl),
    /nopkl\.pth: zip archive has no data\.pkl record, so it is not a torch\.save checkpoint/,
  );
  const script = variant('script', (z) => {
    delete z['state_dict/data.pkl'];
    z['state_dict/constants.pkl'] = new Uint8Array(1);
    z['state_dict/code/__torch__.py'] = new Uint8Array(1);
  });
  assertCheckpointError(() => readPth(script), /TorchScript archive \(torch\.jit\.save\)/);
  const noStorage = variant('nostorage', (z) => delete z['state_dict/data/3']);
  assertCheckpointError(
    () => readPth(noStorage),
    /nostorage\.pth: storage record 'state_dict\/data\/3' is missing/,
  );
  const small = variant('small', (z) => (z['state_dict/data/0'] = z['state_dict/data/0'].subarray(0, 8)));
  assertCheckpointError(
    () => readPth(small),
    /small\.pth: storage '0' has 8 bytes but the pickle says it holds 6 float32 \(24 bytes\)/,
  );
});

/** A state dict with every dtype, a scalar and an empty tensor. */
function everyDType(): StateDict {
  return new Map<string, HostTensor>([
    ['f32', { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1.5, -2, 3.25, 0, -0, 1e-30]) }],
    ['f64', { dtype: 'float64', shape: [2], data: Float64Array.from([Math.PI, -1e300]) }],
    ['f16', { dtype: 'float16', shape: [3], data: Uint16Array.from([0x3c00, 0xc100, 0x7bff]) }],
    ['bf16', { dtype: 'bfloat16', shape: [2], data: Uint16Array.from([0x3f80, 0xc2c8]) }],
    ['i64', { dtype: 'int64', shape: [3], data: BigInt64Array.from([-(2n ** 63n), 2n ** 53n + 1n, 7n]) }],
    ['i32', { dtype: 'int32', shape: [2], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1]) }],
    ['i16', { dtype: 'int16', shape: [2], data: Int16Array.from([-32768, 32767]) }],
    ['i8', { dtype: 'int8', shape: [2], data: Int8Array.from([-128, 127]) }],
    ['u8', { dtype: 'uint8', shape: [1, 2], data: Uint8Array.from([0, 255]) }],
    ['bool', { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) }],
    ['scalar', { dtype: 'float32', shape: [], data: Float32Array.from([42]) }],
    ['empty', { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) }],
  ]);
}

test('writes the zip layout torch uses: stored records aligned to 64 bytes', () => {
  const path = tmpFile('layout.pth');
  writePth(path, everyDType());
  const bytes = readFileSync(path);
  const offsets = dataOffsets(bytes);
  assert.deepEqual(
    [...offsets.keys()],
    [
      'archive/data.pkl',
      ...Array.from({ length: 12 }, (_, i) => `archive/data/${i}`),
      'archive/version',
      'archive/byteorder',
    ],
  );
  for (const [name, { offset, method }] of offsets) {
    assert.equal(offset % 64, 0, `${name} is aligned`);
    assert.equal(method, 0, `${name} is stored`);
  }
  const records = unzip(path);
  assert.equal(new TextDecoder().decode(records['archive/version']), '3\n');
  assert.equal(new TextDecoder().decode(records['archive/byteorder']), 'little');
  assert.deepEqual([...records['archive/data/9']], [1, 0, 1]);
  // Deterministic: the same value gives the same bytes.
  const again = tmpFile('layout.pth');
  writePth(again, everyDType());
  assert.deepEqual(readFileSync(again), bytes);
});

test('round-trips through writePth and readPth', () => {
  const sd = everyDType();
  const path = tmpFile();
  writePth(path, sd);
  assert.deepEqual(readPth(path), sd);
  const ck = readPth(fixturePath('checkpoint.pth'));
  writePth(path, ck);
  assert.deepEqual(readPth(path), ck);
  // One tensor object used twice is stored once and read back twice.
  const t = sd.get('f32') as HostTensor;
  writePth(path, [t, t]);
  assert.equal(Object.keys(unzip(path)).filter((n) => n.includes('/data/')).length, 1);
  assert.deepEqual(readPth(path), [t, t]);
});

test('writes atomically and reports write errors', () => {
  const path = tmpFile('atomic.pth');
  writePth(path, everyDType());
  const before = readFileSync(path);
  const cyclic: PyValue[] = [];
  cyclic.push(cyclic);
  assertCheckpointError(
    () => writePth(path, cyclic),
    /atomic\.pth: cannot write a value that contains itself/,
  );
  assert.deepEqual(readFileSync(path), before, 'a failed write leaves the old file');
  assertCheckpointError(
    () => writePth(join(tmp, 'no', 'such', 'dir.pth'), []),
    /^dir\.pth: cannot write: ENOENT/,
  );
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.includes('.tmp-')),
    [],
    'no temporary files are left behind',
  );
});

test('crc32 matches zlib on known inputs', () => {
  const data = new TextEncoder().encode('The quick brown fox jumps over the lazy dog');
  assert.equal(crc32(data), 0x414fa339);
  assert.equal(crc32Portable(data), 0x414fa339);
  assert.equal(crc32Portable(data.subarray(10), crc32Portable(data.subarray(0, 10))), 0x414fa339);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test('PyTorch loads what writePth writes (weights_only for state dicts)', { skip: noTorch }, () => {
  const sdPath = tmpFile('sd.pth');
  writePth(sdPath, everyDType());
  const sdTagged = toTagged(everyDType());
  const ckPath = tmpFile('ck.pth');
  writePth(ckPath, readPth(fixturePath('checkpoint.pth')));
  const script = `
import sys, json, argparse, torch
sys.path.insert(0, ${JSON.stringify(new URL('../../scripts/fixtures/', import.meta.url).pathname)})
from make_io_fixtures import tag
args = json.loads(sys.stdin.read())
sd = torch.load(args['sd'], weights_only=True)
assert tag(sd) == args['sd_expected'], (tag(sd), args['sd_expected'])
ck = torch.load(args['ck'])
assert tag(ck) == args['ck_expected']
assert type(ck['args']) is argparse.Namespace and ck['args'].model == 'deit_tiny_patch16_224'
# The loaded pieces work with the real objects they came from.
model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
model.load_state_dict(ck['model'])
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
opt.load_state_dict(ck['optimizer'])
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=300)
sched.load_state_dict(ck['lr_scheduler'])
print('ok', opt.state_dict()['state'][0]['step'].item())
`;
  const r = spawnSync(PYTHON, ['-c', script], {
    // The script imports make_io_fixtures.py for `tag`: keep Python from writing __pycache__ there.
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    input: JSON.stringify({
      sd: sdPath,
      sd_expected: sdTagged,
      ck: ckPath,
      ck_expected: expected.checkpoint,
    }),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok 3.0');
});
