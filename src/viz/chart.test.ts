import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupLogKeys, lineChartSvg, logChartsSvg, niceTicks } from './chart.js';
import type { LogEntry } from './data.js';

test('niceTicks covers the range with 1/2/5 steps', () => {
  assert.deepEqual(niceTicks(0, 10, 6), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(0.13, 0.87, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(2.1, 6.9, 5), [2, 4, 6, 8]);
  const t = niceTicks(5, 5);
  assert.ok(t[0] < 5 && t[t.length - 1] > 5, 'a constant series gets a non-empty range');
  assert.deepEqual(niceTicks(NaN, 1), []);
  assert.deepEqual(niceTicks(1, 0, 2), [0, 1]);
});

test('lineChartSvg draws one path per series with gaps, a legend and escaped labels', () => {
  const svg = lineChartSvg(
    [
      {
        label: 'a<b',
        points: [
          [0, 1],
          [1, NaN],
          [2, 3],
        ],
        color: '#123456',
      },
      {
        label: 'c',
        points: [
          [0, 2],
          [2, 2],
        ],
        color: '#654321',
        dashed: true,
      },
    ],
    { title: 'T & U', xLabel: 'epoch' },
  );
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.endsWith('</svg>'));
  assert.match(svg, /T &amp; U/);
  assert.match(svg, /a&lt;b/);
  const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]);
  assert.equal(paths.length, 2);
  assert.equal((paths[0].match(/M/g) ?? []).length, 2, 'NaN breaks the line into two pieces');
  assert.match(svg, /stroke-dasharray="6 4"/);
  assert.equal((svg.match(/<circle /g) ?? []).length, 4);
});

const LOG: LogEntry[] = [
  {
    epoch: 0,
    train_lr: 1e-6,
    train_loss: 6.9,
    test_loss: 6.8,
    test_acc1: 0.5,
    test_acc5: 2,
    n_parameters: 5e6,
  },
  { epoch: 1, train_lr: 5e-4, train_loss: 5.1, test_loss: 4.9, test_acc1: 12.5, test_acc5: 30 },
  {
    epoch: 2,
    train_lr: 4e-4,
    train_loss: 4.2,
    test_loss: 4.0,
    test_acc1: 20.25,
    test_acc5: 45,
    max_accuracy: 20.25,
  },
];

test('groupLogKeys puts losses, accuracies and learning rate in their own charts', () => {
  const groups = groupLogKeys([LOG]);
  assert.deepEqual(
    groups.map((g) => [g.title, g.keys]),
    [
      ['Loss', ['train_loss', 'test_loss']],
      ['Accuracy (%)', ['test_acc1', 'test_acc5', 'max_accuracy']],
      ['Learning rate', ['train_lr']],
    ],
  );
});

test('logChartsSvg: best values in subtitles, one series per run and key in comparisons', () => {
  const single = logChartsSvg([{ label: 'run', log: LOG }]);
  assert.equal(single.length, 3);
  assert.match(single[0], /min train_loss 4.2 \(epoch 2\)/);
  assert.match(single[1], /max test_acc1 20.2 \(epoch 2\)|max test_acc1 20.3 \(epoch 2\)/);
  const both = logChartsSvg([
    { label: 'A', log: LOG },
    { label: 'B', log: LOG.slice(0, 2) },
  ]);
  assert.equal((both[0].match(/<path /g) ?? []).length, 4, '2 runs x 2 loss keys');
  assert.match(both[0], /A · train_loss/);
  assert.match(both[0], /B · test_loss/);
  // Without epochs the x axis is the entry number.
  const noEpoch = logChartsSvg([{ label: 'x', log: [{ loss: 1 }, { loss: 0.5 }] }]);
  assert.match(noEpoch[0], /log entry/);
});
