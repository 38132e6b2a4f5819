import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REPORT_CSS, REPORT_JS } from './report-client.js';

// The script's behaviour is covered by test/viz/report.browser.test.ts; these checks catch the
// mistakes that are easy to make in a script kept as a string.

test('the client script is syntactically valid JavaScript', () => {
  assert.doesNotThrow(() => new Function(REPORT_JS));
});

test('the client script has no template literals or tsx helpers that would not survive inlining', () => {
  assert.doesNotMatch(REPORT_JS, /`/);
  assert.doesNotMatch(REPORT_JS, /__name\(/);
  assert.doesNotMatch(REPORT_JS, /<\/script/i);
});

test('the client uses the same colour-index formula as colormap.ts', () => {
  assert.match(REPORT_JS, /Math\.round\(\(\(x - lo\) \/ \(hi - lo\)\) \* 255\)/);
  assert.match(REPORT_JS, /k = 128/);
});

test('the stylesheet is balanced and cannot close its style element', () => {
  const open = (REPORT_CSS.match(/\{/g) ?? []).length;
  const close = (REPORT_CSS.match(/\}/g) ?? []).length;
  assert.equal(open, close);
  assert.doesNotMatch(REPORT_CSS, /<\/style/i);
});
