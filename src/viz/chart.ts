/**
 * Static SVG line charts of training logs (loss, accuracy, learning rate), embedded in the HTML
 * reports. Generated here rather than in the browser so they need no script and are testable.
 */
import type { LogEntry } from './data.js';
import { escapeXml, estimateTextWidth, formatTick } from './format.js';

export interface ChartSeries {
  label: string;
  /** [x, y] points in x order; NaN y values break the line. */
  points: readonly (readonly [number, number])[];
  color: string;
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  /** Extra lines under the title, e.g. the best values. */
  subtitle?: string | readonly string[];
  xLabel?: string;
  width?: number;
  height?: number;
}

/** Distinguishable, colour-blind-friendly series colours (Okabe-Ito order, black dropped). */
export const SERIES_COLORS = [
  '#0072b2',
  '#d55e00',
  '#009e73',
  '#cc79a7',
  '#e69f00',
  '#56b4e9',
  '#8c6d31',
  '#666666',
];

/** Keys of a log that are bookkeeping, not curves. */
const NON_CURVE_KEYS = new Set(['epoch', 'n_parameters']);

/** "Nice" ticks (1, 2, 5 x 10^k steps) covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / Math.max(1, count - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  const ticks: number[] = [];
  // The 1e-9 slack keeps float noise from adding or dropping an end tick.
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  for (let i = first; i <= last; i++) {
    // Round away float noise (0.30000000000000004) so labels and positions stay clean.
    ticks.push(Number((i * step).toPrecision(12)));
  }
  return ticks;
}

/** An SVG line chart; axes span the nice ticks around the data. */
export function lineChartSvg(series: readonly ChartSeries[], opts: LineChartOptions): string {
  const width = opts.width ?? 460;
  let xs: number[] = [];
  let ys: number[] = [];
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (Number.isFinite(x)) xs.push(x);
      if (Number.isFinite(y)) ys.push(y);
    }
  }
  if (xs.length === 0) xs = [0, 1];
  if (ys.length === 0) ys = [0, 1];
  const xt = niceTicks(Math.min(...xs), Math.max(...xs), 6);
  const yt = niceTicks(Math.min(...ys), Math.max(...ys), 5);
  const [x0, x1] = [xt[0], xt[xt.length - 1]];
  const [y0, y1] = [yt[0], yt[yt.length - 1]];

  // Legend entries flow left to right under the title and wrap; the plot starts below them.
  const legendItems: { x: number; y: number; s: ChartSeries }[] = [];
  const subLines =
    opts.subtitle === undefined ? [] : typeof opts.subtitle === 'string' ? [opts.subtitle] : opts.subtitle;
  let lx = 16;
  let ly = 36 + 15 * subLines.length;
  for (const s of series) {
    const w = 26 + estimateTextWidth(s.label, 11) + 14;
    if (lx + w > width - 8 && lx > 16) {
      lx = 16;
      ly += 16;
    }
    legendItems.push({ x: lx, y: ly, s });
    lx += w;
  }
  // By default the plot area keeps its height however many header lines there are.
  const height = opts.height ?? ly + 14 + 180 + 40;
  const m = { left: 56, right: 16, top: ly + 14, bottom: 40 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const sx = (x: number): number => m.left + (x1 > x0 ? ((x - x0) / (x1 - x0)) * pw : pw / 2);
  const sy = (y: number): number => m.top + ph - (y1 > y0 ? ((y - y0) / (y1 - y0)) * ph : ph / 2);
  const f = (v: number): string => v.toFixed(1);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(opts.title)}">`,
  );
  out.push(`<text x="16" y="18" class="chart-title">${escapeXml(opts.title)}</text>`);
  subLines.forEach((line, i) =>
    out.push(`<text x="16" y="${33 + 15 * i}" class="chart-sub">${escapeXml(line)}</text>`),
  );
  for (const v of yt) {
    const y = f(sy(v));
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" class="grid"/>`);
    out.push(
      `<text x="${m.left - 6}" y="${y}" class="tick" text-anchor="end" dy="0.35em">${formatTick(v)}</text>`,
    );
  }
  for (const v of xt) {
    const x = f(sx(v));
    out.push(`<line x1="${x}" x2="${x}" y1="${m.top + ph}" y2="${m.top + ph + 4}" class="axis"/>`);
    out.push(
      `<text x="${x}" y="${m.top + ph + 16}" class="tick" text-anchor="middle">${formatTick(v)}</text>`,
    );
  }
  out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}" class="axis"/>`);
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" class="axis"/>`);
  if (opts.xLabel) {
    out.push(
      `<text x="${m.left + pw / 2}" y="${height - 6}" class="axis-label" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`,
    );
  }
  for (const s of series) {
    let d = '';
    let pen = false;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${f(sx(x))} ${f(sy(y))}`;
      pen = true;
    }
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash} stroke-linejoin="round"><title>${escapeXml(s.label)}</title></path>`,
    );
    // Dots with exact values as tooltips, only while they do not clutter the line.
    if (s.points.length <= 60) {
      for (const [x, y] of s.points) {
        if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
        out.push(
          `<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="2.5" fill="${s.color}"><title>${escapeXml(s.label)} @ ${formatTick(x)}: ${y}</title></circle>`,
        );
      }
    }
  }
  for (const { x, y, s } of legendItems) {
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<line x1="${x}" x2="${x + 20}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="2.5"${dash}/>`,
    );
    out.push(`<text x="${x + 26}" y="${y}" class="legend">${escapeXml(s.label)}</text>`);
  }
  out.push('</svg>');
  return out.join('');
}

