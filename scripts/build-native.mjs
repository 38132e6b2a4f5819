#!/usr/bin/env node
// Builds lape's native oneDNN backend (native/) at `npm install`. Never fails the install: when oneDNN
// is missing or the build does not succeed, lape runs on its portable JavaScript backend and this
// prints one line saying so, with the oneDNN it found (the full compiler log goes to a file in the temp
// directory).
//
// Environment: LAPE_SKIP_NATIVE=1 skips the build; LAPE_DNNL_ROOT (or oneAPI's DNNLROOT) points at a
// oneDNN install prefix (see native/dnnl-config.mjs for the search order).
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { findOneDnn } from '../native/dnnl-config.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const addon = path.join(nativeDir, 'build', 'Release', 'lape_native.node');
const logFile = path.join(os.tmpdir(), 'lape-native-build.log');
const FALLBACK = 'using the portable JavaScript backend';
const INSTALL =
  'apt-get install libdnnl-dev (oneDNN 2.3 or newer, 3.x works too), or set LAPE_DNNL_ROOT to a oneDNN prefix, then npm rebuild lape';

function done(line) {
  console.log(`lape: ${line}`);
  process.exit(0);
}

/** The node-gyp that ships with npm, as [command, ...args]; npx as the last resort. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(
      path.dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
    path.join(
      path.dirname(process.execPath),
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ];
  for (const c of candidates) if (c && existsSync(c)) return [process.execPath, c];
  return ['npx', '--yes', 'node-gyp'];
}

if (process.env.LAPE_SKIP_NATIVE === '1') done(`LAPE_SKIP_NATIVE=1; ${FALLBACK}`);
if (!existsSync(path.join(nativeDir, 'binding.gyp'))) done(`native/binding.gyp is missing; ${FALLBACK}`);
const dnnl = findOneDnn();
if (!dnnl) done(`oneDNN not found; ${FALLBACK} (${INSTALL})`);
const found = `oneDNN ${dnnl.version ?? '(unknown version)'} from ${dnnl.source}`;

const [cmd, ...pre] = nodeGyp();
const args = [...pre, 'rebuild', `-j`, String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length))];
// Build offline against the headers installed next to this node binary when they are there.
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

const build = spawnSync(cmd, args, { cwd: nativeDir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
const log = `$ ${cmd} ${args.join(' ')}\n${build.stdout ?? ''}\n${build.stderr ?? ''}\n${build.error ?? ''}`;
try {
  writeFileSync(logFile, log);
} catch {
  // the log is a courtesy
}
if (build.status !== 0 || !existsSync(addon)) {
  const tooOld = /needs oneDNN 2\.3 or newer/.test(log);
  done(
    `building the native backend against ${found} failed (log: ${logFile}); ${FALLBACK}` +
      (tooOld ? ` (${INSTALL})` : ''),
  );
}

// Make sure it loads (libdnnl / libgomp resolvable at run time).
const probe = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(addon)}); a.info();`], {
  encoding: 'utf8',
});
if (probe.status !== 0) {
  try {
    writeFileSync(logFile, `${log}\n--- load check ---\n${probe.stderr}`);
  } catch {
    // ignore
  }
  done(`the native backend was built against ${found} but does not load (log: ${logFile}); ${FALLBACK}`);
}
done(`built the native backend against ${found} (native/build/Release/lape_native.node)`);
