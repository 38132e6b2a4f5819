/**
 * `lape train --nproc-per-node 2` as a user runs it: the checkpoint records the world, Ctrl-C on the
 * launcher stops both ranks with a resumable checkpoint that resumes to the uninterrupted run's
 * weights (on 2 ranks exactly, on 1 process of the same global batch within rounding), a killed rank
 * ends the job within seconds naming the rank, and bad input gets one line and writes nothing.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { toFloat32 } from '../../src/io/host_tensor.js';
import { readStateDict } from '../../src/io/pth.js';
import { PyObject } from '../../src/io/pickle.js';
import { mpirunOptions } from '../../src/dist/launcher.js';
import { readTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { makeImageFolder } from '../train/helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const hasOpenMpi = spawnSync('mpirun', ['--version'], { stdio: 'ignore' }).status === 0;
const LAPE = [process.execPath, '--import', 'tsx', join(root, 'scripts/lape-dev.ts')];

/** lape_tiny on 24 images, 4 per rank: 3 steps per epoch; SGD so that rounding stays small. */
function trainArgs(data: string, out: string, ...extra: string[]): string[] {
  return [
    'train',
    '--model',
    'lape_tiny',
    '--join-type',
    'LaPE',
    '--data-set',
    'image-folder',
    '--data-path',
    data,
    '--epochs',
    '2',
    '--batch-size',
    '4',
    '--opt',
    'sgd',
    '--lr',
    '2',
    '--warmup-epochs',
    '0',
    '--aa',
    'none',
    '--no-repeated-aug',
    '--num-workers',
    '0',
    '--output-dir',
    out,
    '--mixup',
    '0',
    '--cutmix',
    '0',
    '--no-progress',
    ...extra,
  ];
}

function lape(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number; stdout: string; stderr: string } {
  const [cmd, ...pre] = LAPE;
  const r = spawnSync(cmd, [...pre, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 180_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** One error line starting with `lape:`, no stack, nothing written into `out`. */
function assertOneLineError(r: { status: number; stderr: string }, pattern: RegExp, out: string): void {
  assert.notEqual(r.status, 0, `expected a failure:\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => /^(lape|error):/.test(l));
  assert.equal(lines.length, 1, `expected one error line:\n${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, `a stack trace was printed:\n${r.stderr}`);
  assert.ok(!existsSync(out) || readdirSync(out).length === 0, `something was written into ${out}`);
}

/** Direct children of a process (from /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === pid ? [Number(d)] : [];
      } catch {
        return [];
      }
    });
}

/** The pid of MPI rank `rank` below the launcher `launcher` (launcher -> mpirun -> ranks). */
function rankPid(launcher: number, rank: number): number | null {
  for (const mpirun of childrenOf(launcher)) {
    for (const p of childrenOf(mpirun)) {
      try {
        if (readFileSync(`/proc/${p}/environ`, 'latin1').includes(`\0OMPI_COMM_WORLD_RANK=${rank}\0`))
          return p;
      } catch {
        // exited meanwhile
      }
    }
  }
  return null;
}

/** Starts the launcher; resolves when `ready(stderrSoFar)` holds, then with its exit. */
function startLauncher(args: string[]): {
  pid: number;
  when: (ready: (err: string) => boolean) => Promise<void>;
  exit: Promise<{ code: number | null; stderr: string; stdout: string }>;
} {
  const [cmd, ...pre] = LAPE;
  const child = spawn(cmd, [...pre, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  const waiters: { ready: (e: string) => boolean; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters.splice(0)) {
      if (w.ready(stderr)) w.resolve();
      else waiters.push(w);
    }
  });
  const exit = new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stderr, stdout })),
  );
  return {
    pid: child.pid as number,
    when: (ready) =>
      new Promise<void>((resolve) => {
        if (ready(stderr)) resolve();
        else waiters.push({ ready, resolve });
      }),
    exit,
  };
}

