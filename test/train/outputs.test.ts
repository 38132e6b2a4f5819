/**
 * A training run's outputs survive kills, full disks and read-only folders: temporary files of dead
 * runs are removed, log.txt is repaired from the checkpoint, an unwritable folder is refused before
 * any training, a full disk leaves no partial or empty file, and divergence says truthfully what was
 * kept. The full-disk and read-only cases need a small tmpfs (root) or file permissions (non-root);
 * where neither is available they are skipped with the reason.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CheckpointError } from '../../src/io/errors.js';
import { OutputFolderError } from '../../src/io/atomic.js';
import { readTrainingCheckpoint } from '../../src/train/checkpoint.js';
import { DivergedError, train } from '../../src/train/train.js';
import { makeImageFolder, tinyConfig } from './helpers.js';

const quiet = { progress: false, log: () => {} };
const root = fileURLToPath(new URL('../../', import.meta.url));
const isRoot = process.getuid?.() === 0;

/** A PID that belonged to a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(r.stdout);
}

const temps = (dir: string): string[] => readdirSync(dir).filter((f) => /\.tmp-\d+$/.test(f));
const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean);

/** Mounts a tmpfs of `kb` KiB (read-only when asked) at a fresh folder; null when this cannot be done. */
function tmpfs(kb: number, readOnly = false): string | null {
  if (!isRoot) return null;
  const dir = mkdtempSync(join(tmpdir(), 'lape-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k${readOnly ? ',ro' : ''}`, 'tmpfs', dir]);
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  mounts.push(dir);
  return dir;
}
const mounts: string[] = [];

/** A folder no file can be created in: a read-only tmpfs as root, a mode-555 folder otherwise. */
function readOnlyDir(): string | null {
  if (isRoot) return tmpfs(64, true);
  const dir = mkdtempSync(join(tmpdir(), 'lape-ro-'));
  chmodSync(dir, 0o555);
  return dir;
}

describe('training outputs', () => {
  let data = '';
  before(async () => {
    data = await makeImageFolder(2, 4);
  });
  after(() => {
    for (const m of mounts) {
      spawnSync('umount', [m]);
      rmSync(m, { recursive: true, force: true });
    }
  });

  it('removes temporary files of dead runs at start, keeps those of live ones', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lape-stale-'));
    const dead = deadPid();
    writeFileSync(join(out, `checkpoint.pth.tmp-${dead}`), 'half a checkpoint');
    writeFileSync(join(out, `log.txt.tmp-${dead}`), '');
    // A name this run never writes: only the clean-up at start removes it.
    writeFileSync(join(out, `export.onnx.tmp-${dead}`), 'half an export');
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      writeFileSync(join(out, `other.bin.tmp-${live.pid}`), 'being written');
      await train(tinyConfig(data, out, { epochs: 1 }), quiet);
      assert.deepEqual(temps(out), [`other.bin.tmp-${live.pid}`]);
    } finally {
      live.kill('SIGKILL');
    }
  });

  it('keeps log.txt consistent with the checkpoint: a resumed run repairs it', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lape-log-'));
    await train(tinyConfig(data, out, { epochs: 2 }), quiet);
    const full = lines(join(out, 'log.txt'));
    assert.equal(full.length, 2);
    assert.deepEqual(readTrainingCheckpoint(join(out, 'checkpoint.pth')).log, full);
    // A kill between the checkpoint and log.txt: the log lacks the last epoch's line.
    writeFileSync(join(out, 'log.txt'), `${full[0]}\n`);
    await train(tinyConfig(data, out, { epochs: 3, resume: join(out, 'checkpoint.pth') }), quiet);
    const after = lines(join(out, 'log.txt'));
    assert.deepEqual(after.slice(0, 2), full);
    assert.deepEqual(
      after.map((l) => (JSON.parse(l) as { epoch: number }).epoch),
      [0, 1, 2],
    );
    assert.deepEqual(readTrainingCheckpoint(join(out, 'checkpoint.pth')).log, after);
  });

  it('refuses an unwritable output folder (or parent) before training, also with --resume', async (t) => {
    const ro = readOnlyDir();
    if (ro === null) return t.skip('needs root (a read-only tmpfs) or file permissions that bind');
    const t0 = performance.now();
    await assert.rejects(train(tinyConfig(data, ro, { epochs: 50 }), quiet), (e: unknown) => {
      assert.ok(e instanceof OutputFolderError, String(e));
      assert.match(
        e.message,
        /cannot use .* as the output folder: files cannot be created in it \((EROFS|EACCES)/,
      );
      return true;
    });
    await assert.rejects(
      train(tinyConfig(data, join(ro, 'run', 'sub'), { epochs: 50 }), quiet),
      (e: unknown) => {
        assert.ok(e instanceof OutputFolderError, String(e));
        // The parent is named, with the reason: not ENOENT from mkdir.
        assert.match(e.message, new RegExp(`as the output folder: ${ro} is not writable \\((EROFS|EACCES)`));
        return true;
      },
    );
    const ok = mkdtempSync(join(tmpdir(), 'lape-resume-'));
    await train(tinyConfig(data, ok, { epochs: 1 }), quiet);
    await assert.rejects(
      train(tinyConfig(data, ro, { epochs: 50, resume: join(ok, 'checkpoint.pth') }), quiet),
      OutputFolderError,
    );
    assert.ok(performance.now() - t0 < 60_000, 'failed before training 50 epochs');
  });

  it('a full disk leaves no partial or empty file and names the file', async (t) => {
    const disk = tmpfs(64);
    if (disk === null) return t.skip('needs root to mount a small tmpfs');
    // The checkpoint (about 300 KB) does not fit; config.json does.
    await assert.rejects(train(tinyConfig(data, disk, { epochs: 1 }), quiet), (e: unknown) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.match(e.message, /^(best_)?checkpoint\.pth: cannot write: ENOSPC: no space left on the device/);
      return true;
    });
    assert.deepEqual(readdirSync(disk).sort(), ['config.json']);
    assert.ok(JSON.parse(readFileSync(join(disk, 'config.json'), 'utf8')));
    // A disk that is already full: no 0-byte config.json.
    const full = tmpfs(16);
    assert.ok(full);
    writeFileSync(join(full, 'filler'), new Uint8Array(0));
    spawnSync('dd', ['if=/dev/zero', `of=${join(full, 'filler')}`, 'bs=1k', 'count=64'], { stdio: 'ignore' });
    await assert.rejects(train(tinyConfig(data, full, { epochs: 1 }), quiet), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /ENOSPC/);
      return true;
    });
    assert.deepEqual(readdirSync(full), ['filler']);
  });

  it('divergence says what was kept: nothing in the first epoch, else the last checkpoint', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lape-div-'));
    // The tiny config's weight decay: the resumed run's parameter groups must match the checkpoint's.
    const blowUp = {
      kind: 'adamw' as const,
      lr: Infinity,
      weightDecay: 0.05,
      eps: 1e-8,
      betas: [0.9, 0.999] as [number, number],
    };
    // Warmup starts at warmupLr: infinite too, so the very first epoch diverges.
    const schedule = { warmupEpochs: 1, warmupLr: Infinity, minLr: 1e-5 };
    await assert.rejects(
      train(tinyConfig(data, out, { epochs: 2, batchSize: 2, optimizer: blowUp, schedule }), quiet),
      (e: unknown) => {
        assert.ok(e instanceof DivergedError, String(e));
        assert.match(
          e.message,
          /loss is (NaN|-?Infinity) at epoch 1, step \d+; no checkpoint had been saved yet/,
        );
        return true;
      },
    );
    assert.ok(!existsSync(join(out, 'checkpoint.pth')));
    await train(tinyConfig(data, out, { epochs: 1, batchSize: 2 }), quiet);
    const cfg = tinyConfig(data, out, {
      epochs: 3,
      batchSize: 2,
      resume: join(out, 'checkpoint.pth'),
      optimizer: blowUp,
    });
    await assert.rejects(train(cfg, quiet), (e: unknown) => {
      assert.ok(e instanceof DivergedError, String(e));
      assert.match(
        e.message,
        /at epoch 2, step \d+; the last good checkpoint \(1 epoch\) was kept in .*checkpoint\.pth$/,
      );
      return true;
    });
  });

  it('six kills during checkpoint writes, then a normal run: no temporary file is left', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lape-kill-'));
    // A writer of 64 MB checkpoints through the same atomic writer training uses, killed mid-write.
    const writer = join(out, '..', `lape-kill-writer-${process.pid}.mts`);
    const pthUrl = new URL('../../src/io/pth.ts', import.meta.url).href;
    writeFileSync(
      writer,
      `import { writePth } from ${JSON.stringify(pthUrl)};
const w = { dtype: 'float32', shape: [16, 1024, 1024], data: new Float32Array(16 * 1024 * 1024).fill(1) };
for (;;) writePth(${JSON.stringify(join(out, 'checkpoint.pth'))}, new Map([['model', new Map([['w', w]])]]));
`,
    );
    try {
      let killedMidWrite = 0;
      for (let k = 0; k < 6; k++) {
        const child = spawn(process.execPath, ['--import', 'tsx', writer], { cwd: root, stdio: 'ignore' });
        const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
        const deadline = Date.now() + 120_000;
        while (child.exitCode === null && Date.now() < deadline) {
          if (temps(out).includes(`checkpoint.pth.tmp-${child.pid}`)) {
            child.kill('SIGKILL');
            killedMidWrite++;
            break;
          }
          await new Promise((r) => setTimeout(r, 1));
        }
        if (child.exitCode === null) child.kill('SIGKILL');
        await exited;
      }
      assert.equal(killedMidWrite, 6);
      // The last kill's temporary file is left (each writer removed those of the runs before it).
      assert.deepEqual(temps(out).length, 1);
      // A normal run in that folder.
      await train(tinyConfig(data, out, { epochs: 1 }), quiet);
      assert.deepEqual(temps(out), []);
      assert.ok(statSync(join(out, 'checkpoint.pth')).size > 0);
      assert.deepEqual(readTrainingCheckpoint(join(out, 'checkpoint.pth')).log, lines(join(out, 'log.txt')));
    } finally {
      rmSync(writer, { force: true });
      rmSync(out, { recursive: true, force: true });
    }
  });
});
