/**
 * Running the CLI from tests: `lape(...)` spawns `scripts/lape-dev.ts` (the CLI from the sources) in the
 * repository root, and the argument lists and error checks that several suites share.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** The CLI with `args`, `env` added to this process's environment. */
export function lapeWithEnv(env: NodeJS.ProcessEnv, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/lape-dev.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const lape = (...args: string[]): CliResult => lapeWithEnv({}, ...args);

/** `lape train` of lape_tiny on an image folder, batch 4, in-process loading, into `out`. */
export function tinyTrainArgs(data: string, out: string, epochs: number, ...extra: string[]): string[] {
  return [
    'train',
    '--model',
    'lape_tiny',
    '--data-set',
    'image-folder',
    '--data-path',
    data,
    '--epochs',
    String(epochs),
    '--batch-size',
    '4',
    '--no-repeated-aug',
    '--num-workers',
    '0',
    '--output-dir',
    out,
    '--no-progress',
    ...extra,
  ];
}

/** A failure whose stderr matches `pattern` and holds no stack trace. */
export function assertCleanError(r: { status: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.status, 0, 'expected a failure');
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, `a stack trace was printed:\n${r.stderr}`);
}
