/**
 * The benchmark record (`docs/bench/*.json`, written by `npm run bench`) and the README section that
 * `npm run bench:table` renders from it. Schema and workflow: docs/bench/README.md.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One measured value: `value` in the row's unit; peak RSS of the process that measured it. */
export interface Measurement {
  value: number;
  iters?: number;
  rssMiB?: number;
}

/** A table row: lape's measurement and, for work PyTorch does too, PyTorch's at each thread count. */
export interface BenchRow {
  /** Stable key (the same in scripts/bench.ts and scripts/bench_torch.py). */
  id: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** null when lape's measurement failed (see `errors`). */
  lape: Measurement | null;
  /** By `torch.set_num_threads` setting ("1", "2", ...); null for a lape-only row. */
  torch: Record<string, Measurement> | null;
}

export interface BenchResult {
  schema: 1;
  /** ISO time the run finished. */
  date: string;
  quick: boolean;
  command: string;
  machine: {
    host: string;
    cpu: string;
    cores: number;
    memoryGiB: number;
    /** SIMD and matrix extensions the CPU reports (from /proc/cpuinfo flags). */
    isa: string[];
    os: string;
  };
  versions: {
    node: string;
    lape: string;
    /** `git describe --always --dirty` of the measured tree, when it is a git checkout. */
    commit: string | null;
    oneDNN: string | null;
    torch: string | null;
    blas: { library: string; config: string | null; threads: number | null } | null;
  };
  /** Environment variables that change kernel choices or thread counts, as they were (null: unset). */
  env: Record<string, string | null>;
  lape: { backend: string; threads: number };
  /** Thread settings PyTorch was measured at, and its own default; null when PyTorch was not run. */
  torch: { threads: number[]; defaultThreads: number | null } | null;
  rows: BenchRow[];
  errors: string[];
}

export const SECTION_BEGIN = '<!-- bench:begin';
export const SECTION_END = '<!-- bench:end -->';

/** The newest full (non --quick) record in `dir`, by its `date`; null when there is none. */
export function newestResult(dir: string): { file: string; result: BenchResult } | null {
  let best: { file: string; result: BenchResult } | null = null;
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return null;
  }
  for (const name of names) {
    const file = join(dir, name);
    const result = readResult(file);
    if (result.quick) continue;
    if (!best || result.date > best.result.date) best = { file, result };
  }
  return best;
}

export function readResult(file: string): BenchResult {
  const r = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
  if (r.schema !== 1 || !Array.isArray(r.rows))
    throw new Error(`${file}: not a lape benchmark record (schema 1 with rows)`);
  return r;
}

/** PyTorch's faster thread setting for a row: [threads, measurement]; null without PyTorch values. */
export function torchBest(row: BenchRow): [string, Measurement] | null {
  let best: [string, Measurement] | null = null;
  for (const [t, m] of Object.entries(row.torch ?? {})) {
    const better =
      row.better === 'higher'
        ? m.value > (best?.[1].value ?? -Infinity)
        : m.value < (best?.[1].value ?? Infinity);
    if (better) best = [t, m];
  }
  return best;
}

/** How many times faster lape is than `m` (above 1: lape is faster). */
export function speedup(row: BenchRow, m: Measurement): number | null {
  if (!row.lape) return null;
  return row.better === 'higher' ? row.lape.value / m.value : m.value / row.lape.value;
}

const threadsLabel = (t: string): string => `${t} thread${t === '1' ? '' : 's'}`;
const fmt = (m: Measurement | null | undefined, unit: string): string =>
  m ? `${m.value.toFixed(1)} ${unit}` : '-';
const rss = (m: Measurement | null | undefined): string =>
  m?.rssMiB !== undefined ? m.rssMiB.toFixed(0) : '-';

