import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rpeBiasMatrix, rpeRelativeIndex, splitRpeTable } from './rpe.js';

test('rpeRelativeIndex follows the spec formula and is centred on the diagonal', () => {
  const h = 2;
  const w = 3;
  const idx = rpeRelativeIndex(h, w);
  const n = h * w;
  assert.equal(idx.length, n * n);
  const centre = (h - 1) * (2 * w - 1) + (w - 1);
  for (let i = 0; i < n; i++) assert.equal(idx[i * n + i], centre);
  // Patch 0 is (y0, x0); patch 5 is (y1, x2): dy = -1, dx = -2 -> row 0, col 0 of the table.
  assert.equal(idx[0 * n + 5], 0);
  // And the reverse offset is the last table entry.
  assert.equal(idx[5 * n + 0], (2 * h - 1) * (2 * w - 1) - 1);
});

test('splitRpeTable de-interleaves heads', () => {
  const size = 3 * 3; // h = w = 2
  const table = Float32Array.from({ length: size * 2 }, (_, i) => i);
  const [h0, h1] = splitRpeTable(table, 2, 2, 2);
  assert.deepEqual(Array.from(h0), [0, 2, 4, 6, 8, 10, 12, 14, 16]);
  assert.deepEqual(Array.from(h1), [1, 3, 5, 7, 9, 11, 13, 15, 17]);
  assert.throws(() => splitRpeTable(table, 2, 2, 3), /expected/);
});

test('rpeBiasMatrix gathers the table through the relative index', () => {
  const h = 3;
  const w = 2;
  const t = Float32Array.from({ length: 5 * 3 }, (_, i) => i * 0.5);
  const bias = rpeBiasMatrix(t, h, w);
  const idx = rpeRelativeIndex(h, w);
  for (let k = 0; k < idx.length; k++) assert.equal(bias[k], t[idx[k]]);
  assert.throws(() => rpeBiasMatrix(new Float32Array(3), h, w), /expected/);
  assert.throws(() => rpeRelativeIndex(0, 2), /invalid grid/);
});
