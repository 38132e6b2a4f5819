#!/usr/bin/env node
// Builds lape's native oneDNN backend (native/) at `npm install`. Never fails the install: when oneDNN
// is missing or the build does not succeed, lape runs on its portable JavaScript backend and this
// prints one line saying so (the full compiler log goes to a file in the temp directory).
//
// Environment: LAPE_SKIP_NATIVE=1 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const addon = path.join(nativeDir, 'build', 'Release', 'lape_native.node');
const logFile = path.join(os.tmpdir(), 'lape-native-build.log');
const FALLBACK = 'using the portable JavaScript backend';

function done(line) {
  console.log(`lape: ${line}`);
  process.exit(0);
}

function hasOneDnn() {
  const headers = [
    '/usr/include/dnnl.hpp',
    '/usr/include/oneapi/dnnl/dnnl.hpp',
    '/usr/local/include/dnnl.hpp',
    '/usr/local/include/oneapi/dnnl/dnnl.hpp',
  ];
  if (headers.some((h) => existsSync(h))) return true;
  const pc = spawnSync('pkg-config', ['--exists', 'dnnl'], { stdio: 'ignore' });
  return pc.status === 0;
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
if (!hasOneDnn()) {
  done(`oneDNN not found; ${FALLBACK} (apt-get install libdnnl-dev, then npm rebuild lape)`);
}

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
  done(`building the native oneDNN backend failed (log: ${logFile}); ${FALLBACK}`);
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
  done(`the native oneDNN backend was built but does not load (log: ${logFile}); ${FALLBACK}`);
}
done('built the native oneDNN backend (native/build/Release/lape_native.node)');
