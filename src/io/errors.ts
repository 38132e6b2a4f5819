import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename } from 'node:path';

/** Errors and atomic file writing shared by the checkpoint formats of `src/io/`. */

/**
 * The one error type of the checkpoint readers and writers. Every problem with a file (truncated,
 * corrupt, unsupported, unsafe) surfaces as a `CheckpointError` whose message starts with the file's
 * name, so a user sees which file is at fault and why, never a stack from deep inside a parser. The
 * underlying error, when there is one, is kept as `cause`.
 */
export class CheckpointError extends Error {
  /** The path the error is about (as given by the caller), or a label such as `<buffer>`. */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly problem: string;

  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${basename(file)}: ${problem}`, options);
    this.name = 'CheckpointError';
    this.file = file;
    this.problem = problem;
  }
}

/**
 * Runs `fn` and turns anything it throws that is not already a `CheckpointError` (a RangeError from a
 * typed array, a SyntaxError from JSON.parse, an fs error) into one naming `file`. The parsers check
 * their input explicitly; this is the safety net that keeps the promise of one error type.
 */
export function withCheckpointErrors<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(file, `${what}: ${describeError(err)}`, { cause: err });
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Receives the bytes of a file being written, in order. */
export interface ByteSink {
  write(bytes: Uint8Array): void;
}

/**
 * Writes a file atomically: the content goes to `<path>.tmp-<pid>`, is flushed to disk, and is then
 * renamed over `path`, so a crash or a full disk never leaves a half-written checkpoint behind (a reader
 * sees the old file or the new one). On failure the temporary file is removed and a CheckpointError
 * naming `path` is thrown.
 */
export function writeFileAtomic(path: string, produce: (sink: ByteSink) => void): void {
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
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(path, `cannot write: ${describeError(err)}`, { cause: err });
  }
}
