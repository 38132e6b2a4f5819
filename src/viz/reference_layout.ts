/**
 * The reference's similarity_visualize.py outputs, for comparing with the paper's figures: one folder
 * per model name (`deit_t_LaPE`), its file names, JPEG, and a fixed 0..1 colour range:
 *
 *   PE_token_sim.jpg                     the raw PE's similarity of the selected token (h x w)
 *   <join>_layer<L>_sim_overall.jpg      layer L's P x P similarity (L unpadded, 0-based)
 *   <join>_layer<L>_sim_<T>thToken.jpg   layer L's similarity of token T (h x w)
 *   <join>_layer<L>_head<H>.jpg          2-D RPE: head H's P x P bias (the reference draws heads 0-2)
 *
 * The token defaults to 90 on a 14x14 grid, as the reference hard-codes it, and to the centre patch on
 * other grids (the reference cannot draw those). Unlike the reference, the LayerNorm eps is the model's
 * and the prefix tokens are dropped for distilled models too (from_model.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveRpeBias, validateReportData, type ReportData } from './data.js';
import { encodeFigure, type FigureFormat } from './figure.js';
import { heatmapFigure, type HeatmapSpec } from './heatmap.js';
import { centerToken } from './from_model.js';
import { patchCell, tokenMap } from './similarity.js';
import { defaultConcurrency, runLimited } from './write.js';

export interface ReferenceLayoutOptions {
  /** Folder name, the reference's --model_name (e.g. deit_t_LaPE). */
  modelName: string;
  /** The join in the file names (the reference's --join-type). */
  join: string;
  token?: number;
  /** Colour range of the similarity maps (default 0..1, as the reference). */
  range?: [number, number];
  /** Default jpg, as the reference. */
  format?: FigureFormat;
  dpi?: number;
  axes?: boolean;
}

/** The reference's token: 90 on its 14x14 grid, else the centre patch. */
export function referenceToken(h: number, w: number): number {
  return h === 14 && w === 14 ? 90 : centerToken(h, w);
}

/** Writes the reference's files into `<dir>/<modelName>/`; returns their paths. */
export async function writeReferenceLayout(
  dir: string,
  data: ReportData,
  opts: ReferenceLayoutOptions,
): Promise<string[]> {
  validateReportData(data);
  const { h, w } = data.grid;
  const p = h * w;
  const token = opts.token ?? referenceToken(h, w);
  if (!Number.isInteger(token) || token < 0 || token >= p)
    throw new RangeError(`token ${token} outside the ${h}x${w} grid`);
  const [vmin, vmax] = opts.range ?? [0, 1];
  const ext = opts.format ?? 'jpg';
  const out = join(dir, opts.modelName);
  await mkdir(out, { recursive: true });
  const marker = patchCell(token, w);
  const patchAxes = opts.axes ? { rows: 'patch (query)', cols: 'patch (key)' } : undefined;
  const gridAxes = opts.axes ? { rows: 'row', cols: 'column' } : undefined;
  const files: { file: string; spec: HeatmapSpec }[] = [];
  const viridis = { kind: 'viridis' } as const;
  if (data.peSimilarity) {
    files.push({
      file: `PE_token_sim.${ext}`,
      spec: {
        values: tokenMap(data.peSimilarity, p, token),
        rows: h,
        cols: w,
        vmin,
        vmax,
        colormap: viridis,
        marker,
        axes: gridAxes,
      },
    });
  }
  for (const l of data.layers) {
    files.push({
      file: `${opts.join}_layer${l.index}_sim_overall.${ext}`,
      spec: { values: l.similarity, rows: p, cols: p, vmin, vmax, colormap: viridis, axes: patchAxes },
    });
    files.push({
      file: `${opts.join}_layer${l.index}_sim_${token}thToken.${ext}`,
      spec: {
        values: tokenMap(l.similarity, p, token),
        rows: h,
        cols: w,
        vmin,
        vmax,
        colormap: viridis,
        marker,
        axes: gridAxes,
      },
    });
  }
  for (const l of data.rpe ?? []) {
    l.heads.forEach((head, hd) => {
      files.push({
        file: `${opts.join}_layer${l.layer}_head${hd}.${ext}`,
        spec: {
          values: resolveRpeBias(head, data.grid),
          rows: p,
          cols: p,
          colormap: { kind: 'diverging' },
          axes: patchAxes,
        },
      });
    });
  }
  const written = files.map((f) => join(out, f.file));
  await runLimited(
    files.map(
      ({ file, spec }) =>
        async () =>
          writeFile(join(out, file), await encodeFigure(heatmapFigure(spec), { format: ext, dpi: opts.dpi })),
    ),
    defaultConcurrency(),
  );
  return written;
}
