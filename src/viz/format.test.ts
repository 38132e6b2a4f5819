import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeXml, estimateTextWidth, formatTick, pad2 } from './format.js';

test('formatTick is compact and handles special values', () => {
  assert.equal(formatTick(0), '0');
  assert.equal(formatTick(-0), '0');
  assert.equal(formatTick(1), '1');
  assert.equal(formatTick(-1), '-1');
  assert.equal(formatTick(0.5), '0.5');
  assert.equal(formatTick(0.123456), '0.123');
  assert.equal(formatTick(-0.98765), '-0.988');
  assert.equal(formatTick(12.5), '12.5');
  assert.equal(formatTick(123.4), '123');
  assert.equal(formatTick(2.5e-5), '2.5e-5');
  assert.equal(formatTick(-1e-4), '-1e-4');
  assert.equal(formatTick(123456), '1.23e5');
  assert.equal(formatTick(NaN), 'NaN');
  assert.equal(formatTick(Infinity), '∞');
});

test('escapeXml escapes markup characters', () => {
  assert.equal(escapeXml(`<a href="x">&'`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
  assert.equal(escapeXml('layer 3 · overall'), 'layer 3 · overall');
});

test('estimateTextWidth grows with length and size; pad2 pads', () => {
  assert.ok(estimateTextWidth('abcd', 12) > estimateTextWidth('ab', 12));
  assert.ok(estimateTextWidth('ab', 16) > estimateTextWidth('ab', 12));
  assert.ok(estimateTextWidth('abcd', 12, true) > estimateTextWidth('abcd', 12));
  assert.equal(pad2(3), '03');
  assert.equal(pad2(11), '11');
  assert.equal(pad2(123), '123');
});
