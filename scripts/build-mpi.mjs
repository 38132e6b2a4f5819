#!/usr/bin/env node
// Builds lape's optional MPI binding (native/mpi -> native/mpi/build/Release/lape_mpi.node) at
// `npm install`, for data-parallel training (`lape train --nproc-per-node N`, `mpirun ... lape train`).
// Never fails the install: without Open MPI, or when the build does not succeed, lape trains in one
// process and this prints one line saying so (the compiler log goes to a file in the temp directory).
//
//   node scripts/build-mpi.mjs                  build (LAPE_SKIP_MPI=1 skips it)
//   node scripts/build-mpi.mjs --flags compile  Open MPI's compiler flags (binding.gyp asks for them)
//   node scripts/build-mpi.mjs --flags link     Open MPI's linker flags, with an rpath for each -L
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mpiDir = path.join(root, 'native', 'mpi');
const addon = path.join(mpiDir, 'build', 'Release', 'lape_mpi.node');
const logFile = path.join(os.tmpdir(), 'lape-mpi-build.log');
const INSTALL = 'apt-get install libopenmpi-dev openmpi-bin, then npm rebuild lape';

/** Open MPI's flags from its compiler wrapper, else from pkg-config; null when Open MPI is not installed. */
function openMpiFlags(kind) {
  const wrapper = spawnSync('mpicc', [`--showme:${kind}`], { encoding: 'utf8' });
  if (wrapper.status === 0 && wrapper.stdout.trim()) return wrapper.stdout.trim().split(/\s+/);
  const pc = spawnSync('pkg-config', [kind === 'compile' ? '--cflags' : '--libs', 'ompi-c'], {
    encoding: 'utf8',
  });
  if (pc.status === 0 && pc.stdout.trim()) return pc.stdout.trim().split(/\s+/);
  return null;
}

if (process.argv[2] === '--flags') {
  const kind = process.argv[3] === 'link' ? 'link' : 'compile';
  const flags = openMpiFlags(kind) ?? [];
  // libmpi may live outside the loader's default path (e.g. /opt/openmpi/lib): remember where.
  const rpaths =
    kind === 'link' ? flags.filter((f) => f.startsWith('-L')).map((f) => `-Wl,-rpath,${f.slice(2)}`) : [];
  console.log([...flags, ...rpaths].join(' '));
  process.exit(0);
}

function done(line) {
  console.log(`lape: ${line}`);
  process.exit(0);
}

/** The node-gyp that ships with npm, as [command, ...args]; npx as the last resort. */
function nodeGyp() {
  const npmGyp = ['node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'];
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', ...npmGyp),
    path.join(path.dirname(process.execPath), ...npmGyp),
  ];
  for (const c of candidates) if (c && existsSync(c)) return [process.execPath, c];
  return ['npx', '--yes', 'node-gyp'];
}

if (process.env.LAPE_SKIP_MPI === '1') done('LAPE_SKIP_MPI=1; no MPI binding (training runs in one process)');
if (openMpiFlags('compile') === null) {
  done(`Open MPI not found; no MPI binding, so --nproc-per-node > 1 is unavailable (${INSTALL})`);
}

const [cmd, ...pre] = nodeGyp();
const args = [...pre, 'rebuild'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const build = spawnSync(cmd, args, { cwd: mpiDir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
let log = `$ ${cmd} ${args.join(' ')}\n${build.stdout ?? ''}\n${build.stderr ?? ''}\n${build.error ?? ''}`;
const writeLog = () => {
  try {
    writeFileSync(logFile, log);
  } catch {
    // the log is a courtesy
  }
};
writeLog();
if (build.status !== 0 || !existsSync(addon)) {
  done(`building the MPI binding failed (log: ${logFile}); --nproc-per-node > 1 is unavailable`);
}
// Make sure it loads (libmpi resolvable at run time); MPI itself starts only in a training rank.
const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(addon)})`], { encoding: 'utf8' });
if (probe.status !== 0) {
  log += `\n--- load check ---\n${probe.stderr}`;
  writeLog();
  done(`the MPI binding was built but does not load (log: ${logFile}); --nproc-per-node > 1 is unavailable`);
}
done('built the MPI binding (native/mpi/build/Release/lape_mpi.node)');