function weights(ckpt: string): Float32Array[] {
  return [...readStateDict(ckpt).stateDict.values()].map((t) => toFloat32(t));
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((t, i) => t.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

describe('lape train --nproc-per-node', { skip: hasOpenMpi ? false : 'Open MPI is not installed' }, () => {
  let data = '';
  let straight = '';
  before(async () => {
    data = await makeImageFolder(3, 8);
    // 23 validation images: --dist-eval shards of 12 and 11, which must not count any image twice.
    rmSync(join(data, 'val', 'class0', 'img0.png'));
    straight = mkdtempSync(join(tmpdir(), 'lape-dp-straight-'));
  });

  it('trains on 2 ranks; rank 0 alone writes; the checkpoint args say world_size 2', () => {
    const r = lape(trainArgs(data, straight, '--nproc-per-node', '2'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /data-parallel: 2 ranks .*global batch 2 x 4 = 8/);
    assert.equal(r.stdout.match(/^final:/gm)?.length, 1, r.stdout);
    assert.equal(readFileSync(join(straight, 'log.txt'), 'utf8').trim().split('\n').length, 2);
    const ck = readTrainingCheckpoint(join(straight, 'checkpoint.pth'));
    const args = ck.raw.get('args');
    assert.ok(args instanceof PyObject);
    assert.equal(args.attrs.world_size, 2);
    assert.equal(args.attrs.rank, 0);
    assert.equal(args.attrs.distributed, true);
    assert.equal(ck.globalBatch, 8);
  });

  it('Ctrl-C stops both ranks after the same step with a checkpoint that resumes to the same weights', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lape-dp-int-'));
    const run = startLauncher(trainArgs(data, out, '--nproc-per-node', '2'));
    // The ranks handle the stop signal from before they print their set-up lines.
    await run.when((err) => /^data image-folder/m.test(err));
    process.kill(run.pid, 'SIGINT');
    const r = await run.exit;
    assert.equal(r.code, 130, r.stderr);
    // The signal reaches the ranks through mpirun while the first steps run: they stop together after
    // step 1 or 2 of the epoch's 3 (which one depends on the machine's timing), never at its end.
    const stopped = /interrupted: saved a resumable checkpoint \(epoch 1, batch ([12])\)/.exec(r.stderr);
    assert.ok(stopped, r.stderr);
    const steps = Number(stopped[1]);
    const ckpt = join(out, 'checkpoint.pth');
    assert.equal(readTrainingCheckpoint(ckpt).state.batchesDone, steps);

    // One process of the same global batch (1 x 8) may resume it mid-epoch, and lands within
    // rounding of the 2-rank run (no mixup here: mixing groups follow the rank count) ...
    const single = mkdtempSync(join(tmpdir(), 'lape-dp-single-'));
    const one = lape(trainArgs(data, single, '--resume', ckpt, '--batch-size', '8'));
    assert.equal(one.status, 0, one.stderr);
    const straightWeights = weights(join(straight, 'checkpoint.pth'));
    const dOne = maxDiff(weights(join(single, 'checkpoint.pth')), straightWeights);
    assert.ok(dOne < 1e-6, `1 x 8 resumed differs from 2 x 4 by ${dOne}`);
    // ... one of another global batch may not.
    const badOut = join(tmpdir(), `lape-dp-bad-${process.pid}`);
    const bad = lape(trainArgs(data, badOut, '--resume', ckpt));
    assertOneLineError(
      bad,
      new RegExp(
        `saved ${steps} batches into epoch 1 with 8 samples per batch over all ranks; this run takes 4`,
      ),
      badOut,
    );

    // On 2 ranks it resumes to exactly the uninterrupted run's weights; evaluated with --dist-eval,
    // whose shards (12 + 11 images) give the metrics of the whole split.
    const resumed = lape(trainArgs(data, out, '--nproc-per-node', '2', '--resume', ckpt, '--dist-eval'));
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(
      resumed.stderr,
      new RegExp(`resumed from .*: 0 epochs done, ${steps} batches into the next`),
    );
    const d = maxDiff(weights(ckpt), straightWeights);
    assert.equal(d, 0, `resumed 2-rank run differs from the uninterrupted one by ${d}`);
    assert.match(resumed.stdout, /^final: .* on 23 images/m);
    const last = (dir: string): Record<string, number> =>
      JSON.parse(readFileSync(join(dir, 'log.txt'), 'utf8').trim().split('\n').pop() as string);
    const [full, sharded] = [last(straight), last(out)];
    assert.equal(sharded.test_acc1, full.test_acc1);
    assert.equal(sharded.test_acc5, full.test_acc5);
    assert.ok(
      Math.abs(sharded.test_loss - full.test_loss) < 1e-6,
      `${sharded.test_loss} vs ${full.test_loss}`,
    );
  });

  it('a killed rank ends the whole job within seconds, naming the rank; the last checkpoint stays intact', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lape-dp-kill-'));
    const run = startLauncher(trainArgs(data, out, '--nproc-per-node', '2', '--epochs', '1000'));
    const ckpt = join(out, 'checkpoint.pth');
    await run.when((err) => /^epoch 2:/m.test(err)); // checkpoint.pth of epoch 2 is written
    const victim = rankPid(run.pid, 1);
    assert.ok(victim !== null, 'rank 1 not found');
    const t0 = Date.now();
    process.kill(victim, 'SIGKILL');
    const r = await run.exit;
    const seconds = (Date.now() - t0) / 1000;
    assert.ok(seconds < 15, `the job took ${seconds} s to end`);
    assert.notEqual(r.code, 0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('lape:'));
    assert.deepEqual(lines.length, 1, r.stderr);
    assert.match(lines[0], /^lape: rank 1 on \S+ died \(signal 9, Killed\); mpirun stopped the other ranks$/);
    assert.doesNotMatch(r.stderr, /-{20}/, 'mpirun notices were shown');
    assert.ok(readTrainingCheckpoint(ckpt).state.epoch >= 2);
  });

  it('bad input: one line, nothing written', () => {
    const out = join(tmpdir(), `lape-dp-none-${process.pid}`);
    assertOneLineError(
      lape(trainArgs(data, out, '--nproc-per-node', '0')),
      /--nproc-per-node expects an integer >= 1, got '0'/,
      out,
    );
    assertOneLineError(
      lape(trainArgs(data, out, '--nproc-per-node', '2', '--batch-size', '16')),
      /^lape: the train split has 24 images, too few for 2 ranks: each rank's share of an epoch must hold at least a batch of 16/,
      out,
    );
    assertOneLineError(
      lape(trainArgs(data, out, '--nproc-per-node', '2'), { LAPE_MPI_ADDON: '/nonexistent/lape_mpi.node' }),
      /^lape: --nproc-per-node 2 needs Open MPI, and lape's MPI binding does not load .*apt-get install libopenmpi-dev openmpi-bin/,
      out,
    );
    assertOneLineError(
      lape(trainArgs(data, out, '--nproc-per-node', '1', '--hosts', 'lape-no-such-host.invalid')),
      /^lape: could not start ranks on every host \(ssh: .*lape-no-such-host/,
      out,
    );
  });

  it('ranks started with different model flags stop at start-up with one line', () => {
    const out = join(tmpdir(), `lape-dp-mismatch-${process.pid}`);
    const rank = (...extra: string[]): string[] => ['-np', '1', ...LAPE, ...trainArgs(data, out, ...extra)];
    // mpirun's MPMD form: rank 0 and rank 1 run different command lines, as two hosts might.
    const options = mpirunOptions({ nprocPerNode: 2, hosts: null });
    const r = spawnSync('mpirun', [...options, ...rank(), ':', ...rank('--depth', '3')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.notEqual(r.status, 0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('lape:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^lape: ranks disagree on the model flags: rank 1 on \S+ differs from rank 0/);
    // (rank 0 checks that the output folder is writable before loading anything; nothing is written.)
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, `something was written into ${out}`);
  });
});
