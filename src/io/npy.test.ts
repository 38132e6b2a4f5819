import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { CheckpointError } from './errors.js';
import type { HostTensor } from './host_tensor.js';
import { encodeNpy, parseNpy, readNpy, writeNpy } from './npy.js';

const FIXTURES = new URL('../../test/fixtures/io/', import.meta.url);
const npyPath = (name: string): string => new URL(`npy/${name}.npy`, FIXTURES).pathname;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const expected = JSON.parse(readFileSync(new URL('expected.json', FIXTURES), 'utf8')) as {
  npy: Record<string, Json>;
};
const NAMES = ['f4', 'f8', 'f2', 'i8', 'i4', 'i2', 'i1', 'u1', 'b1', 'scalar', 'empty'];

/** The Python used for cross-checks (LAPE_PYTHON overrides it, e.g. for a virtualenv in CI). */
const PYTHON = process.env.LAPE_PYTHON ?? '/usr/bin/python3';
/** Why the tests that need numpy are skipped, or false when it is importable. */
const noNumpy: string | false = (() => {
  const r = spawnSync(PYTHON, ['-c', "import importlib.util as u; assert u.find_spec('numpy')"], {
    encoding: 'utf8',
  });
  return r.status === 0 ? false : `needs ${PYTHON} with numpy (${r.error?.message ?? 'not installed'})`;
})();

const tmp = mkdtempSync(join(tmpdir(), 'lape-npy-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

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

test('reads .npy files of every dtype written by numpy', () => {
  for (const name of NAMES) assert.deepEqual(tagTensor(readNpy(npyPath(name))), expected.npy[name], name);
  assert.deepEqual(readNpy(npyPath('scalar')).shape, []);
  assert.deepEqual(readNpy(npyPath('empty')).shape, [0, 3]);
});

test('reads version 2 headers and big-endian data', () => {
  assert.deepEqual(readNpy(npyPath('v2')), readNpy(npyPath('f4')));
  assert.deepEqual(readNpy(npyPath('big_endian_f4')), readNpy(npyPath('f4')));
  assert.deepEqual(readNpy(npyPath('big_endian_i8')), readNpy(npyPath('i8')));
  // Version 3 differs from 2 only in the header's text encoding (UTF-8).
  const v3 = Uint8Array.from(readFileSync(npyPath('v2')));
  v3[6] = 3;
  assert.deepEqual(parseNpy(v3), readNpy(npyPath('f4')));
});

test('encodes exactly what numpy writes', () => {
  for (const name of NAMES) {
    const file = readFileSync(npyPath(name));
    assert.deepEqual(encodeNpy(parseNpy(file)), new Uint8Array(file), name);
  }
});

test('refuses Fortran order, object arrays and other dtypes, naming the file', () => {
  assertCheckpointError(
    () => readNpy(npyPath('fortran')),
    /^fortran\.npy: Fortran-ordered \(column-major\) arrays are not supported; save np\.ascontiguousarray\(a\) instead$/,
  );
  assertCheckpointError(() => readNpy(npyPath('object')), /^object\.npy: dtype '\|O' is not supported/);
  const header = (dict: string): Uint8Array => {
    const text = dict.padEnd(117, ' ') + '\n';
    return Uint8Array.from([
      0x93,
      ...Buffer.from('NUMPY'),
      1,
      0,
      text.length,
      0,
      ...Buffer.from(text, 'latin1'),
    ]);
  };
  assertCheckpointError(
    () => parseNpy(header("{'descr': '<u2', 'fortran_order': False, 'shape': (0,), }")),
    /dtype '<u2' is not supported/,
  );
  assertCheckpointError(
    () => parseNpy(header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (0,), }")),
    /structured arrays are not supported/,
  );
  assertCheckpointError(
    () => parseNpy(header("{'descr': '<f4', 'shape': (0,), }")),
    /header has no fortran_order/,
  );
  assertCheckpointError(
    () => parseNpy(header("{'descr': '<f4', 'fortran_order': False, 'shape': (0,) ")),
    /malformed header/,
  );
  assertCheckpointError(
    () => parseNpy(header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")),
    /invalid dimension -1/,
  );
  assertCheckpointError(
    () => parseNpy(Buffer.from('not an npy file'), 'x.npy'),
    /^x\.npy: not a \.npy file \(bad magic\)$/,
  );
  const badVersion = Uint8Array.from(readFileSync(npyPath('f4')));
  badVersion[6] = 9;
  assertCheckpointError(() => parseNpy(badVersion), /unsupported \.npy format version 9\.0/);
  assertCheckpointError(
    () => readNpy(join(tmp, 'missing.npy')),
    /^missing\.npy: cannot read \.npy file: ENOENT/,
  );
});

test('every truncation, and extra data, is a CheckpointError', () => {
  for (const name of ['f8', 'i8', 'v2']) {
    const full = readFileSync(npyPath(name));
    for (let n = 0; n < full.length; n++)
      assertCheckpointError(
        () => parseNpy(full.subarray(0, n), `${name}.npy`),
        new RegExp(`^${name}\\.npy: `),
      );
    assertCheckpointError(
      () => parseNpy(Buffer.concat([full, Buffer.from([0])])),
      /1 unexpected bytes after the data/,
    );
  }
});

test('round-trips every numpy dtype; bfloat16 has none', () => {
  const tensors: HostTensor[] = [
    { dtype: 'float32', shape: [2, 1, 2], data: Float32Array.from([1, -0, 3.5, 1e-30]) },
    { dtype: 'float64', shape: [1], data: Float64Array.from([Math.E]) },
    { dtype: 'float16', shape: [2], data: Uint16Array.from([0x3c00, 0xfbff]) },
    { dtype: 'int64', shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]) },
    { dtype: 'int32', shape: [], data: Int32Array.from([-7]) },
    { dtype: 'int16', shape: [1], data: Int16Array.from([-300]) },
    { dtype: 'int8', shape: [2], data: Int8Array.from([-1, 1]) },
    { dtype: 'uint8', shape: [0], data: new Uint8Array(0) },
    { dtype: 'bool', shape: [2, 2], data: Uint8Array.from([1, 0, 0, 1]) },
  ];
  for (const t of tensors) {
    const path = join(tmp, `${t.dtype}.npy`);
    writeNpy(path, t);
    assert.deepEqual(readNpy(path), t, t.dtype);
    const bytes = encodeNpy(t);
    const headerLen = bytes[8] | (bytes[9] << 8);
    assert.equal((10 + headerLen) % 64, 0, 'data is 64-byte aligned');
    assert.equal(bytes[10 + headerLen - 1], 0x0a, 'header ends with a newline');
  }
  const bf16: HostTensor = { dtype: 'bfloat16', shape: [1], data: Uint16Array.from([0x3f80]) };
  assertCheckpointError(
    () => writeNpy(join(tmp, 'bf.npy'), bf16),
    /^bf\.npy: bfloat16 has no numpy dtype; convert it first/,
  );
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.includes('.tmp-') || f === 'bf.npy'),
    [],
  );
});

