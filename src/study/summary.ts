/**
 * The study's summary, computed from the runs' result.json files only (results.json and results.md
 * can be rebuilt at any time with `lape study --summarize-only`): per (pe, join) the mean and spread
 * of final top-1 over seeds, and per pe each join against `basic` with a Welch 95% interval, which
 * is what says whether a difference is larger than seed-to-seed noise.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gridPoints, runName, type StudyConfig, type StudyJoin, type StudyPe } from './config.js';
import { readRunRecord, type MachineInfo, type RunRecord } from './result.js';
import { mean, sampleStd, welchInterval, type WelchInterval } from './stats.js';

/** The join every other join is compared with: the paper's baseline (PE added once, before block 1). */
export const BASELINE_JOIN: StudyJoin = 'basic';
export const CONFIDENCE = 0.95;

export interface GroupSummary {
  pe: StudyPe;
  join: StudyJoin;
  /** Seeds in the grid. */
  planned: number;
  /** Seeds whose run completed (these are the statistics' sample). */
  completed: number;
  failed: number;
  /** Seeds with no result.json yet. */
  missing: number;
  acc1Mean: number | null;
  /** Sample standard deviation (n - 1); null with fewer than 2 completed seeds. */
  acc1Std: number | null;
  acc5Mean: number | null;
  params: number | null;
  imagesPerSMean: number | null;
  /** Wall seconds of every finished run of the group, failed ones included (the time was spent). */
  wallSTotal: number;
}

export type Verdict = 'better' | 'worse' | 'within-noise' | 'insufficient';

export interface Comparison {
  pe: StudyPe;
  join: StudyJoin;
  baseline: StudyJoin;
  n: number;
  nBaseline: number;
  /** mean(join) - mean(baseline) top-1 with its interval; null when either side has < 2 runs. */
  interval: WelchInterval | null;
  verdict: Verdict;
  /** The plain-English line. */
  sentence: string;
}

export interface MachineRuns {
  machine: MachineInfo;
  runs: number;
}

export interface StudySummary {
  study: string;
  description: string;
  config: string;
  command: string;
  date: string;
  machines: MachineRuns[];
  planned: number;
  runs: (RunRecord & { run: string })[];
  missing: string[];
  groups: GroupSummary[];
  comparisons: Comparison[];
}

function verdictOf(ci: WelchInterval | null): Verdict {
  if (ci === null) return 'insufficient';
  if (ci.low > 0) return 'better';
  if (ci.high < 0) return 'worse';
  return 'within-noise';
}

const signed = (x: number, digits = 2): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;

function sentence(c: Omit<Comparison, 'sentence'>): string {
  const label = `${c.pe}: ${c.join} vs ${c.baseline}`;
  const ci = c.interval;
  if (ci === null) {
    return `${label}: not enough runs to compare (${c.n} and ${c.nBaseline} completed seeds; needs at least 2 each)`;
  }
  const numbers = `${signed(ci.diff)} points top-1, ${Math.round(ci.level * 100)}% CI [${signed(ci.low)}, ${signed(ci.high)}]`;
  switch (c.verdict) {
    case 'better':
      return `${label}: ${c.join} better (${numbers}; the interval excludes 0)`;
    case 'worse':
      return `${label}: ${c.join} worse (${numbers}; the interval excludes 0)`;
    case 'within-noise':
      return `${label}: within noise (${numbers}; the interval contains 0)`;
    case 'insufficient':
      return `${label}: not enough runs to compare`;
  }
}

function sameMachine(a: MachineInfo, b: MachineInfo): boolean {
  return (
    a.cpu === b.cpu &&
    a.cores === b.cores &&
    a.memory_bytes === b.memory_bytes &&
    a.os === b.os &&
    a.node === b.node &&
    a.backend === b.backend
  );
}

