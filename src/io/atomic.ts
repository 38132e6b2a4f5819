/**
 * Writing output files so that nothing a user has is ever lost or left half-written.
 *
 * - `writeFileAtomic`: the content goes to `<path>.tmp-<pid>`, is flushed to disk, and is then renamed
 *   over `path`. A reader sees the old file or the new one, never a partial one; a full disk or any
 *   other failure removes the temporary file and leaves `path` as it was.
 * - A process killed mid-write (kill -9, power loss) cannot remove its temporary file. Temporary names
 *   carry the writer's PID, so `removeStaleTemps` can tell them apart: a `*.tmp-<pid>` whose process
 *   is gone is a leftover and is removed. Every atomic write cleans its own target's leftovers, and a
 *   training run cleans its whole output folder when it starts. (A file of a live process is left
 *   alone; PIDs of another PID namespace sharing the folder would look dead, a case lape does not
 *   handle.)
 * - `ensureWritableDir`: creates an output folder and proves it can be written before any work starts,
 *   with a message that says what is wrong (a read-only parent, a file in the way).
 */
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { CheckpointError } from './errors.js';

/** Receives the bytes of a file being written, in order. */
export interface ByteSink {
  write(bytes: Uint8Array): void;
}

const TEMP = /^(.+)\.tmp-(\d+)$/;

/** What a file-system error means, in words, with its code: `no space left on the device (ENOSPC)`. */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOENT: 'no such file or folder',
    ENOTDIR: 'a path component is a file, not a folder',
    EISDIR: 'it is a folder',
    EEXIST: 'it already exists',
    EIO: 'input/output error',
  };
  if (typeof e?.code === 'string') return `${e.code}: ${words[e.code] ?? e.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** Whether a process with this PID exists (EPERM: it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary files of dead processes in `dir` (`<name>.tmp-<pid>`), or only those of one
 * target when `name` is given. Returns the removed paths. Never throws: cleaning is best effort.
 */
export function removeStaleTemps(dir: string, name?: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const m = TEMP.exec(entry);
    if (!m || (name !== undefined && m[1] !== name) || isProcessAlive(Number(m[2]))) continue;
    const path = join(dir, entry);
    try {
      if (statSync(path).isFile()) {
        rmSync(path, { force: true });
        removed.push(path);
      }
    } catch {
      // Gone already, or not ours to remove: either way nothing to do.
    }
  }
  return removed;
}

/**
 * Writes a file atomically (see the module comment). On failure the temporary file is removed and a
 * CheckpointError naming `path` and the cause (e.g. `ENOSPC: no space left on the device`) is thrown;
 * an error `produce` throws is passed on as it is when it is already a CheckpointError.
 */
export function writeFileAtomic(path: string, produce: (sink: ByteSink) => void): void {
  removeStaleTemps(dirname(resolve(path)), basename(path));
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    const out = fd;
    produce({
      write(bytes: Uint8Array): void {
        for (let done = 0; done < bytes.byteLength;) {
          done += writeSync(out, bytes, done, bytes.byteLength - done);
        }
      },
    });
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // The write already failed; its error is the one to report.
      }
    }
    rmSync(tmp, { force: true });
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(path, `cannot write: ${describeFsError(err)}`, { cause: err });
  }
}

/** Writes bytes or text atomically (see `writeFileAtomic`). */
export function writeBytesAtomic(path: string, content: Uint8Array | string): void {
  const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
  writeFileAtomic(path, (sink) => sink.write(bytes));
}

/** An output folder that cannot be created or written. */
export class OutputFolderError extends Error {
  override readonly name = 'OutputFolderError';
  constructor(
    readonly dir: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot use ${dir} as the output folder: ${problem}`, options);
  }
}

/**
 * Creates `dir` (and its parents) if needed and checks that files can be created in it, by creating
 * and removing one. Throws an OutputFolderError that says why not: a parent that is not writable (and
 * which one), a file in the way, a read-only file system, a full disk.
 */
export function ensureWritableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new OutputFolderError(dir, whyNotCreatable(dir, err), { cause: err });
  }
  if (!statSync(dir).isDirectory()) throw new OutputFolderError(dir, 'it is a file, not a folder');
  const probe = join(dir, `.lape-write-check.tmp-${process.pid}`);
  try {
    closeSync(openSync(probe, 'w'));
    rmSync(probe, { force: true });
  } catch (err) {
    throw new OutputFolderError(dir, `files cannot be created in it (${describeFsError(err)})`, {
      cause: err,
    });
  }
}

/** Why mkdir -p failed, from the nearest existing ancestor (Node may report ENOENT for a read-only one). */
function whyNotCreatable(dir: string, err: unknown): string {
  let parent = dirname(resolve(dir));
  while (!existsSync(parent) && dirname(parent) !== parent) parent = dirname(parent);
  try {
    if (!statSync(parent).isDirectory()) return `${parent} is a file, not a folder`;
    accessSync(parent, constants.W_OK);
  } catch (access) {
    return `${parent} is not writable (${describeFsError(access)})`;
  }
  return describeFsError(err);
}
