import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { int, num, parseDecimal, warnAboutWorkers } from './options.js';

test('numeric flags take decimal and exponent forms only', () => {
  for (const [text, value] of [
    ['12', 12],
    ['-0.5', -0.5],
    ['5e-4', 5e-4],
    ['1E3', 1000],
    ['.25', 0.25],
    ['3.', 3],
    ['+2', 2],
  ] as const) {
    assert.equal(parseDecimal(text), value, text);
  }
  for (const bad of [
    '0x10',
    '0b11',
    '0o7',
    'Infinity',
    '-Infinity',
    'NaN',
    '',
    ' ',
    ' 5',
    '5 ',
    '1_000',
    '1e',
    'e5',
    '--1',
  ])
    assert.ok(Number.isNaN(parseDecimal(bad)), `'${bad}'`);
  assert.throws(
    () => num('--lr', 0)('0x10'),
    (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.message, "--lr expects a number in [0, Infinity], got '0x10'");
      return true;
    },
  );
  assert.equal(num('--lr', 0)('5e-4'), 5e-4);
  assert.equal(int('--epochs', 1)('1e2'), 100);
  for (const bad of ['0x10', '2.5', '1e400', '9007199254740993', '0'])
    assert.throws(() => int('--epochs', 1)(bad), /--epochs expects an integer >= 1/, bad);
});

test('--num-workers above the core count warns', () => {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => lines.push(s)) as unknown as typeof process.stderr.write;
  try {
    warnAboutWorkers(64, 2);
    warnAboutWorkers(2, 2);
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(lines, [
    'warning: --num-workers 64 is more than the 2 CPU cores of this machine; extra loader threads only slow training down (try --num-workers 2)\n',
  ]);
});

test('lape train --lr 0x10 is an error with exit code 1, not a learning rate of 16', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/lape-dev.ts', 'train', '--lr', '0x10'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /error: option '--lr <x>' argument '0x10' is invalid\. --lr expects a number in \[0, Infinity\], got '0x10'/,
  );
});
