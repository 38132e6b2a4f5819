/**
 * How the native build finds oneDNN (native/dnnl-config.mjs) and what it says when it cannot build:
 * the version comes from the headers it would compile against, a prefix gets an rpath, and a missing
 * oneDNN is one line naming what to install (the install itself never fails).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
// @ts-expect-error: a plain ES module of the build (no declaration file)
import { findOneDnn } from '../../native/dnnl-config.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));

function fakePrefix(version: [number, number, number], layout: 'oneapi' | 'flat' = 'oneapi'): string {
  const dir = mkdtempSync(join(tmpdir(), 'lape-dnnl-'));
  const inc = layout === 'oneapi' ? join(dir, 'include', 'oneapi', 'dnnl') : join(dir, 'include');
  mkdirSync(inc, { recursive: true });
  mkdirSync(join(dir, 'lib'));
  const [a, b, c] = version;
  writeFileSync(
    join(inc, 'dnnl_version.h'),
    `#define DNNL_VERSION_MAJOR ${a}\n#define DNNL_VERSION_MINOR ${b}\n#define DNNL_VERSION_PATCH ${c}\n`,
  );
  return dir;
}

it('reads the version of a oneDNN prefix from its headers and links it with an rpath', () => {
  const dir = fakePrefix([3, 7, 1]);
  try {
    const found = findOneDnn({ LAPE_DNNL_ROOT: dir });
    assert.equal(found.version, '3.7.1');
    assert.deepEqual(found.cflags, [`-I${join(dir, 'include')}`]);
    assert.deepEqual(found.libs, [`-L${join(dir, 'lib')}`, `-Wl,-rpath,${join(dir, 'lib')}`, '-ldnnl']);
    assert.match(found.source, /^LAPE_DNNL_ROOT=/);
    const old = fakePrefix([2, 6, 3], 'flat');
    assert.equal(
      findOneDnn({ DNNLROOT: old }).version,
      '2.6.3',
      "oneAPI's DNNLROOT, older flat header layout",
    );
    rmSync(old, { recursive: true });
  } finally {
    rmSync(dir, { recursive: true });
  }
});

it('a prefix without oneDNN headers is "not found", and the install says what to do instead of failing', () => {
  assert.equal(findOneDnn({ LAPE_DNNL_ROOT: '/nonexistent/onednn' }), null);
  const r = spawnSync(process.execPath, [join(root, 'scripts/build-native.mjs')], {
    encoding: 'utf8',
    env: { ...process.env, LAPE_DNNL_ROOT: '/nonexistent/onednn' },
  });
  assert.equal(r.status, 0, 'an install never fails for want of oneDNN');
  assert.match(
    r.stdout,
    /^lape: oneDNN not found; using the portable JavaScript backend \(apt-get install libdnnl-dev \(oneDNN 2\.3 or newer, 3\.x works too\), or set LAPE_DNNL_ROOT/,
  );
});
