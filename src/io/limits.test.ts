import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { zipSync } from 'fflate';

import { P, concat, floats, pth, rebuildTensor, stateDictPickle } from '../../test/hostile/attacks.js';
import { CheckpointError } from './errors.js';
import { type HostTensor, toFloat32 } from './host_tensor.js';
import {
  DEFAULT_READ_LIMITS,
  formatBytes,
  parseByteSize,
  resolveReadLimits,
  setDefaultReadLimits,
} from './limits.js';
import { type PyValue, pickle, unpickle } from './pickle.js';
import { readPth, readStateDict, writePth } from './pth.js';

const tmp = mkdtempSync(join(tmpdir(), 'lape-limits-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function file(bytes: Uint8Array): string {
  const path = join(tmp, `${n++}.pth`);
  writeFileSync(path, bytes);
  return path;
}

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

const values = (t: PyValue | undefined): number[] => [...toFloat32(t as HostTensor)];

test('parseByteSize takes plain, exponent and unit forms, and nothing else', () => {
  assert.equal(parseByteSize('8G', 'x'), 8 * 1024 ** 3);
  assert.equal(parseByteSize('512M', 'x'), 512 * 1024 ** 2);
  assert.equal(parseByteSize('1.5GiB', 'x'), 1.5 * 1024 ** 3);
  assert.equal(parseByteSize('2e9', 'x'), 2e9);
  assert.equal(parseByteSize('4096', 'x'), 4096);
  for (const bad of ['0x10', '-1', '', 'G', '1Q', '0', 'Infinity', '1e999'])
    assert.throws(() => parseByteSize(bad, '--max'), /--max expects a size in bytes/, bad);
  assert.equal(formatBytes(512 * 1024 ** 2), '512 MiB');
  assert.equal(formatBytes(17), '17 bytes');
});

test('limits: defaults, per-call overrides, process defaults (restorable), and validation', () => {
  assert.equal(resolveReadLimits().maxBytes, DEFAULT_READ_LIMITS.maxBytes);
  assert.equal(resolveReadLimits({ maxPickleDepth: 7 }).maxPickleDepth, 7);
  assert.throws(() => resolveReadLimits({ maxBytes: -1 }), /maxBytes must be a positive number/);
  const previous = setDefaultReadLimits({ maxBytes: 4 });
  try {
    assert.equal(resolveReadLimits().maxBytes, 4);
    rejects(
      () => readPth(file(pth(stateDictPickle([])))),
      /past the limit of 4 bytes for one file \(maxBytes/,
    );
  } finally {
    setDefaultReadLimits(previous);
  }
  assert.equal(resolveReadLimits().maxBytes, DEFAULT_READ_LIMITS.maxBytes);
});

test('a pickle that creates too many objects or nests too deep stops at the limit', () => {
  const refs = concat([P.proto2, P.emptyList, P.str('x'), P.binput(1), P.pop, P.mark]);
  const many = concat([refs, ...Array.from({ length: 2000 }, () => P.binget(1)), P.appends, P.stop]);
  assert.equal((unpickle(many, { file: 'a.pkl' }) as PyValue[]).length, 2000);
  rejects(
    () => unpickle(many, { file: 'a.pkl', limits: { maxPickleObjects: 1000 } }),
    /^a\.pkl: pickle creates more than 1,000 objects \(maxPickleObjects\)/,
  );
  const marks = concat([P.proto2, ...Array.from({ length: 50 }, () => P.mark), P.stop]);
  rejects(
    () => unpickle(marks, { file: 'b.pkl', limits: { maxPickleDepth: 20 } }),
    /pickle MARKs nests deeper than 20 levels/,
  );
  // Containers nested 30 deep through the memo: found by the walk over the result.
  const parts: (Uint8Array | number[])[] = [P.proto2, P.emptyList, P.binput(0)];
  for (let k = 1; k < 30; k++) parts.push(P.emptyList, P.binput(k), P.append, P.pop, P.binget(k));
  parts.push(P.pop, P.binget(0), P.stop);
  const deep = concat(parts);
  assert.ok(Array.isArray(unpickle(deep, { file: 'c.pkl' })));
  rejects(
    () => unpickle(deep, { file: 'c.pkl', limits: { maxPickleDepth: 20 } }),
    /pickle nests containers deeper than 20 levels \(maxPickleDepth\)/,
  );
  rejects(
    () =>
      unpickle(concat([P.proto2, P.emptyList, P.binput(0), P.binget(0), P.append, P.stop]), {
        file: 'd.pkl',
      }),
    /d\.pkl: pickle holds a container that contains itself/,
  );
});

test('views: stride-0 and overlapping views within the allowance decode to the right values', () => {
  const pkl = stateDictPickle([
    ['full', rebuildTensor('0', 6, 0, [2, 3], [3, 1])],
    ['transposed', rebuildTensor('0', 6, 0, [3, 2], [1, 3])],
    ['broadcast', rebuildTensor('0', 6, 4, [2, 3], [0, 0])],
    ['windows', rebuildTensor('0', 6, 1, [3, 3], [1, 1])],
    ['again', rebuildTensor('0', 6, 0, [3, 2], [1, 3])],
  ]);
  const { stateDict } = readStateDict(file(pth(pkl, { '0': floats(6) })));
  assert.deepEqual(values(stateDict.get('full')), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(values(stateDict.get('transposed')), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(values(stateDict.get('broadcast')), [4, 4, 4, 4, 4, 4]);
  assert.deepEqual(values(stateDict.get('windows')), [1, 2, 3, 2, 3, 4, 3, 4, 5]);
  // An identical view is the same tensor, not another copy.
  assert.equal(stateDict.get('again'), stateDict.get('transposed'));
});

test('a view expanding past maxExpandedBytes is refused by key, before anything is allocated', () => {
  const pkl = stateDictPickle([['pos_embed', rebuildTensor('0', 1, 0, [1000], [0])]]);
  const path = file(pth(pkl, { '0': floats(1) }));
  assert.equal(readStateDict(path).stateDict.get('pos_embed')?.data.length, 1000);
  rejects(
    () => readStateDict(path, { limits: { maxExpandedBytes: 1000 } }),
    /tensor 'pos_embed' is a view of shape \[1000\] with strides \[0\] of storage '0' \(1 float32 element, 4 bytes\): materializing it takes 3\.9 KiB more than the storage holds, past the limit of 1000 bytes for expanded views \(maxExpandedBytes/,
  );
});

test('shared parts are written once: a 60-level DAG (2^60 paths) writes and reads back in linear size', () => {
  let v: PyValue = [];
  for (let k = 0; k < 60; k++) v = [v, v];
  const bytes = pickle(v, { file: 'dag.pkl', assignStorage: () => ({ key: '0' }) });
  assert.ok(bytes.length < 2000, `${bytes.length} bytes`);
  let back = unpickle(bytes, { file: 'dag.pkl' }) as PyValue[];
  for (let k = 0; k < 60; k++) {
    assert.equal(back[0], back[1], `level ${k} is shared`);
    back = back[0] as PyValue[];
  }
  // And through a .pth with a shared tensor: one storage, one tensor.
  const t: HostTensor = { dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) };
  const path = join(tmp, 'shared.pth');
  writePth(
    path,
    new Map<string, PyValue>([
      ['a', t],
      ['b', [t, t]],
    ]),
  );
  const read = readPth(path) as Map<string, PyValue>;
  assert.equal((read.get('b') as PyValue[])[0], read.get('a'));
  assert.deepEqual(values(read.get('a')), [1, 2]);
});

test('a deflated record decodes to the right values; a size field that lies is refused', () => {
  const pkl = stateDictPickle([['w', rebuildTensor('0', 4, 0, [4], [1])]]);
  const deflated = zipSync({
    'archive/data.pkl': [pkl, { level: 9 }],
    'archive/data/0': [floats(4), { level: 9 }],
  });
  assert.deepEqual(values(readStateDict(file(deflated)).stateDict.get('w')), [0, 1, 2, 3]);
  // Patch the storage record's uncompressed size (local and central headers) down to 8 bytes.
  const lying = deflated.slice();
  const view = new DataView(lying.buffer);
  for (let p = 0; p + 4 <= lying.length; p++) {
    const sig = view.getUint32(p, true);
    const isLocal = sig === 0x04034b50;
    const isCentral = sig === 0x02014b50;
    if (!isLocal && !isCentral) continue;
    const nameAt = p + (isLocal ? 30 : 46);
    const nameLen = view.getUint16(p + (isLocal ? 26 : 28), true);
    const name = new TextDecoder().decode(lying.subarray(nameAt, nameAt + nameLen));
    if (name === 'archive/data/0') view.setUint32(p + (isLocal ? 22 : 24), 8, true);
  }
  rejects(() => readStateDict(file(lying)), /record 'archive\/data\/0' does not decompress/);
});
