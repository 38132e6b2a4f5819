/**
 * Heat maps: a matrix drawn with nearest-neighbour cells, a colour bar with min/mid/max tick labels,
 * a title, optionally a marked cell and row/column axes; plus grids of such panels for overview
 * figures.
 *
 * A figure is first a list of shapes (filled rectangles and text, `heatmapShapes`), which the vector
 * writers (figure.ts: SVG, PDF) emit as they are. The PNG path writes the rectangles straight into an
 * RGB buffer, so every cell has exactly its colour-map colour; only text goes through an SVG overlay
 * that sharp (librsvg) rasterises, once per figure.
 */
import sharp from 'sharp';
import {
  colormapLut,
  INVALID_RGB,
  lutIndex,
  LUT_SIZE,
  resolveRange,
  type ColormapSpec,
  type RGB,
} from './colormap.js';
import { escapeXml, estimateTextWidth, FONT_FAMILY, formatTick } from './format.js';

export interface HeatmapSpec {
  /** rows * cols values, row-major. */
  values: ArrayLike<number>;
  rows: number;
  cols: number;
  title?: string;
  /** Colour range; defaults: min..max for viridis, symmetric +-max|v| for the diverging map. */
  vmin?: number;
  vmax?: number;
  colormap: ColormapSpec;
  /** A cell to outline, e.g. the selected token on its own similarity map. */
  marker?: { row: number; col: number };
  /** Pixels per cell; by default chosen so the longer side of the map is about `targetSize`. */
  cellSize?: number;
  /** Approximate map size in pixels when cellSize is not given (default 384). */
  targetSize?: number;
  /** Row and column axes: tick labels (patch indices) and the axis titles. */
  axes?: { rows: string; cols: string };
}

/** A figure's drawing, in pixels from its top-left corner. */
export type Shape =
  | { kind: 'rect'; x: number; y: number; w: number; h: number; fill: RGB }
  | {
      kind: 'text';
      x: number;
      y: number;
      size: number;
      bold?: boolean;
      /** Text anchor (default start). */
      anchor?: 'start' | 'middle' | 'end';
      /** Rotated 90 degrees counter-clockwise about (x, y) (a vertical axis title). */
      vertical?: boolean;
      text: string;
    };

export interface Figure {
  width: number;
  height: number;
  shapes: Shape[];
}

/** Where everything of a heat-map figure lies, in pixels from the figure's top-left corner. */
export interface HeatmapLayout {
  width: number;
  height: number;
  cell: number;
  mapX: number;
  mapY: number;
  mapWidth: number;
  mapHeight: number;
  barX: number;
  barY: number;
  barWidth: number;
  barHeight: number;
  labelX: number;
  titleBaseline: number;
  vmin: number;
  vmax: number;
  ticks: { value: number; y: number; label: string }[];
  /** Axis ticks (with `spec.axes`): row index at y, column index at x, and the axis-title anchors. */
  rowTicks: { y: number; label: string }[];
  colTicks: { x: number; label: string }[];
  axisTitles: { rows: { x: number; y: number }; cols: { x: number; y: number } } | null;
}

export interface GridOptions {
  /** Map size of each panel when the panel does not set cellSize/targetSize (default 192). */
  targetSize?: number;
  /** Space between panels in pixels (default 8). */
  gap?: number;
}

const PAD = 12;
const TITLE_SIZE = 14;
const TITLE_HEIGHT = 24;
const TICK_SIZE = 11;
const BAR_GAP = 12;
const BAR_WIDTH = 14;
const TICK_LEN = 4;
const GRID_TITLE_SIZE = 18;
const GRID_TITLE_HEIGHT = 34;
const TEXT_COLOR = '#222';
const FRAME_RGB: RGB = [110, 110, 110];
const WHITE: RGB = [255, 255, 255];
const BLACK: RGB = [0, 0, 0];
const DEFAULT_TARGET = 384;
const DEFAULT_GRID_TARGET = 192;
const AXIS_TITLE_SIZE = 12;