test('numpy loads what writeNpy writes', { skip: noNumpy }, () => {
  const tensors: Record<string, HostTensor> = {
    f4: { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, -2, 3.25, 0.1, 1e-30, 7]) },
    i8: { dtype: 'int64', shape: [3], data: BigInt64Array.from([-(2n ** 63n), 2n ** 53n + 1n, 0n]) },
    b1: { dtype: 'bool', shape: [1, 2], data: Uint8Array.from([0, 1]) },
    f2: { dtype: 'float16', shape: [2], data: Uint16Array.from([0x3c00, 0x0001]) },
    u1: { dtype: 'uint8', shape: [], data: Uint8Array.from([200]) },
  };
  for (const [name, t] of Object.entries(tensors)) writeNpy(join(tmp, `py-${name}.npy`), t);
  const script = `
import sys, json, numpy as np
d = sys.argv[1]
out = {}
for name in ['f4', 'i8', 'b1', 'f2', 'u1']:
    a = np.load(f'{d}/py-{name}.npy')
    assert a.flags['C_CONTIGUOUS']
    values = a.view(np.uint16) if a.dtype == np.float16 else a
    values = [str(v) if a.dtype == np.int64 else int(v) if a.dtype == np.bool_ else v for v in values.reshape(-1).tolist()]
    out[name] = {'dtype': a.dtype.str, 'shape': list(a.shape), 'values': values}
print(json.dumps(out))
`;
  const r = spawnSync(PYTHON, ['-c', script, tmp], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout) as Record<string, Json>;
  const descr: Record<string, string> = { f4: '<f4', i8: '<i8', b1: '|b1', f2: '<f2', u1: '|u1' };
  for (const [name, t] of Object.entries(tensors)) {
    const { $tensor } = tagTensor(t) as { $tensor: { shape: number[]; values: Json[] } };
    assert.deepEqual(got[name], { dtype: descr[name], shape: $tensor.shape, values: $tensor.values }, name);
  }
});
