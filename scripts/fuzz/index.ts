/**
 * `npm run fuzz -- --cases N [--seed S] [--timeout-ms T] [--max-rss-mb M] [--keep DIR]`
 *
 * Mutates valid checkpoints (.pth from PyTorch and from lape, .safetensors, .npy; see mutate.ts) and
 * reads each mutated file in a child process (worker.ts) with lape's readers. A case fails when the
 * reader crashes (any exception other than a CheckpointError, or the process dying), hangs (past the
 * timeout), uses too much memory (peak resident memory past the cap, sampled by the child per case and
 * by this process every few milliseconds; the child also runs with a V8 heap cap), prints an unclean
 * message (more than 6 lines, a line past 400 characters, a control character, no file name), or
 * accepts a file and decodes it to something the file does not say. Failing cases are kept in a folder
 * and listed; the exit code is 1 when any case failed.
 *
 * The same seed gives the same cases. CI runs a short deterministic run (.ci/run).
 */
import { type ChildProcess, fork } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { zipSync } from 'fflate';
import type { HostTensor } from '../../src/io/host_tensor.js';
import { writeNpy } from '../../src/io/npy.js';
import { PyObject, PyTuple, type PyValue } from '../../src/io/pickle.js';
import { writePth } from '../../src/io/pth.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { FuzzRng, mutate } from './mutate.js';
import type { FuzzReply, FuzzRequest } from './worker.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    cases: { type: 'string', default: '500' },
    seed: { type: 'string', default: '1' },
    'timeout-ms': { type: 'string', default: '10000' },
    'max-rss-mb': { type: 'string', default: '1500' },
    keep: { type: 'string' },
  },
});
const positiveInt = (v: string | undefined, flag: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v ?? '') || !Number.isSafeInteger(n) || n < 1) {
    process.stderr.write(`fuzz: ${flag} expects a positive integer, got '${v}'\n`);
    process.exit(1);
  }
  return n;
};
const CASES = positiveInt(args.cases, '--cases');
const SEED = positiveInt(args.seed, '--seed');
const TIMEOUT_MS = positiveInt(args['timeout-ms'], '--timeout-ms');
const MAX_RSS = positiveInt(args['max-rss-mb'], '--max-rss-mb') * 1e6;

type Format = FuzzRequest['format'];
interface Seed {
  path: string;
  format: Format;
}

/** The valid files mutations start from: PyTorch's fixtures and files lape writes. */
function makeSeeds(dir: string): Seed[] {
  const fixtures = join(root, 'test/fixtures/io');
  const seeds: Seed[] = [];
  const copy = (from: string, format: Format): void => {
    const to = join(dir, basename(from));
    copyFileSync(from, to);
    seeds.push({ path: to, format });
  };
  for (const f of ['state_dict.pth', 'checkpoint.pth', 'checkpoint_p4.pth']) copy(join(fixtures, f), 'pth');
  copy(join(fixtures, 'tensors.safetensors'), 'safetensors');
  for (const f of ['f4.npy', 'big_endian_i8.npy', 'v2.npy', 'b1.npy', 'f2.npy'])
    copy(join(fixtures, 'npy', f), 'npy');
  const t = (dtype: HostTensor['dtype'], shape: number[]): HostTensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data =
      dtype === 'float32'
        ? Float32Array.from({ length: n }, (_, i) => i / 7)
        : dtype === 'int64'
          ? BigInt64Array.from({ length: n }, (_, i) => BigInt(i - 3))
          : dtype === 'float16' || dtype === 'bfloat16'
            ? Uint16Array.from({ length: n }, (_, i) => 0x3c00 + i)
            : Uint8Array.from({ length: n }, (_, i) => i % 2);
    return { dtype, shape, data } as HostTensor;
  };
  const model = new Map<string, PyValue>([
    ['pos_embed', t('float32', [1, 5, 8])],
    ['blocks.0.attn.qkv.weight', t('float32', [24, 8])],
    ['blocks.0.pe_norm.bias', t('float16', [8])],
    ['head.bias', t('bfloat16', [3])],
    ['steps', t('int64', [2])],
  ]);
  const lapePth = join(dir, 'lape_checkpoint.pth');
  writePth(
    lapePth,
    new Map<string, PyValue>([
      ['model', model],
      ['epoch', 4],
      ['args', PyObject.namespace({ lr: 5e-4, model: 'lape_tiny', betas: new PyTuple([0.9, 0.999]) })],
      [
        'lape',
        new Map<string, PyValue>([
          ['log', ['{"epoch": 0}', '{"epoch": 1}']],
          ['rng', [1, 2, 3, 4]],
        ]),
      ],
    ]),
  );
  seeds.push({ path: lapePth, format: 'pth' });
  // The generic pickles of every protocol, as the pickle of an archive.
  for (const f of readdirSync(join(fixtures, 'pickles')).sort()) {
    const path = join(dir, f.replace('.pkl', '.pth'));
    const pkl = readFileSync(join(fixtures, 'pickles', f));
    writeArchive(path, pkl);
    seeds.push({ path, format: 'pth' });
  }
  const st = join(dir, 'lape.safetensors');
  writeSafetensors(st, model as Map<string, HostTensor>, { format: 'pt' });
  seeds.push({ path: st, format: 'safetensors' });
  const np = join(dir, 'lape.npy');
  writeNpy(np, t('float32', [2, 3, 4]));
  seeds.push({ path: np, format: 'npy' });
  return seeds;
}