/** Computes the summary from the result.json files under `outDir` (no files written). */
export function computeSummary(
  outDir: string,
  config: StudyConfig,
  meta: { command: string; date: string },
): StudySummary {
  const runs: StudySummary['runs'] = [];
  const missing: string[] = [];
  const byGroup = new Map<string, RunRecord[]>();
  for (const p of gridPoints(config.grid)) {
    const name = runName(p);
    const r = readRunRecord(join(outDir, name));
    if (r === null) {
      missing.push(name);
      continue;
    }
    // The folder, not the file's own fields, says which grid point a record is (folders are the key).
    const record: RunRecord = { ...r, pe: p.pe, join: p.join, seed: p.seed };
    runs.push({ run: name, ...record });
    const key = `${p.pe}\u0000${p.join}`;
    byGroup.set(key, [...(byGroup.get(key) ?? []), record]);
  }

  const groups: GroupSummary[] = [];
  const acc1Of = new Map<string, number[]>();
  for (const pe of config.grid.pe) {
    for (const j of config.grid.join) {
      const key = `${pe}\u0000${j}`;
      const records = byGroup.get(key) ?? [];
      const done = records.flatMap((r) => (r.status === 'completed' ? [r] : []));
      const acc1 = done.map((r) => r.acc1);
      acc1Of.set(key, acc1);
      const ips = done.flatMap((r) => (r.images_per_s === null ? [] : [r.images_per_s]));
      groups.push({
        pe,
        join: j,
        planned: config.grid.seeds.length,
        completed: done.length,
        failed: records.length - done.length,
        missing: config.grid.seeds.length - records.length,
        acc1Mean: acc1.length ? mean(acc1) : null,
        acc1Std: acc1.length >= 2 ? sampleStd(acc1) : null,
        acc5Mean: done.length ? mean(done.map((r) => r.acc5)) : null,
        params: done[0]?.params ?? records.find((r) => r.params !== null)?.params ?? null,
        imagesPerSMean: ips.length ? mean(ips) : null,
        wallSTotal: records.reduce((s, r) => s + r.wall_s, 0),
      });
    }
  }

  const comparisons: Comparison[] = [];
  if (config.grid.join.includes(BASELINE_JOIN)) {
    for (const pe of config.grid.pe) {
      const base = acc1Of.get(`${pe}\u0000${BASELINE_JOIN}`) ?? [];
      for (const j of config.grid.join) {
        if (j === BASELINE_JOIN) continue;
        const other = acc1Of.get(`${pe}\u0000${j}`) ?? [];
        const interval =
          other.length >= 2 && base.length >= 2 ? welchInterval(other, base, CONFIDENCE) : null;
        const c = {
          pe,
          join: j,
          baseline: BASELINE_JOIN,
          n: other.length,
          nBaseline: base.length,
          interval,
          verdict: verdictOf(interval),
        };
        comparisons.push({ ...c, sentence: sentence(c) });
      }
    }
  }

  const machines: MachineRuns[] = [];
  for (const r of runs) {
    const m = machines.find((x) => sameMachine(x.machine, r.machine));
    if (m) m.runs++;
    else machines.push({ machine: r.machine, runs: 1 });
  }

  return {
    study: config.name,
    description: config.description,
    config: config.source,
    command: meta.command,
    date: meta.date,
    machines,
    planned: gridPoints(config.grid).length,
    runs,
    missing,
    groups,
    comparisons,
  };
}

// ---- markdown -------------------------------------------------------------------------------------

const pct = (x: number | null): string => (x === null ? '—' : x.toFixed(2));