function table(r: BenchResult): string[] {
  const threads = r.torch?.threads.map(String) ?? [];
  const head = [
    'benchmark',
    'lape',
    ...threads.map((t) => `PyTorch, ${threadsLabel(t)}`),
    "lape vs PyTorch's faster",
    'peak RSS lape / PyTorch (MiB)',
  ];
  const body = r.rows.map((row) => {
    const best = torchBest(row);
    const x = best ? speedup(row, best[1]) : null;
    return [
      row.label,
      fmt(row.lape, row.unit),
      ...threads.map((t) => (row.torch ? fmt(row.torch[t], row.unit) : 'n/a')),
      best && x !== null ? `${x.toFixed(2)}x (${threadsLabel(best[0])})` : '-',
      `${rss(row.lape)} / ${best ? rss(best[1]) : '-'}`,
    ];
  });
  const rows = [head, ...body];
  const w = head.map((_, i) => Math.max(3, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(w[i])).join(' | ')} |`;
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)];
}

/** Sentences computed from rows that exist (each is skipped when its rows are missing). */
function derived(r: BenchResult): string[] {
  const row = (id: string): BenchRow | undefined => r.rows.find((x) => x.id === id);
  const out: string[] = [];
  const lape = row('vit_lite_LaPE');
  const basic = row('vit_lite_basic');
  if (lape?.lape && basic?.lape) {
    const pct = (a: number, b: number): string => `${(100 * (a / b - 1)).toFixed(1)}%`;
    let line = `LaPE's cost over the basic join (ViT-Lite train step): lape ${pct(lape.lape.value, basic.lape.value)}`;
    const tl = torchBest(lape);
    const tb = basic.torch && tl ? basic.torch[tl[0]] : undefined;
    if (tl && tb) line += `, PyTorch ${pct(tl[1].value, tb.value)} (${threadsLabel(tl[0])})`;
    out.push(`- ${line}.`);
  }
  const amp = row('vit_lite_amp_step')?.lape;
  if (amp && lape?.lape)
    out.push(
      `- bfloat16 autocast over lape's own float32 (ViT-Lite LaPE train step): ${(lape.lape.value / amp.value).toFixed(2)}x faster.`,
    );
  const ampInfer = row('deit_tiny_amp_infer')?.lape;
  const infer = row('deit_tiny')?.lape;
  if (ampInfer && infer)
    out.push(
      `- bfloat16 autocast over lape's own float32 (DeiT-Tiny inference): ${(ampInfer.value / infer.value).toFixed(2)}x faster.`,
    );
  const fed = row('data_loader')?.lape;
  const mem = row('data_memory')?.lape;
  if (fed && mem)
    out.push(
      `- Training fed by the augmenting worker-thread loader: ${fed.value.toFixed(0)} img/s, from memory ${mem.value.toFixed(0)} img/s (${((100 * fed.value) / mem.value).toFixed(0)}%).`,
    );
  for (const e of r.errors) out.push(`- Failed: ${e}.`);
  return out;
}

function setup(r: BenchResult, file: string): string {
  const m = r.machine;
  const v = r.versions;
  const env = Object.entries(r.env)
    .map(([k, val]) => (val === null ? `${k} unset` : `${k}=${val}`))
    .join(', ');
  const torch = r.torch
    ? `PyTorch ${v.torch ?? '?'} at ${r.torch.threads.map((t) => threadsLabel(String(t))).join(' and ')} (\`torch.set_num_threads\`; its default here: ${r.torch.defaultThreads ?? '?'}), BLAS ${v.blas?.config ?? v.blas?.library ?? 'unknown'}${v.blas?.threads ? ` with ${v.blas.threads} threads of its own` : ''}`
    : 'PyTorch not measured';
  return [
    `\`${r.command}\` on ${r.date.slice(0, 10)}: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(0)} GiB, ${m.isa.join(' ') || 'ISA unknown'}, ${m.os}.`,
    `lape ${v.lape}${v.commit ? ` (${v.commit})` : ''} on Node ${v.node}, ${r.lape.backend} backend${v.oneDNN ? ` (oneDNN ${v.oneDNN})` : ''}, ${r.lape.threads} threads; ${torch}.`,
    `Environment: ${env}. Data: [${file}](${file}).`,
  ].join('\n');
}

/** The README's speed section (between the markers) for a record stored at `file` (repo-relative). */
export function renderSection(found: { file: string; result: BenchResult } | null): string {
  const lines = [`${SECTION_BEGIN}: generated by \`npm run bench:table\`; do not edit by hand -->`, ''];
  if (!found) {
    lines.push(
      'No benchmark record is committed yet: run `npm run bench` on a quiet machine (it writes',
      '`docs/bench/<date>-<host>.json`), commit that file and run `npm run bench:table`.',
    );
  } else {
    const { file, result } = found;
    lines.push(setup(result, file), '', ...table(result));
    const notes = derived(result);
    if (notes.length) lines.push('', ...notes);
  }
  lines.push('', SECTION_END);
  return lines.join('\n');
}

/** `readme` with the text between the markers replaced by `section` (markers included). */
export function replaceSection(readme: string, section: string): string {
  const a = readme.indexOf(SECTION_BEGIN);
  const b = readme.indexOf(SECTION_END);
  if (a < 0 || b < a)
    throw new Error(
      `README.md has no '${SECTION_BEGIN} ... -->' / '${SECTION_END}' markers for the speed table`,
    );
  return readme.slice(0, a) + section + readme.slice(b + SECTION_END.length);
}
