/**
 * Making untrusted text safe to print. Error messages quote what they found in a file (a key, a dtype,
 * a global's name, a header), and a file can hold anything: escape sequences that clear the terminal
 * or fake output, bidi overrides that reorder what is shown, megabytes of text. Every message that
 * quotes file content goes through here: control characters are escaped (`\x1b`, `\u202e`) and long
 * text is cut with a note of how much was left out. `quote` is for the quoted parts, `sanitizeMessage`
 * the last line of defence for a whole message (the error classes and the CLI's printer apply it).
 */

/** Characters that must never reach a terminal raw: C0 and C1 controls, DEL, bidi controls, separators. */

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const UNSAFE_BUT_NEWLINE =
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Cuts `s` to at most `max` characters, ending in a note of the full length (`total`, when `s` is
 * itself already a cut of something longer).
 */
export function cut(s: string, max: number, total = s.length): string {
  if (s.length <= max && total === s.length) return s;
  const note = `... (${total.toLocaleString('en')} characters in all)`;
  let keep = Math.max(0, Math.min(s.length, max - note.length));
  // Never split a surrogate pair.
  if (keep > 0 && /[\ud800-\udbff]/.test(s[keep - 1])) keep--;
  return s.slice(0, keep) + note;
}

/** `s` with every control character escaped, cut to `max` characters (default 200). */
export function escapeText(s: string, max = 200): string {
  // Escaping only lengthens text: a prefix of 2 * max characters is all that can be shown.
  const head = s.length > 2 * max ? s.slice(0, 2 * max) : s;
  const escaped = head.replace(UNSAFE, escapeChar);
  return escaped.length <= max && head.length === s.length
    ? escaped
    : cut(escaped, max, Math.max(s.length, escaped.length));
}

/** `s` for quoting in a message: escaped, cut to `max` characters, in single quotes. */
export function quote(s: string, max = 200): string {
  return `'${escapeText(s, max)}'`;
}

export interface MessageLimits {
  /** Most lines kept (default 6). */
  readonly maxLines?: number;
  /** Most characters per line (default 400). */
  readonly maxLineLength?: number;
}

/**
 * A whole message made printable: control characters other than newline escaped, each line cut to
 * `maxLineLength`, and at most `maxLines` lines (the last one says how many were left out).
 */
export function sanitizeMessage(message: string, limits: MessageLimits = {}): string {
  const maxLines = limits.maxLines ?? 6;
  const maxLineLength = limits.maxLineLength ?? 400;
  const lines: string[] = [];
  let start = 0;
  let total = 0;
  while (start <= message.length) {
    let end = message.indexOf('\n', start);
    if (end < 0) end = message.length;
    total++;
    if (lines.length < maxLines) {
      const line = message.slice(start, Math.min(end, start + 2 * maxLineLength));
      const escaped = line.replace(UNSAFE_BUT_NEWLINE, escapeChar);
      lines.push(
        escaped.length <= maxLineLength && end - start === line.length
          ? escaped
          : cut(escaped, maxLineLength, Math.max(end - start, escaped.length)),
      );
    }
    start = end + 1;
  }
  if (total > maxLines) lines[maxLines - 1] = `... (${total - maxLines + 1} more lines)`;
  return lines.join('\n');
}