/** Seconds as people read them: `45 s`, `12 min`, `2 h 05 min`. */
export function duration(s: number): string {
  if (s < 120) return `${s.toFixed(0)} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Markdown pipes inside a cell would split it. */
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderMarkdown(s: StudySummary): string {
  const out: string[] = [];
  out.push(`# Study \`${s.study}\``, '');
  if (s.description) out.push(s.description, '');
  const failed = s.runs.filter((r) => r.status === 'failed').length;
  out.push(
    `- Study file: \`${s.config}\``,
    `- Command: \`${s.command}\``,
    `- Date: ${s.date}`,
    `- Runs: ${s.planned} in the grid, ${s.runs.length - failed} completed, ${failed} failed, ${s.missing.length} not run yet`,
  );
  if (s.machines.length === 0) out.push('- Machine: (no finished runs)');
  for (const { machine: m, runs } of s.machines) {
    out.push(
      `- Machine${s.machines.length > 1 ? ` (${runs} runs)` : ''}: ${m.cpu}, ${m.cores} cores, ${gib(m.memory_bytes)} memory, ${m.os}, Node ${m.node}, lape backend ${m.backend}`,
    );
  }
  out.push('');

  out.push(
    '## Final top-1 by position embedding and join',
    '',
    'Top-1/top-5 in percent on the validation split after the last epoch; mean ± sample standard deviation over completed seeds.',
    '',
    table(
      ['pe', 'join', 'seeds', 'top-1', 'top-5', 'params', 'train img/s', 'wall time'],
      s.groups.map((g) => [
        g.pe,
        g.join,
        `${g.completed}/${g.planned}${g.failed ? ` (${g.failed} failed)` : ''}`,
        g.acc1Mean === null ? '—' : `${pct(g.acc1Mean)}${g.acc1Std === null ? '' : ` ± ${pct(g.acc1Std)}`}`,
        pct(g.acc5Mean),
        g.params === null ? '—' : g.params.toLocaleString('en'),
        g.imagesPerSMean === null ? '—' : g.imagesPerSMean.toFixed(1),
        g.completed + g.failed === 0 ? '—' : duration(g.wallSTotal),
      ]),
    ),
    '',
  );

  if (s.comparisons.length > 0) {
    out.push(
      `## Each join vs ${BASELINE_JOIN}`,
      '',
      `Difference of mean top-1 (points), with Welch's ${Math.round(CONFIDENCE * 100)}% confidence interval (unequal variances; df by Welch–Satterthwaite).`,
      '',
      table(
        ['pe', 'difference', 'mean Δ top-1', `${Math.round(CONFIDENCE * 100)}% CI`, 'df', 'verdict'],
        s.comparisons.map((c) => [
          c.pe,
          `${c.join} − ${c.baseline}`,
          c.interval === null ? '—' : signed(c.interval.diff),
          c.interval === null ? '—' : `[${signed(c.interval.low)}, ${signed(c.interval.high)}]`,
          c.interval?.df == null ? '—' : c.interval.df.toFixed(1),
          c.verdict === 'insufficient'
            ? 'not enough runs'
            : c.verdict === 'within-noise'
              ? 'within noise'
              : `${c.join} ${c.verdict}`,
        ]),
      ),
      '',
      '### Verdicts',
      '',
      ...s.comparisons.map((c) => `- ${c.sentence}`),
      '',
    );
  }

  out.push('## Runs', '');
  if (s.runs.length === 0) {
    out.push('No run has finished yet.', '');
  } else {
    out.push(
      table(
        ['run', 'status', 'epochs', 'top-1', 'top-5', 'loss', 'train img/s', 'wall time', 'note'],
        s.runs.map((r) => [
          r.run,
          r.status,
          String(r.epochs),
          r.status === 'completed' ? pct(r.acc1) : '—',
          r.status === 'completed' ? pct(r.acc5) : '—',
          r.status === 'completed' ? r.loss.toFixed(4) : '—',
          r.images_per_s === null ? '—' : r.images_per_s.toFixed(1),
          duration(r.wall_s),
          cell(r.status === 'failed' ? r.error : r.resumed ? 'resumed from a checkpoint' : ''),
        ]),
      ),
      '',
    );
  }
  if (s.missing.length > 0) out.push(`Not run yet: ${s.missing.join(', ')}.`, '');
  out.push(
    "Every number above is read from the runs' `result.json` files; the same command with `--summarize-only` rebuilds this file from them.",
    '',
  );
  return out.join('\n');
}

/** Computes the summary and writes `results.json` and `results.md` into `outDir`. */
export function summarize(
  outDir: string,
  config: StudyConfig,
  meta: { command?: string; date?: Date } = {},
): StudySummary {
  const summary = computeSummary(outDir, config, {
    command: meta.command ?? `lape study ${config.source}`,
    date: (meta.date ?? new Date()).toISOString(),
  });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(outDir, 'results.md'), renderMarkdown(summary));
  return summary;
}