/** A chart of some log keys. */
export interface ChartGroup {
  title: string;
  keys: string[];
  /** Which extreme is "best" for the subtitle. */
  best: 'min' | 'max' | null;
}

/** Group a log's keys into charts: losses together, accuracies together, learning rate, then others. */
export function groupLogKeys(logs: readonly (readonly LogEntry[])[]): ChartGroup[] {
  const keys: string[] = [];
  for (const log of logs) {
    for (const e of log)
      for (const k of Object.keys(e)) if (!NON_CURVE_KEYS.has(k) && !keys.includes(k)) keys.push(k);
  }
  const loss = keys.filter((k) => /loss/i.test(k));
  const acc = keys.filter((k) => !loss.includes(k) && /acc/i.test(k));
  const lr = keys.filter((k) => !loss.includes(k) && !acc.includes(k) && /(^|_)lr$/i.test(k));
  const rest = keys.filter((k) => !loss.includes(k) && !acc.includes(k) && !lr.includes(k));
  const groups: ChartGroup[] = [];
  if (loss.length) groups.push({ title: 'Loss', keys: loss, best: 'min' });
  if (acc.length) groups.push({ title: 'Accuracy (%)', keys: acc, best: 'max' });
  if (lr.length) groups.push({ title: 'Learning rate', keys: lr, best: null });
  for (const k of rest) groups.push({ title: k, keys: [k], best: null });
  return groups;
}

/** A training log with a name to tell runs apart in a comparison. */
export interface NamedLog {
  label: string;
  log: readonly LogEntry[];
}

/**
 * All charts of one or more runs' logs as SVG strings. With several runs, series of the same key
 * share a colour and runs differ by dash style (first run solid).
 */
export function logChartsSvg(runs: readonly NamedLog[]): string[] {
  const groups = groupLogKeys(runs.map((r) => r.log));
  const useEpoch = runs.every((r) => r.log.every((e) => Number.isFinite(e.epoch)));
  return groups.map((g) => {
    const series: ChartSeries[] = [];
    const bests: string[] = [];
    g.keys.forEach((key, ki) => {
      runs.forEach((run, ri) => {
        const points = run.log.map((e, i): [number, number] => [useEpoch ? e.epoch : i, e[key] ?? NaN]);
        if (!points.some(([, y]) => Number.isFinite(y))) return;
        const label = runs.length > 1 ? `${run.label} · ${key}` : key;
        series.push({ label, points, color: SERIES_COLORS[ki % SERIES_COLORS.length], dashed: ri % 2 === 1 });
        if (g.best && ki === 0) {
          // Only the group's first key gets a "best" summary (test_acc1 for accuracy), to stay short.
          let bi = -1;
          for (let i = 0; i < points.length; i++) {
            const y = points[i][1];
            if (!Number.isFinite(y)) continue;
            if (bi < 0 || (g.best === 'max' ? y > points[bi][1] : y < points[bi][1])) bi = i;
          }
          if (bi >= 0) {
            const where = useEpoch ? `epoch ${points[bi][0]}` : `entry ${bi}`;
            bests.push(`${g.best} ${label} ${formatTick(points[bi][1])} (${where})`);
          }
        }
      });
    });
    return lineChartSvg(series, {
      title: g.title,
      subtitle: bests,
      xLabel: useEpoch ? 'epoch' : 'log entry',
    });
  });
}
