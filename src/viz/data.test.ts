import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  base64ToFloat32,
  float32ToBase64,
  parseLog,
  resolveRpeBias,
  validateReportData,
  type ReportData,
} from './data.js';
import { rpeBiasMatrix } from './rpe.js';

function sample(): ReportData {
  return {
    title: 't',
    model: 'm',
    pe: 'learnable',
    join: 'LaPE',
    grid: { h: 2, w: 3 },
    token: 4,
    layers: [
      { index: 0, similarity: new Float32Array(36) },
      { index: 1, similarity: new Float32Array(36) },
    ],
    rpe: [
      {
        layer: 0,
        heads: [
          { table: new Float32Array(15) },
          { table: new Float32Array(15), tokenMap: new Float32Array(36) },
        ],
      },
    ],
  };
}

test('validateReportData accepts consistent data', () => {
  validateReportData(sample());
  validateReportData({ ...sample(), layers: [], rpe: undefined });
});

test('validateReportData pinpoints inconsistencies', () => {
  const cases: [(d: ReportData) => void, RegExp][] = [
    [(d) => (d.grid = { h: 0, w: 3 }), /invalid grid/],
    [(d) => (d.token = 6), /token 6 outside/],
    [(d) => (d.layers[1].index = 0), /duplicate layer index 0/],
    [(d) => (d.layers[0].similarity = new Float32Array(35)), /layer 0: similarity has 35 values/],
    [(d) => ((d.rpe ?? [])[0].heads[0].table = new Float32Array(9)), /head 0: table has 9 values/],
    [(d) => ((d.rpe ?? [])[0].heads[1].tokenMap = new Float32Array(6)), /head 1: tokenMap has 6 values/],
  ];
  for (const [mutate, re] of cases) {
    const d = sample();
    mutate(d);
    assert.throws(() => validateReportData(d), re);
  }
});

test('resolveRpeBias prefers the given bias and otherwise gathers the table', () => {
  const table = Float32Array.from({ length: 15 }, (_, i) => i);
  assert.deepEqual(resolveRpeBias({ table }, { h: 2, w: 3 }), rpeBiasMatrix(table, 2, 3));
  const given = new Float32Array(36).fill(7);
  assert.equal(resolveRpeBias({ table, tokenMap: given }, { h: 2, w: 3 }), given);
});

test('parseLog keeps numeric fields and skips partial lines', () => {
  const text = [
    '{"train_lr": 0.0005, "train_loss": 6.9, "test_loss": 6.8, "test_acc1": 0.1, "epoch": 0, "n_parameters": 5717416}',
    '',
    '{"train_loss": 6.5, "test_acc1": 1.5, "epoch": 1, "note": "x", "flag": true, "bad": null}',
    '[1, 2]',
    '{"train_loss": 6.1, "ep',
  ].join('\n');
  const log = parseLog(text);
  assert.equal(log.length, 2);
  assert.deepEqual(log[1], { train_loss: 6.5, test_acc1: 1.5, epoch: 1 });
  assert.equal(log[0].n_parameters, 5717416);
});

test('float32 base64 round-trips exactly, including views into larger buffers', () => {
  const a = Float32Array.from([0, -1.5, 3.14159, 1e-30, -Infinity, NaN]);
  const back = base64ToFloat32(float32ToBase64(a));
  assert.equal(back.length, a.length);
  for (let i = 0; i < a.length; i++) assert.ok(Object.is(back[i], a[i]), `index ${i}`);
  const view = a.subarray(1, 3);
  assert.deepEqual(Array.from(base64ToFloat32(float32ToBase64(view))), Array.from(view));
  assert.equal(float32ToBase64(Float32Array.from([1])), 'AACAPw==', 'little-endian bytes of 1.0f');
  assert.throws(() => base64ToFloat32('AAA='), /not a float32 array/);
});
