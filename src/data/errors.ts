import { escapeText, sanitizeMessage } from '../io/sanitize.js';

/**
 * The one error type of the data pipeline.
 *
 * Every failure that comes from the data on disk (a missing file, a corrupt image, a label out of range)
 * names the offending path and what was expected there, so a user can fix the data without reading code.
 * Paths and what was found come from the disk, so the message is sanitized (control characters escaped,
 * long parts cut: see io/sanitize.ts).
 */
export class DataError extends Error {
  override readonly name = 'DataError';

  /**
   * @param path the file or folder at fault (or a config key for configuration errors)
   * @param expected what the pipeline needed to find there
   * @param found what it found instead, when that helps
   */
  constructor(
    readonly path: string,
    readonly expected: string,
    readonly found?: string,
  ) {
    super(
      sanitizeMessage(
        `${escapeText(path, 300)}: expected ${expected}${found === undefined ? '' : `, found ${escapeText(found, 300)}`}`,
      ),
    );
  }
}

/** The plain-data form of an error, for crossing a worker boundary (class identity is lost in cloning). */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly data: {
    readonly path: string;
    readonly expected: string;
    readonly found: string | undefined;
  } | null;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof DataError) {
    return {
      name: err.name,
      message: err.message,
      stack: err.stack,
      data: { path: err.path, expected: err.expected, found: err.found },
    };
  }
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack, data: null };
  return { name: 'Error', message: String(err), stack: undefined, data: null };
}

/** Rebuilds a DataError when that is what was thrown, so consumers can still `instanceof` it. */
export function deserializeError(e: SerializedError, context: string): Error {
  if (e.data !== null) {
    const err = new DataError(e.data.path, e.data.expected, e.data.found);
    if (e.stack !== undefined) err.stack = `${err.stack ?? ''}\n    -- in ${context}: ${e.stack}`;
    return err;
  }
  const err = new Error(`${context}: ${e.name}: ${e.message}`);
  if (e.stack !== undefined) err.stack = `${err.stack ?? ''}\n    -- original: ${e.stack}`;
  return err;
}
