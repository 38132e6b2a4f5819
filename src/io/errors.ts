import { basename } from 'node:path';

import { sanitizeMessage } from './sanitize.js';

/**
 * The one error type of the checkpoint readers and writers. Every problem with a file (truncated,
 * corrupt, unsupported, unsafe) surfaces as a `CheckpointError` whose message starts with the file's
 * name, so a user sees which file is at fault and why, never a stack from deep inside a parser. The
 * underlying error, when there is one, is kept as `cause`. The message is sanitized (control characters
 * escaped, lines cut: see sanitize.ts), as it may quote the file's content.
 */
export class CheckpointError extends Error {
  /** The path the error is about (as given by the caller), or a label such as `<buffer>`. */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly problem: string;

  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    const safe = sanitizeMessage(problem);
    super(sanitizeMessage(`${basename(file)}: ${safe}`), options);
    this.name = 'CheckpointError';
    this.file = file;
    this.problem = safe;
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

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
