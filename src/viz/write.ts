/**
 * Write a run's whole visualisation to a directory under predictable names (EXT: png by default, or
 * jpg, svg, pdf):
 *
 *   layerLL_overall.EXT           P x P similarity of layer LL (LL = layer index, 0-based, 2+ digits)
 *   layerLL_token.EXT             the selected token's similarity map (h x w), token outlined
 *   layerLL_headH_rpe.EXT         RPE bias table of head H (0-based), (2h-1) x (2w-1)
 *   layerLL_headH_rpe_token.EXT   the selected token's RPE bias map (h x w)
 *   overview.EXT                  all layers' overall maps, then a row of their token maps
 *   rpe_overview.EXT              RPE token bias maps, one row per layer, one column per head
 *   similarity.npy                float32 [layers, P, P], layers in `data.layers` order
 *   report.html                   the interactive report (report.ts)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { resolveRpeBias, validateReportData, type ReportData } from './data.js';
import { pad2 } from './format.js';
import { encodeFigure, type FigureFormat } from './figure.js';
import { gridFigure, heatmapFigure, type HeatmapSpec } from './heatmap.js';
import { buildReport } from './report.js';
import { patchCell, tokenMap } from './similarity.js';

export interface WriteOptions {
  /** Token of the *_token maps; defaults to `data.token`. */
  token?: number;
  /** Fixed colour range of the similarity maps (e.g. [-1, 1]); default: each map's min..max. */
  similarityRange?: [number, number];
  /** Image format of the figures (default png). */
  format?: FigureFormat;
  /** Raster resolution of png/jpg figures (default 96: one figure pixel per image pixel). */
  dpi?: number;
  /** Row/column axes with patch indices on every map. */
  axes?: boolean;
  /** Columns of overview.png; default min(layers, 6). */
  overviewColumns?: number;
  /** Which outputs to write (all by default). */
  png?: boolean;
  npy?: boolean;
  html?: boolean;
  /** Images rendered at once (default: the number of CPUs, at most 8). */
  concurrency?: number;
}

/** Layer part of the file names: "layer03". */
export function layerName(index: number): string {
  return `layer${pad2(index)}`;
}

/** Token description for titles: "token 12 (2, 2)". */
export function tokenLabel(token: number, w: number): string {
  const { row, col } = patchCell(token, w);
  return `token ${token} (${row}, ${col})`;
}

/**
 * The .npy (format 1.0) encoding of a little-endian float32 array. Kept private to the viz module
 * on purpose: it only needs this one dtype.
 */
export function encodeNpyF32(shape: readonly number[], data: Float32Array): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new RangeError(`shape [${shape.join(', ')}] does not hold ${data.length} values`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad with spaces so that magic (6) + version (2) + length (2) + header, ending in '\n', is a
  // multiple of 64 bytes, as numpy writes it (aligned data for memory mapping).
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = Buffer.alloc(total + data.length * 4);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], total + 4 * i);
  return out;
}

/** Run async jobs with at most `limit` in flight; rejects on the first failure. */
export async function runLimited(jobs: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++];
      await job();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, jobs.length)) }, worker));
}

