/** The benchmark record -> README speed section (scripts/bench-report.ts), and README.md in sync with it. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { newestResult, renderSection, replaceSection, type BenchResult } from '../../scripts/bench-report.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function record(over: Partial<BenchResult> = {}): BenchResult {
  return {
    schema: 1,
    date: '2025-02-01T10:00:00.000Z',
    quick: false,
    command: 'npm run bench',
    machine: { host: 'h', cpu: 'Test CPU', cores: 2, memoryGiB: 24, isa: ['avx2', 'avx512f'], os: 'linux 6' },
    versions: {
      node: 'v20.0.0',
      lape: '0.1.0',
      commit: 'abc1234',
      oneDNN: '2.6.3',
      torch: '1.13.0',
      blas: { library: '/lib/libopenblas.so', config: 'OpenBLAS 0.3.21 Haswell', threads: 2 },
    },
    env: { OMP_NUM_THREADS: null, OPENBLAS_CORETYPE: 'Haswell' },
    lape: { backend: 'native', threads: 2 },
    torch: { threads: [1, 2], defaultThreads: 1 },
    rows: [
      {
        id: 'vit_lite_LaPE',
        label: 'LaPE step',
        unit: 'ms',
        better: 'lower',
        lape: { value: 1000, rssMiB: 1400 },
        torch: { '1': { value: 2000, rssMiB: 1800 }, '2': { value: 3000, rssMiB: 1900 } },
      },
      {
        id: 'vit_lite_basic',
        label: 'basic step',
        unit: 'ms',
        better: 'lower',
        lape: { value: 990 },
        torch: { '1': { value: 1900 }, '2': { value: 2500 } },
      },
      {
        id: 'sgemm',
        label: 'sgemm',
        unit: 'GFLOP/s',
        better: 'higher',
        lape: { value: 150 },
        torch: { '1': { value: 100 }, '2': { value: 200 } },
      },
      {
        id: 'data_loader',
        label: 'loader',
        unit: 'img/s',
        better: 'higher',
        lape: { value: 450 },
        torch: null,
      },
      {
        id: 'data_memory',
        label: 'memory',
        unit: 'img/s',
        better: 'higher',
        lape: { value: 500 },
        torch: null,
      },
    ],
    errors: ['PyTorch deit_tiny at 2 thread(s): exit code 1'],
    ...over,
  };
}

const cells = (section: string, label: string): string[] => {
  const line = section.split('\n').find((l) => l.startsWith(`| ${label} `));
  assert.ok(line, `a table row for ${label}`);
  return line
    .split('|')
    .slice(1, -1)
    .map((c) => c.trim());
};

describe('benchmark report', () => {
  it("compares every row with PyTorch's faster thread setting and says which", () => {
    const s = renderSection({ file: 'docs/bench/x.json', result: record() });
    assert.deepEqual(cells(s, 'LaPE step'), [
      'LaPE step',
      '1000.0 ms',
      '2000.0 ms',
      '3000.0 ms',
      '2.00x (1 thread)',
      '1400 / 1800',
    ]);
    assert.deepEqual(cells(s, 'sgemm'), [
      'sgemm',
      '150.0 GFLOP/s',
      '100.0 GFLOP/s',
      '200.0 GFLOP/s',
      '0.75x (2 threads)',
      '- / -',
    ]);
    assert.deepEqual(cells(s, 'loader'), ['loader', '450.0 img/s', 'n/a', 'n/a', '-', '- / -']);
    assert.match(s, /\| benchmark +\| lape +\| PyTorch, 1 thread +\| PyTorch, 2 threads +\|/);
    assert.match(
      s,
      /LaPE's cost over the basic join \(ViT-Lite train step\): lape 1\.0%, PyTorch 5\.3% \(1 thread\)/,
    );
    assert.match(s, /augmenting worker-thread loader: 450 img\/s, from memory 500 img\/s \(90%\)/);
    assert.match(s, /Failed: PyTorch deit_tiny at 2 thread\(s\): exit code 1/);
    assert.match(s, /Test CPU, 2 cores, 24 GiB, avx2 avx512f/);
    assert.match(s, /OMP_NUM_THREADS unset, OPENBLAS_CORETYPE=Haswell/);
    assert.match(s, /Data: \[docs\/bench\/x\.json\]\(docs\/bench\/x\.json\)/);
  });

  it('replaces only the text between the markers', () => {
    const readme = 'intro\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\noutro\n';
    const out = replaceSection(readme, renderSection(null));
    assert.ok(out.startsWith('intro\n<!-- bench:begin: generated'));
    assert.ok(out.endsWith('<!-- bench:end -->\noutro\n'));
    assert.ok(!out.includes('old table'));
    assert.throws(() => replaceSection('no markers', 'x'), /has no '<!-- bench:begin/);
  });

  it('takes the newest full record, never a --quick one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lape-bench-'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify(record({ date: '2025-01-01T00:00:00.000Z' })));
    writeFileSync(join(dir, 'b.json'), JSON.stringify(record({ date: '2025-03-01T00:00:00.000Z' })));
    writeFileSync(
      join(dir, 'c.json'),
      JSON.stringify(record({ date: '2025-04-01T00:00:00.000Z', quick: true })),
    );
    assert.equal(newestResult(dir)?.file, join(dir, 'b.json'));
    assert.equal(newestResult(join(dir, 'missing')), null);
    rmSync(dir, { recursive: true, force: true });
  });

  it("README.md's speed section is what `npm run bench:table` renders from docs/bench", () => {
    const found = newestResult(join(root, 'docs', 'bench'));
    const section = renderSection(found && { ...found, file: relative(root, found.file) });
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    assert.equal(replaceSection(readme, section), readme, 'run `npm run bench:table`');
  });
});