/** A torch-style archive holding only `pkl` as its data.pkl (a plain stored zip, as other tools write). */
function writeArchive(path: string, pkl: Uint8Array): void {
  const version = new TextEncoder().encode('3\n');
  writeFileSync(
    path,
    zipSync({ 'archive/data.pkl': [pkl, { level: 0 }], 'archive/version': [version, { level: 0 }] }),
  );
}

/** Problems with a rejection's message: the bar every message must meet. */
function messageProblems(message: string, file: string): string[] {
  const problems: string[] = [];
  const lines = message.split('\n');
  if (lines.length > 6) problems.push(`${lines.length} lines`);
  const long = lines.find((l) => l.length > 400);
  if (long) problems.push(`a line of ${long.length} characters`);

  if (/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(message)) problems.push('control characters');
  if (!message.includes(basename(file))) problems.push('does not name the file');
  return problems;
}

class Child {
  proc!: ChildProcess;
  private pending: ((r: FuzzReply | { died: string }) => void) | null = null;
  private sampler: NodeJS.Timeout | null = null;
  maxSampled = 0;

  async start(): Promise<void> {
    this.proc = fork(join(root, 'scripts/fuzz/worker.ts'), [], {
      execArgv: ['--import', 'tsx', '--expose-gc', `--max-old-space-size=${Math.round(MAX_RSS / 1e6)}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    this.proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    this.proc.on('exit', (code, signal) => {
      this.stopSampling();
      this.pending?.({ died: `worker died (code ${code}, signal ${signal}): ${stderr.trim().slice(-600)}` });
      this.pending = null;
    });
    await new Promise<void>((resolve) => this.proc.once('message', () => resolve()));
    this.proc.on('message', (m: FuzzReply) => {
      this.stopSampling();
      this.pending?.(m);
      this.pending = null;
    });
  }

  private stopSampling(): void {
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = null;
  }

  /** Sends one case; resolves with the reply, or why there was none (a death, a hang, memory). */
  run(req: FuzzRequest): Promise<FuzzReply | { died: string }> {
    this.maxSampled = 0;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending = null;
        this.proc.kill('SIGKILL');
        resolve({ died: `no answer within ${TIMEOUT_MS} ms (a hang)` });
      }, TIMEOUT_MS);
      this.pending = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      // RSS sampling from outside: the child cannot report a peak it does not survive.
      this.sampler = setInterval(() => {
        try {
          const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.proc.pid}/status`, 'utf8'));
          const rss = m ? Number(m[1]) * 1024 : 0;
          this.maxSampled = Math.max(this.maxSampled, rss);
          if (rss > MAX_RSS) {
            clearTimeout(timer);
            this.pending = null;
            this.stopSampling();
            this.proc.kill('SIGKILL');
            resolve({
              died: `resident memory ${(rss / 1e6).toFixed(0)} MB, past the ${MAX_RSS / 1e6} MB cap`,
            });
          }
        } catch {
          // The process is gone; its exit handler answers.
        }
      }, 5);
      this.proc.send(req);
    });
  }
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'lape-fuzz-'));
  const keep = args.keep ?? join(tmpdir(), `lape-fuzz-failures-seed${SEED}`);
  const seeds = makeSeeds(work);
  const rng = new FuzzRng(SEED);
  let child = new Child();
  await child.start();
  const counts = { accepted: 0, rejected: 0, failed: 0 };
  const failures: string[] = [];
  let peak = 0;
  const t0 = performance.now();
  for (let id = 0; id < CASES; id++) {
    const seed = seeds[rng.int(seeds.length)];
    const m = mutate(readFileSync(seed.path), seed.format, rng);
    const ext = seed.format === 'pth' ? '.pth' : `.${seed.format}`;
    const path = join(work, `case${id}${ext}`);
    writeFileSync(path, m.bytes);
    const reply = await child.run({ id, path, format: seed.format, sameAs: m.raw ? seed.path : null });
    const problems: string[] = [];
    if ('died' in reply) {
      problems.push(reply.died);
      child = new Child();
      await child.start();
    } else {
      peak = Math.max(peak, reply.peakRss);
      if (reply.outcome === 'crashed') problems.push(`crashed: ${reply.message.slice(0, 800)}`);
      if (reply.outcome === 'rejected') problems.push(...messageProblems(reply.message, path));
      if (reply.wrong !== null) problems.push(`wrong result: ${reply.wrong}`);
      if (reply.peakRss > MAX_RSS) problems.push(`peak memory ${(reply.peakRss / 1e6).toFixed(0)} MB`);
      if (problems.length === 0) counts[reply.outcome === 'accepted' ? 'accepted' : 'rejected']++;
    }
    if (problems.length > 0) {
      counts.failed++;
      mkdirSync(keep, { recursive: true });
      const kept = join(keep, `case${id}-from-${basename(seed.path)}${ext}`);
      copyFileSync(path, kept);
      failures.push(
        `case ${id} (${basename(seed.path)}, ${m.what}): ${problems.join('; ')}\n    kept as ${kept}`,
      );
    }
    rmSync(path, { force: true });
  }
  child.proc.kill();
  rmSync(work, { recursive: true, force: true });
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write(
    `fuzz: ${CASES} cases (seed ${SEED}) in ${secs.toFixed(1)} s: ${counts.accepted} accepted and checked, ` +
      `${counts.rejected} rejected cleanly, ${counts.failed} failed; peak memory of a case ${(peak / 1e6).toFixed(0)} MB\n`,
  );
  for (const f of failures) process.stdout.write(`  ${f}\n`);
  return counts.failed > 0 ? 1 : 0;
}

process.exitCode = await main();