/** Tick positions on an axis of n cells: every cell up to 16, else a round step (2, 4, 5, 10, 20, ...). */
export function axisTicks(n: number): number[] {
  let step = 1;
  if (n > 16) {
    const raw = n / 8;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    step = [1, 2, 4, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
    step = Math.max(1, Math.round(step));
  }
  const out: number[] = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}

/** A white RGB raster being drawn on. */
interface Raster {
  width: number;
  height: number;
  data: Buffer;
}

function newRaster(width: number, height: number): Raster {
  return { width, height, data: Buffer.alloc(width * height * 3, 255) };
}

function fillRect(r: Raster, x: number, y: number, w: number, h: number, c: RGB): void {
  const x0 = Math.max(0, x);
  const y0 = Math.max(0, y);
  const x1 = Math.min(r.width, x + w);
  const y1 = Math.min(r.height, y + h);
  for (let yy = y0; yy < y1; yy++) {
    let o = (yy * r.width + x0) * 3;
    for (let xx = x0; xx < x1; xx++, o += 3) {
      r.data[o] = c[0];
      r.data[o + 1] = c[1];
      r.data[o + 2] = c[2];
    }
  }
}

function validateSpec(spec: HeatmapSpec): void {
  const { rows, cols } = spec;
  if (!Number.isInteger(rows) || rows <= 0 || !Number.isInteger(cols) || cols <= 0) {
    throw new RangeError(`invalid heat map size ${rows}x${cols}`);
  }
  if (spec.values.length !== rows * cols) {
    throw new RangeError(`heat map has ${spec.values.length} values, expected ${rows}x${cols}`);
  }
  if (spec.cellSize !== undefined && (!Number.isInteger(spec.cellSize) || spec.cellSize <= 0)) {
    throw new RangeError(`invalid cellSize ${spec.cellSize}`);
  }
  const m = spec.marker;
  if (
    m &&
    (!Number.isInteger(m.row) ||
      !Number.isInteger(m.col) ||
      m.row < 0 ||
      m.row >= rows ||
      m.col < 0 ||
      m.col >= cols)
  ) {
    throw new RangeError(`marker (${m.row}, ${m.col}) outside the ${rows}x${cols} map`);
  }
}

/** Compute the layout of a heat-map figure (exported so tests and callers can locate cells). */
export function layoutHeatmap(spec: HeatmapSpec, defaultTarget = DEFAULT_TARGET): HeatmapLayout {
  validateSpec(spec);
  const target = spec.targetSize ?? defaultTarget;
  const cell = spec.cellSize ?? Math.max(1, Math.round(target / Math.max(spec.rows, spec.cols)));
  const mapWidth = spec.cols * cell;
  const mapHeight = spec.rows * cell;
  const [vmin, vmax] = resolveRange(spec.values, spec.colormap, spec.vmin, spec.vmax);
  const rowTickIdx = spec.axes ? axisTicks(spec.rows) : [];
  const colTickIdx = spec.axes ? axisTicks(spec.cols) : [];
  const rowLabelW = spec.axes
    ? Math.max(...rowTickIdx.map((i) => estimateTextWidth(String(i), TICK_SIZE)))
    : 0;
  const mapX = PAD + (spec.axes ? AXIS_TITLE_SIZE + 6 + rowLabelW + TICK_LEN + 3 : 0);
  const mapY = PAD + (spec.title ? TITLE_HEIGHT : 0);
  const barX = mapX + mapWidth + BAR_GAP;
  const barY = mapY;
  const barHeight = mapHeight;
  const labelX = barX + BAR_WIDTH + TICK_LEN + 3;
  const mid = (vmin + vmax) / 2;
  // Three ticks (max on top); too short a bar would make the labels collide, so keep only the ends,
  // and a constant map (degenerate range) gets a single label.
  const tickValues = !(vmax > vmin)
    ? [vmax]
    : barHeight >= 3 * TICK_SIZE + 6
      ? [vmax, mid, vmin]
      : [vmax, vmin];
  const ticks = tickValues.map((value) => ({
    value,
    // y of the bar row that shows this value: top row = vmax, bottom row = vmin.
    y:
      vmax > vmin
        ? barY + Math.round(((vmax - value) / (vmax - vmin)) * (barHeight - 1))
        : barY + (barHeight >> 1),
    label: formatTick(value),
  }));
  const labelWidth = Math.max(...ticks.map((t) => estimateTextWidth(t.label, TICK_SIZE)));
  const width = Math.max(
    labelX + labelWidth + PAD,
    spec.title ? 2 * PAD + estimateTextWidth(spec.title, TITLE_SIZE, true) : 0,
  );
  const axisBottom = spec.axes ? TICK_LEN + TICK_SIZE + 6 + AXIS_TITLE_SIZE + 4 : 0;
  const height = mapY + mapHeight + axisBottom + PAD;
  return {
    width,
    height,
    cell,
    mapX,
    mapY,
    mapWidth,
    mapHeight,
    barX,
    barY,
    barWidth: BAR_WIDTH,
    barHeight,
    labelX,
    titleBaseline: PAD + TITLE_SIZE,
    vmin,
    vmax,
    ticks,
    rowTicks: rowTickIdx.map((i) => ({ y: mapY + i * cell + cell / 2, label: String(i) })),
    colTicks: colTickIdx.map((i) => ({ x: mapX + i * cell + cell / 2, label: String(i) })),
    axisTitles: spec.axes
      ? {
          rows: { x: PAD + AXIS_TITLE_SIZE, y: mapY + mapHeight / 2 },
          cols: { x: mapX + mapWidth / 2, y: mapY + mapHeight + axisBottom - 4 },
        }
      : null,
  };
}

/** The shapes of one heat-map panel whose layout is `L`, placed at (ox, oy). */
export function heatmapShapes(spec: HeatmapSpec, L: HeatmapLayout, ox: number, oy: number): Shape[] {
  const out: Shape[] = [];
  const rect = (x: number, y: number, w: number, h: number, fill: RGB): void => {
    out.push({ kind: 'rect', x, y, w, h, fill });
  };
  const stroke = (x: number, y: number, w: number, h: number, c: RGB): void => {
    rect(x, y, w, 1, c);
    rect(x, y + h - 1, w, 1, c);
    rect(x, y, 1, h, c);
    rect(x + w - 1, y, 1, h, c);
  };
  const lut = colormapLut(spec.colormap);
  const { rows, cols, values } = spec;
  const { cell } = L;
  const mx = ox + L.mapX;
  const my = oy + L.mapY;
  for (let i = 0; i < rows; i++) {
    // Runs of equal colour as one rectangle (the same pixels, fewer vector elements).
    let start = 0;
    let run: RGB | null = null;
    for (let j = 0; j <= cols; j++) {
      let c: RGB | null = null;
      if (j < cols) {
        const k = lutIndex(values[i * cols + j], L.vmin, L.vmax);
        c = k < 0 ? INVALID_RGB : [lut[3 * k], lut[3 * k + 1], lut[3 * k + 2]];
      }
      if (run && (!c || c[0] !== run[0] || c[1] !== run[1] || c[2] !== run[2])) {
        rect(mx + start * cell, my + i * cell, (j - start) * cell, cell, run);
        run = null;
      }
      if (c && !run) {
        run = c;
        start = j;
      }
    }
  }
  if (spec.marker) {
    // Black outer + white inner ring just outside the cell: visible on any colour of either map.
    const x = mx + spec.marker.col * cell;
    const y = my + spec.marker.row * cell;
    stroke(x - 2, y - 2, cell + 4, cell + 4, BLACK);
    stroke(x - 1, y - 1, cell + 2, cell + 2, WHITE);
  }
  // Colour bar: one LUT entry per row band, vmax at the top.
  const bx = ox + L.barX;
  const by = oy + L.barY;
  let bandStart = 0;
  let bandK = -1;
  for (let y = 0; y <= L.barHeight; y++) {
    const k =
      y < L.barHeight ? Math.round((L.barHeight > 1 ? 1 - y / (L.barHeight - 1) : 0.5) * (LUT_SIZE - 1)) : -2;
    if (k !== bandK) {
      if (bandK >= 0)
        rect(bx, by + bandStart, L.barWidth, y - bandStart, [
          lut[3 * bandK],
          lut[3 * bandK + 1],
          lut[3 * bandK + 2],
        ]);
      bandK = k;
      bandStart = y;
    }
  }
  stroke(bx - 1, by - 1, L.barWidth + 2, L.barHeight + 2, FRAME_RGB);
  for (const t of L.ticks) {
    rect(bx + L.barWidth + 1, oy + t.y, TICK_LEN, 1, FRAME_RGB);
    // Baseline offset ~0.35em centres the digits on the tick without relying on dominant-baseline.
    const ty = Math.min(oy + L.height - 2, Math.max(oy + TICK_SIZE, oy + t.y + Math.round(TICK_SIZE * 0.36)));
    out.push({ kind: 'text', x: ox + L.labelX, y: ty, size: TICK_SIZE, text: t.label });
  }
  if (L.axisTitles && spec.axes) {
    for (const t of L.rowTicks) {
      const y = oy + Math.round(t.y);
      rect(mx - TICK_LEN - 1, y, TICK_LEN, 1, FRAME_RGB);
      out.push({
        kind: 'text',
        x: mx - TICK_LEN - 3,
        y: y + Math.round(TICK_SIZE * 0.36),
        size: TICK_SIZE,
        anchor: 'end',
        text: t.label,
      });
    }
    const below = my + L.mapHeight;
    for (const t of L.colTicks) {
      const x = ox + Math.round(t.x);
      rect(x, below + 1, 1, TICK_LEN, FRAME_RGB);
      out.push({
        kind: 'text',
        x,
        y: below + TICK_LEN + TICK_SIZE + 2,
        size: TICK_SIZE,
        anchor: 'middle',
        text: t.label,
      });
    }
    const at = L.axisTitles;
    out.push({
      kind: 'text',
      x: ox + at.rows.x,
      y: oy + at.rows.y,
      size: AXIS_TITLE_SIZE,
      anchor: 'middle',
      vertical: true,
      text: spec.axes.rows,
    });
    out.push({
      kind: 'text',
      x: ox + at.cols.x,
      y: oy + at.cols.y,
      size: AXIS_TITLE_SIZE,
      anchor: 'middle',
      text: spec.axes.cols,
    });
  }
  if (spec.title) {
    out.push({
      kind: 'text',
      x: ox + PAD,
      y: oy + L.titleBaseline,
      size: TITLE_SIZE,
      bold: true,
      text: spec.title,
    });
  }
  return out;
}

/** The SVG element of a text shape (shared by the raster overlay and the SVG writer). */
export function svgText(t: Extract<Shape, { kind: 'text' }>): string {
  const anchor = t.anchor && t.anchor !== 'start' ? ` text-anchor="${t.anchor}"` : '';
  const weight = t.bold ? ' font-weight="bold"' : '';
  const rotate = t.vertical ? ` transform="rotate(-90 ${t.x} ${t.y})"` : '';
  return `<text x="${t.x}" y="${t.y}" font-size="${t.size}"${weight}${anchor}${rotate}>${escapeXml(t.text)}</text>`;
}

/** Draws the rectangles into `r`; returns the SVG elements of the text. */
function drawShapes(r: Raster, shapes: readonly Shape[]): string {
  const parts: string[] = [];
  for (const s of shapes) {
    if (s.kind === 'rect') fillRect(r, s.x, s.y, s.w, s.h, s.fill);
    else parts.push(svgText(s));
  }
  return parts.join('');
}

function svgOverlay(width: number, height: number, body: string): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<g font-family="${FONT_FAMILY}" fill="${TEXT_COLOR}">${body}</g></svg>`,
  );
}

/**
 * Rasterise the text overlay with librsvg and alpha-blend it into the raster in JS. Blending here
 * instead of with sharp's composite() is several times faster (composite converts the whole image
 * through a premultiplied float pipeline) and leaves every non-text pixel byte-exact.
 */
async function drawSvgText(r: Raster, svgBody: string): Promise<void> {
  const { data, info } = await sharp(svgOverlay(r.width, r.height, svgBody))
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== r.width || info.height !== r.height || info.channels !== 4) {
    throw new Error(`unexpected text overlay ${info.width}x${info.height}x${info.channels}`);
  }
  // sharp returns straight (unpremultiplied) alpha: out = src * a + dst * (1 - a).
  for (let i = 0, o = 0; i < data.length; i += 4, o += 3) {
    const a = data[i + 3];
    if (a === 0) continue;
    const b = 255 - a;
    r.data[o] = Math.round((data[i] * a + r.data[o] * b) / 255);
    r.data[o + 1] = Math.round((data[i + 1] * a + r.data[o + 1] * b) / 255);
    r.data[o + 2] = Math.round((data[i + 2] * a + r.data[o + 2] * b) / 255);
  }
}

/** The figure's pixels, RGB (text rasterised by librsvg and blended in). */
export async function encodeFigureRaster(fig: Figure): Promise<Buffer> {
  const r = newRaster(fig.width, fig.height);
  const svg = drawShapes(r, fig.shapes);
  if (svg) await drawSvgText(r, svg);
  return r.data;
}

async function encodePng(r: Raster, svgBody: string): Promise<Buffer> {
  if (svgBody) await drawSvgText(r, svgBody);
  // Compression level 6 keeps encoding fast; these mostly flat images compress well anyway.
  return sharp(r.data, { raw: { width: r.width, height: r.height, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

/** Render one heat map (map, colour bar with min/mid/max ticks, title, marker) as a PNG. */
export async function renderHeatmap(spec: HeatmapSpec): Promise<Buffer> {
  const fig = heatmapFigure(spec);
  const r = newRaster(fig.width, fig.height);
  return encodePng(r, drawShapes(r, fig.shapes));
}

/** The shapes of one heat-map figure. */
export function heatmapFigure(spec: HeatmapSpec): Figure {
  const L = layoutHeatmap(spec);
  return { width: L.width, height: L.height, shapes: heatmapShapes(spec, L, 0, 0) };
}

/** Where each panel of a grid figure lies; null entries are empty slots. */
export interface GridLayout {
  width: number;
  height: number;
  panels: ({ x: number; y: number; layout: HeatmapLayout } | null)[];
}

/**
 * Layout of a grid figure: panels fill rows of `columns` slots, each slot as large as the largest
 * panel, below a figure title.
 */
export function layoutGrid(
  panels: readonly (HeatmapSpec | null)[],
  columns: number,
  title: string,
  opts: GridOptions = {},
): GridLayout {
  if (!Number.isInteger(columns) || columns <= 0) throw new RangeError(`invalid column count ${columns}`);
  const target = opts.targetSize ?? DEFAULT_GRID_TARGET;
  const gap = opts.gap ?? 8;
  const layouts = panels.map((p) => (p ? layoutHeatmap(p, target) : null));
  const slotW = Math.max(1, ...layouts.map((l) => l?.width ?? 0));
  const slotH = Math.max(1, ...layouts.map((l) => l?.height ?? 0));
  const rows = Math.max(1, Math.ceil(panels.length / columns));
  const top = title ? GRID_TITLE_HEIGHT : 0;
  const usedCols = Math.min(columns, Math.max(1, panels.length));
  const width = Math.max(
    usedCols * slotW + (usedCols - 1) * gap + 2 * PAD,
    title ? 2 * PAD + estimateTextWidth(title, GRID_TITLE_SIZE, true) : 0,
  );
  const height = top + rows * slotH + (rows - 1) * gap + 2 * PAD;
  return {
    width,
    height,
    panels: layouts.map((layout, i) =>
      layout
        ? {
            x: PAD + (i % columns) * (slotW + gap),
            y: top + PAD + Math.floor(i / columns) * (slotH + gap),
            layout,
          }
        : null,
    ),
  };
}

/**
 * Render several heat maps side by side (e.g. every layer's map) as one PNG. `panels` fill rows of
 * `columns`; a null panel leaves its slot empty (use it to start the next kind of map on a new row).
 */
export async function renderGrid(
  panels: readonly (HeatmapSpec | null)[],
  columns: number,
  title: string,
  opts: GridOptions = {},
): Promise<Buffer> {
  const fig = gridFigure(panels, columns, title, opts);
  const r = newRaster(fig.width, fig.height);
  return encodePng(r, drawShapes(r, fig.shapes));
}

/** The shapes of a grid figure (see renderGrid). */
export function gridFigure(
  panels: readonly (HeatmapSpec | null)[],
  columns: number,
  title: string,
  opts: GridOptions = {},
): Figure {
  const G = layoutGrid(panels, columns, title, opts);
  const shapes: Shape[] = [];
  if (title)
    shapes.push({
      kind: 'text',
      x: PAD,
      y: PAD + GRID_TITLE_SIZE,
      size: GRID_TITLE_SIZE,
      bold: true,
      text: title,
    });
  G.panels.forEach((slot, i) => {
    const spec = panels[i];
    if (slot && spec) shapes.push(...heatmapShapes(spec, slot.layout, slot.x, slot.y));
  });
  return { width: G.width, height: G.height, shapes };
}
