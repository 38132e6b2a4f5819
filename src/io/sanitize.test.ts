import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cut, escapeText, quote, sanitizeMessage } from './sanitize.js';

test('escapeText escapes every control character and leaves other text alone', () => {
  assert.equal(escapeText('a\u001b[2Jb'), 'a\\x1b[2Jb');
  assert.equal(escapeText('\u0000\t\n\r\u007f'), '\\x00\\x09\\x0a\\x0d\\x7f');
  // C1 controls (0x9b is a one-byte CSI) and bidi overrides, which reorder what a terminal shows.
  assert.equal(escapeText('\u009b31m\u202eevil\u2066'), '\\x9b31m\\u202eevil\\u2066');
  assert.equal(escapeText('pos_embed é 中 🙂'), 'pos_embed é 中 🙂');
});

test('cut and quote keep texts short, saying how long they were, without splitting a character', () => {
  const long = 'x'.repeat(10_000);
  const q = quote(long, 100);
  assert.ok(q.length <= 102, `${q.length}`);
  assert.match(q, /^'x+\.\.\. \(10,000 characters in all\)'$/);
  assert.equal(cut('short', 100), 'short');
  const emoji = '🙂'.repeat(100);
  const c = cut(emoji, 50);
  assert.doesNotMatch(c, /[\ud800-\udbff](?![\udc00-\udfff])/, 'a lone high surrogate');
  // Escaping can lengthen a text; the cut applies after it.
  assert.ok(escapeText('\u001b'.repeat(1000), 60).length <= 60);
});

test('sanitizeMessage: at most 6 lines of at most 400 characters, no control characters', () => {
  const msg = `lape: ${'\u001b[31m'.repeat(200)}\n${'y'.repeat(5000)}\n3\n4\n5\n6\n7\n8`;
  const s = sanitizeMessage(msg);
  const lines = s.split('\n');
  assert.equal(lines.length, 6);
  assert.equal(lines[5], '... (3 more lines)');
  for (const l of lines) assert.ok(l.length <= 400, `${l.length}`);

  assert.doesNotMatch(s, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  assert.match(lines[1], /\.\.\. \(5,000 characters in all\)$/);
  assert.equal(sanitizeMessage('one line'), 'one line');
  // A pathological message costs little.
  const t0 = performance.now();
  sanitizeMessage('\u001b'.repeat(50_000_000));
  assert.ok(performance.now() - t0 < 2000);
});
