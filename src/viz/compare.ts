/**
 * Side-by-side comparison of two runs (e.g. LaPE vs the basic join) on the same patch grid (EXT:
 * png by default, or jpg, svg, pdf):
 *
 *   compare_overall.EXT   row A and row B: every layer's P x P similarity, aligned by layer index
 *   compare_token.EXT     row A and row B: every layer's similarity map of the selected token
 *   compare.html          interactive comparison report (report.ts)
 *
 * Both runs get one colour range per map; pass `similarityRange` (e.g. [-1, 1]) to put all maps of
 * both runs on one scale.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { validateReportData, type ReportData } from './data.js';
import { encodeFigure, type FigureFormat } from './figure.js';
import { gridFigure, type HeatmapSpec } from './heatmap.js';
import { buildComparisonReport, defaultRunLabels, type ComparisonOptions } from './report.js';
import { patchCell, tokenMap } from './similarity.js';
import { defaultConcurrency, runLimited, tokenLabel } from './write.js';

export interface ComparisonWriteOptions extends ComparisonOptions {
  /** Token of compare_token.png and the report's initial selection; defaults to `a.token`. */
  token?: number;
  /** Fixed colour range of all similarity maps; default: each map's min..max. */
  similarityRange?: [number, number];
  /** Image format (default png). */
  format?: FigureFormat;
  /** Raster resolution of png/jpg (default 96). */
  dpi?: number;
  /** Row/column axes with patch indices. */
  axes?: boolean;
}

/**
 * The two rows of a comparison figure: union of both runs' layer indices in ascending order as the
 * columns; a run without some layer leaves that slot empty.
 */
export function comparisonRows(
  a: ReportData,
  b: ReportData,
  labels: [string, string],
  panel: (data: ReportData, layer: ReportData['layers'][number], label: string) => HeatmapSpec,
): { columns: number; panels: (HeatmapSpec | null)[] } {
  const indices = [...new Set([...a.layers, ...b.layers].map((l) => l.index))].sort((x, y) => x - y);
  const row = (d: ReportData, label: string): (HeatmapSpec | null)[] =>
    indices.map((i) => {
      const layer = d.layers.find((l) => l.index === i);
      return layer ? panel(d, layer, label) : null;
    });
  return { columns: Math.max(1, indices.length), panels: [...row(a, labels[0]), ...row(b, labels[1])] };
}

/** Write compare_overall.png, compare_token.png and compare.html into `dir`; returns their paths. */
export async function writeComparison(
  dir: string,
  a: ReportData,
  b: ReportData,
  opts: ComparisonWriteOptions = {},
): Promise<string[]> {
  validateReportData(a);
  validateReportData(b);
  if (a.grid.h !== b.grid.h || a.grid.w !== b.grid.w) {
    throw new RangeError(
      `cannot compare runs on different grids: ${a.grid.h}x${a.grid.w} vs ${b.grid.h}x${b.grid.w}`,
    );
  }
  const { h, w } = a.grid;
  const p = h * w;
  const token = opts.token ?? a.token;
  if (!Number.isInteger(token) || token < 0 || token >= p)
    throw new RangeError(`token ${token} outside the ${h}x${w} grid`);
  const labels = opts.labels ?? defaultRunLabels(a, b);
  const [vmin, vmax] = opts.similarityRange ?? [undefined, undefined];
  const ext = opts.format ?? 'png';
  const figure = { format: ext, dpi: opts.dpi } as const;
  await mkdir(dir, { recursive: true });

  const written: string[] = [];
  const jobs: (() => Promise<void>)[] = [];
  const emit = (file: string, make: () => Promise<Buffer> | Buffer): void => {
    const path = join(dir, file);
    written.push(path);
    jobs.push(async () => writeFile(path, await make()));
  };

  if (a.layers.length || b.layers.length) {
    const overall = comparisonRows(a, b, labels, (_d, l, label) => ({
      values: l.similarity,
      rows: p,
      cols: p,
      title: `${label} · layer ${l.index}`,
      vmin,
      vmax,
      colormap: { kind: 'viridis' },
      axes: opts.axes ? { rows: 'patch (query)', cols: 'patch (key)' } : undefined,
    }));
    emit(`compare_overall.${ext}`, () =>
      encodeFigure(
        gridFigure(
          overall.panels,
          overall.columns,
          `PE similarity between all patches · top: ${labels[0]}, bottom: ${labels[1]}`,
        ),
        figure,
      ),
    );
    const marker = patchCell(token, w);
    const tokens = comparisonRows(a, b, labels, (_d, l, label) => ({
      values: tokenMap(l.similarity, p, token),
      rows: h,
      cols: w,
      title: `${label} · layer ${l.index}`,
      vmin,
      vmax,
      colormap: { kind: 'viridis' },
      marker,
      axes: opts.axes ? { rows: 'row', cols: 'column' } : undefined,
    }));
    emit(`compare_token.${ext}`, () =>
      encodeFigure(
        gridFigure(
          tokens.panels,
          tokens.columns,
          `PE similarity of ${tokenLabel(token, w)} · top: ${labels[0]}, bottom: ${labels[1]}`,
        ),
        figure,
      ),
    );
  }
  emit('compare.html', () =>
    Buffer.from(
      buildComparisonReport({ ...a, token }, { ...b, token }, { labels, title: opts.title }),
      'utf8',
    ),
  );
  await runLimited(jobs, defaultConcurrency());
  return written;
}