export function defaultConcurrency(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

/** The heat maps of one run, keyed by file name (without directory). */
export function visualizationPanels(
  data: ReportData,
  opts: Pick<WriteOptions, 'token' | 'similarityRange' | 'axes' | 'format'> = {},
): { file: string; spec: HeatmapSpec }[] {
  const ext = opts.format ?? 'png';
  const axes = opts.axes ? { rows: 'patch (query)', cols: 'patch (key)' } : undefined;
  const gridAxes = opts.axes ? { rows: 'row', cols: 'column' } : undefined;
  const { h, w } = data.grid;
  const p = h * w;
  const token = opts.token ?? data.token;
  const marker = patchCell(token, w);
  const [vmin, vmax] = opts.similarityRange ?? [undefined, undefined];
  const out: { file: string; spec: HeatmapSpec }[] = [];
  for (const l of data.layers) {
    const name = layerName(l.index);
    out.push({
      file: `${name}_overall.${ext}`,
      spec: {
        values: l.similarity,
        rows: p,
        cols: p,
        title: `layer ${l.index} · overall`,
        vmin,
        vmax,
        colormap: { kind: 'viridis' },
        axes,
      },
    });
    out.push({
      file: `${name}_token.${ext}`,
      spec: {
        values: tokenMap(l.similarity, p, token),
        rows: h,
        cols: w,
        title: `layer ${l.index} · ${tokenLabel(token, w)}`,
        vmin,
        vmax,
        colormap: { kind: 'viridis' },
        marker,
        axes: gridAxes,
      },
    });
  }
  for (const l of data.rpe ?? []) {
    const name = layerName(l.layer);
    l.heads.forEach((head, hd) => {
      out.push({
        file: `${name}_head${hd}_rpe.${ext}`,
        spec: {
          values: head.table,
          rows: 2 * h - 1,
          cols: 2 * w - 1,
          title: `layer ${l.layer} · head ${hd} · RPE table (□ = offset 0)`,
          colormap: { kind: 'diverging' },
          // The centre cell is zero offset (a patch attending to itself); mark it as the origin.
          marker: { row: h - 1, col: w - 1 },
          axes: opts.axes ? { rows: 'row offset + h - 1', cols: 'column offset + w - 1' } : undefined,
        },
      });
      out.push({
        file: `${name}_head${hd}_rpe_token.${ext}`,
        spec: {
          values: tokenMap(resolveRpeBias(head, data.grid), p, token),
          rows: h,
          cols: w,
          title: `layer ${l.layer} · head ${hd} · RPE bias, ${tokenLabel(token, w)}`,
          colormap: { kind: 'diverging' },
          marker,
          axes: gridAxes,
        },
      });
    });
  }
  return out;
}

/**
 * Write every PNG, similarity.npy and report.html of a run into `dir` (created if missing) and
 * return the written paths. Throws on inconsistent data before writing anything.
 */
export async function writeVisualization(
  dir: string,
  data: ReportData,
  opts: WriteOptions = {},
): Promise<string[]> {
  validateReportData(data);
  const { h, w } = data.grid;
  const p = h * w;
  const token = opts.token ?? data.token;
  if (!Number.isInteger(token) || token < 0 || token >= p)
    throw new RangeError(`token ${token} outside the ${h}x${w} grid`);
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const jobs: (() => Promise<void>)[] = [];
  const emit = (file: string, make: () => Promise<Buffer> | Buffer): void => {
    const path = join(dir, file);
    written.push(path);
    jobs.push(async () => writeFile(path, await make()));
  };

  if (opts.png ?? true) {
    const ext = opts.format ?? 'png';
    const figure = { format: ext, dpi: opts.dpi } as const;
    const panels = visualizationPanels(data, {
      token,
      similarityRange: opts.similarityRange,
      axes: opts.axes,
      format: ext,
    });
    for (const { file, spec } of panels) emit(file, () => encodeFigure(heatmapFigure(spec), figure));
    if (data.layers.length) {
      const cols = opts.overviewColumns ?? Math.min(data.layers.length, 6);
      const overall = panels.filter((x) => x.file.endsWith(`_overall.${ext}`)).map((x) => x.spec);
      const tokens = panels.filter((x) => /^layer\d+_token\./.test(x.file)).map((x) => x.spec);
      // Blank slots so the token maps start on a fresh row under the overall maps.
      const fill = (n: number): null[] => Array.from({ length: (cols - (n % cols)) % cols }, () => null);
      const grid = [...overall, ...fill(overall.length), ...tokens];
      // The file name alone ("checkpoint.pth") does not say which model is drawn.
      const title = `${data.title} (${data.model}, pe ${data.pe}, join ${data.join}) · PE similarity per layer (top: all patches; bottom: ${tokenLabel(token, w)})`;
      emit(`overview.${ext}`, () => encodeFigure(gridFigure(grid, cols, title), figure));
    }
    const rpe = data.rpe ?? [];
    if (rpe.length) {
      const heads = Math.max(...rpe.map((l) => l.heads.length));
      const grid: (HeatmapSpec | null)[] = [];
      for (const l of rpe) {
        for (let hd = 0; hd < heads; hd++) {
          const spec = panels.find(
            (x) => x.file === `${layerName(l.layer)}_head${hd}_rpe_token.${ext}`,
          )?.spec;
          grid.push(spec ? { ...spec, title: `layer ${l.layer} · head ${hd}` } : null);
        }
      }
      const title = `${data.title} · RPE bias of ${tokenLabel(token, w)} (rows: layers, columns: heads)`;
      emit(`rpe_overview.${ext}`, () =>
        encodeFigure(gridFigure(grid, heads, title, { targetSize: 112 }), figure),
      );
    }
  }
  if ((opts.npy ?? true) && data.layers.length) {
    emit('similarity.npy', () => {
      const all = new Float32Array(data.layers.length * p * p);
      data.layers.forEach((l, i) => all.set(l.similarity, i * p * p));
      return encodeNpyF32([data.layers.length, p, p], all);
    });
  }
  if (opts.html ?? true) emit('report.html', () => Buffer.from(buildReport({ ...data, token }), 'utf8'));

  await runLimited(jobs, opts.concurrency ?? defaultConcurrency());
  return written;
}
