/**
 * Runs the real CLI (`main` of src/cli/index.ts) once per argument list (or, for formats no command
 * reads, the library reader: `{"read": path}` reads a .safetensors file), in this one process, and
 * reports for each run its exit code, what it wrote to stderr, its wall time and its peak resident
 * memory. The peak is per run: Linux's VmHWM is reset (/proc/self/clear_refs) before each one, after a
 * garbage collection. One process instead of one per run saves a tsx start-up (seconds) per file.
 *
 * Usage: node --expose-gc --import tsx test/hostile/cli-runner.ts RUNS.json  (prints a JSON array)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { main } from '../../src/cli/index.js';
import { readSafetensors } from '../../src/io/safetensors.js';

export interface RunResult {
  code: number;
  stderr: string;
  ms: number;
  /** Peak resident memory of the process during the run, in bytes. */
  peakRss: number;
}

function vmHwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

type Run = string[] | { read: string };
const runs = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Run[];

async function run(r: Run): Promise<number> {
  if (Array.isArray(r)) return main(r);
  try {
    readSafetensors(r.read);
    return 0;
  } catch (err) {
    process.stderr.write(`lape: ${(err as Error).message}\n`);
    return 1;
  }
}

const results: RunResult[] = [];
const realWrite = process.stderr.write.bind(process.stderr);
for (const r of runs) {
  (globalThis as { gc?: () => void }).gc?.();
  writeFileSync('/proc/self/clear_refs', '5');
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stderr.write;
  process.exitCode = undefined;
  const t0 = performance.now();
  let code: number;
  try {
    code = await run(r);
  } finally {
    process.stderr.write = realWrite;
  }
  results.push({ code, stderr, ms: performance.now() - t0, peakRss: vmHwm() });
}
process.exitCode = 0;
process.stdout.write(`${JSON.stringify(results)}\n`);
