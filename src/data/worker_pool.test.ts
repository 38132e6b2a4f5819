/**
 * The worker pool settles every request in every interleaving. Real loader workers are slow to start
 * under tsx, so these runs use stand-in workers (plain JS, same protocol) that answer after random
 * delays, out of order, and fail one batch: with a DataError (a corrupt image), by throwing (a crash)
 * or by exiting. Each scenario runs in a fresh process, because a promise that never settles shows as
 * what users saw: the process ends with exit code 13 and no message.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lape-pool-'));

/** A stand-in loader worker: answers each job after 0-3 ms; the job holding sample `bad` fails. */
const FAKE_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { bad, mode, path } = workerData.producer;
parentPort.on('message', (m) => {
  const job = m.job;
  setTimeout(() => {
    if (job.indices.includes(bad)) {
      if (mode === 'crash') throw new Error('worker crashed on purpose');
      if (mode === 'exit') process.exit(3);
      parentPort.postMessage({ type: 'warning', line: 'warning: about ' + path });
      parentPort.postMessage({ type: 'error', batchIndex: job.batchIndex, error: {
        name: 'DataError', message: path + ': expected a decodable image', stack: undefined,
        data: { path, expected: 'a decodable image', found: 'garbage' } } });
      return;
    }
    const size = job.indices.length;
    parentPort.postMessage({ type: 'batch', batchIndex: job.batchIndex,
      batch: { images: new Float32Array(size), labels: new Int32Array(size), targets: null, size } });
  }, Math.random() * 3);
});
`;

function runChild(script: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('WorkerPool', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('settles every request with an error naming the file, in every interleaving (100 runs)', async () => {
    const poolUrl = new URL('./worker_pool.ts', import.meta.url).href;
    const script = join(dir, 'interleavings.mts');
    const bad = join(dir, 'train', 'b', '3.png');
    writeFileSync(
      script,
      `
import { Worker } from 'node:worker_threads';
import { WorkerPool } from ${JSON.stringify(poolUrl)};
const code = ${JSON.stringify(FAKE_WORKER)};
const counts = {};
for (const mode of ['error', 'crash', 'exit']) {
  counts[mode] = 0;
  const runs = mode === 'error' ? 50 : 25;
  for (let run = 0; run < runs; run++) {
    const init = { descriptor: null, producer: { bad: (run * 7) % 20, mode, path: ${JSON.stringify(bad)} } };
    const warnings = [];
    const pool = new WorkerPool(2, init, (l) => warnings.push(l), (i) => new Worker(code, { eval: true, workerData: i }));
    const batchSize = 1 + (run % 3);
    const job = (b) => ({ batchIndex: b, firstPosition: b * batchSize,
      indices: Int32Array.from({ length: batchSize }, (_, k) => (b * batchSize + k) % 20) });
    try {
      for await (const batch of pool.inOrder(Math.ceil(20 / batchSize), 1 + (run % 5), job)) void batch;
      console.log(mode, run, 'finished without an error');
    } catch (e) {
      const ok = mode === 'error' ? e.message.includes(${JSON.stringify(bad)})
        : mode === 'crash' ? /crashed: worker crashed on purpose/.test(e.message)
        : /exited unexpectedly \\(code 3\\)/.test(e.message);
      if (ok) counts[mode]++;
      else console.log(mode, run, 'failed with', e.message);
    }
  }
}
console.log('settled', JSON.stringify(counts));
`,
    );
    const r = await runChild(script, 240_000);
    assert.equal(r.code, 0, `exit code ${r.code} (13: a promise never settled); output:\n${r.out}`);
    assert.match(r.out, /settled \{"error":50,"crash":25,"exit":25\}/, r.out);
  });
});
