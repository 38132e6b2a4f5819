#!/usr/bin/env node
// Where oneDNN is and how to build against it, for binding.gyp and scripts/build-native.mjs.
//
// Looked up in this order:
//   1. LAPE_DNNL_ROOT or DNNLROOT (set by Intel's oneAPI environment): a prefix with include/ and lib/;
//   2. pkg-config (`dnnl`, as conda and several distributions ship it);
//   3. the default system paths (Debian/Ubuntu's libdnnl-dev has no pkg-config file).
//
//   node native/dnnl-config.mjs cflags|libs|version|describe
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SYSTEM_INCLUDES = ['/usr/include', '/usr/local/include'];

function pkgConfig(args) {
  const r = spawnSync('pkg-config', args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function headerIn(dir) {
  for (const rel of ['oneapi/dnnl/dnnl_version.h', 'dnnl_version.h']) {
    const f = path.join(dir, rel);
    if (existsSync(f)) return f;
  }
  return null;
}

function versionFromHeader(file) {
  const text = readFileSync(file, 'utf8');
  const part = (name) => text.match(new RegExp(`#define\\s+DNNL_VERSION_${name}\\s+(\\d+)`))?.[1];
  const [major, minor, patch] = ['MAJOR', 'MINOR', 'PATCH'].map(part);
  return major === undefined ? null : `${major}.${minor ?? 0}.${patch ?? 0}`;
}

/**
 * The oneDNN to build against: { source, version, cflags, libs } or null when none is found.
 * `cflags` and `libs` are arrays of compiler/linker arguments.
 */
export function findOneDnn(env = process.env) {
  const root = env.LAPE_DNNL_ROOT || env.DNNLROOT;
  if (root) {
    const include = path.join(root, 'include');
    const header = headerIn(include);
    if (!header) return null;
    const libdir = ['lib', 'lib64', 'lib/x86_64-linux-gnu']
      .map((d) => path.join(root, d))
      .find((d) => existsSync(d));
    const libs = libdir ? [`-L${libdir}`, `-Wl,-rpath,${libdir}`, '-ldnnl'] : ['-ldnnl'];
    return {
      source: `${env.LAPE_DNNL_ROOT ? 'LAPE_DNNL_ROOT' : 'DNNLROOT'}=${root}`,
      version: versionFromHeader(header),
      cflags: [`-I${include}`],
      libs,
    };
  }
  if (pkgConfig(['--exists', 'dnnl']) !== null) {
    const cflags = (pkgConfig(['--cflags', 'dnnl']) ?? '').split(/\s+/).filter(Boolean);
    const libs = (pkgConfig(['--libs', 'dnnl']) ?? '-ldnnl').split(/\s+/).filter(Boolean);
    const libdir = pkgConfig(['--variable=libdir', 'dnnl']);
    if (libdir && !['/usr/lib', '/usr/lib64', '/usr/lib/x86_64-linux-gnu'].includes(libdir))
      libs.push(`-Wl,-rpath,${libdir}`);
    return { source: 'pkg-config', version: pkgConfig(['--modversion', 'dnnl']), cflags, libs };
  }
  for (const dir of SYSTEM_INCLUDES) {
    const header = headerIn(dir);
    if (header)
      return {
        source: `${dir} (default paths)`,
        version: versionFromHeader(header),
        cflags: [],
        libs: ['-ldnnl'],
      };
  }
  return null;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const found = findOneDnn();
  const what = process.argv[2];
  // binding.gyp expands these with <!@(...): print nothing rather than fail when oneDNN is absent.
  if (what === 'cflags') console.log(found ? found.cflags.join(' ') : '');
  else if (what === 'libs') console.log(found ? found.libs.join(' ') : '-ldnnl');
  else if (what === 'version') console.log(found?.version ?? '');
  else
    console.log(
      found ? `oneDNN ${found.version ?? '(unknown version)'} from ${found.source}` : 'oneDNN not found',
    );
}
