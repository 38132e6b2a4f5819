/**
 * PNG heat maps: a matrix drawn with nearest-neighbour cells, a colour bar with min/mid/max tick
 * labels, a title, and optionally a marked cell; plus grids of such panels for overview figures.
 *
 * Pixels (cells, colour bar, marker, tick marks) are written straight into an RGB buffer, so every
 * cell has exactly its colour-map colour; only text goes through an SVG overlay that sharp
 * (librsvg) rasterises, once per figure.
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

/** A 1-px rectangle outline whose outer edge is the given box. */
function strokeRect(r: Raster, x: number, y: number, w: number, h: number, c: RGB): void {
  fillRect(r, x, y, w, 1, c);
  fillRect(r, x, y + h - 1, w, 1, c);
  fillRect(r, x, y, 1, h, c);
  fillRect(r, x + w - 1, y, 1, h, c);
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
  const mapX = PAD;
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
  const height = mapY + mapHeight + PAD;
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
  };
}

/**
 * Draw one heat-map panel into `r` at offset (ox, oy) and return the SVG elements of its text.
 */
function paintHeatmap(r: Raster, spec: HeatmapSpec, L: HeatmapLayout, ox: number, oy: number): string {
  const lut = colormapLut(spec.colormap);
  const { rows, cols, values } = spec;
  const { cell } = L;
  const mx = ox + L.mapX;
  const my = oy + L.mapY;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const k = lutIndex(values[i * cols + j], L.vmin, L.vmax);
      const c: RGB = k < 0 ? INVALID_RGB : [lut[3 * k], lut[3 * k + 1], lut[3 * k + 2]];
      fillRect(r, mx + j * cell, my + i * cell, cell, cell, c);
    }
  }
  if (spec.marker) {
    // Black outer + white inner ring just outside the cell: visible on any colour of either map.
    const x = mx + spec.marker.col * cell;
    const y = my + spec.marker.row * cell;
    strokeRect(r, x - 2, y - 2, cell + 4, cell + 4, BLACK);
    strokeRect(r, x - 1, y - 1, cell + 2, cell + 2, WHITE);
  }
  // Colour bar: one LUT entry per row band, vmax at the top.
  const bx = ox + L.barX;
  const by = oy + L.barY;
  for (let y = 0; y < L.barHeight; y++) {
    const t = L.barHeight > 1 ? 1 - y / (L.barHeight - 1) : 0.5;
    const k = Math.round(t * (LUT_SIZE - 1));
    fillRect(r, bx, by + y, L.barWidth, 1, [lut[3 * k], lut[3 * k + 1], lut[3 * k + 2]]);
  }
  strokeRect(r, bx - 1, by - 1, L.barWidth + 2, L.barHeight + 2, FRAME_RGB);
  const parts: string[] = [];
  for (const t of L.ticks) {
    fillRect(r, bx + L.barWidth + 1, oy + t.y, TICK_LEN, 1, FRAME_RGB);
    // Baseline offset ~0.35em centres the digits on the tick without relying on dominant-baseline.
    const ty = Math.min(oy + L.height - 2, Math.max(oy + TICK_SIZE, oy + t.y + Math.round(TICK_SIZE * 0.36)));
    parts.push(`<text x="${ox + L.labelX}" y="${ty}" font-size="${TICK_SIZE}">${escapeXml(t.label)}</text>`);
  }
  if (spec.title) {
    parts.push(
      `<text x="${ox + PAD}" y="${oy + L.titleBaseline}" font-size="${TITLE_SIZE}" font-weight="bold">${escapeXml(spec.title)}</text>`,
    );
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

async function encodePng(r: Raster, svgBody: string): Promise<Buffer> {
  if (svgBody) await drawSvgText(r, svgBody);
  // Compression level 6 keeps encoding fast; these mostly flat images compress well anyway.
  return sharp(r.data, { raw: { width: r.width, height: r.height, channels: 3 } })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

/** Render one heat map (map, colour bar with min/mid/max ticks, title, marker) as a PNG. */
export async function renderHeatmap(spec: HeatmapSpec): Promise<Buffer> {
  const L = layoutHeatmap(spec);
  const r = newRaster(L.width, L.height);
  const svg = paintHeatmap(r, spec, L, 0, 0);
  return encodePng(r, svg);
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
  const G = layoutGrid(panels, columns, title, opts);
  const r = newRaster(G.width, G.height);
  const svg: string[] = [];
  if (title) {
    svg.push(
      `<text x="${PAD}" y="${PAD + GRID_TITLE_SIZE}" font-size="${GRID_TITLE_SIZE}" font-weight="bold">${escapeXml(title)}</text>`,
    );
  }
  G.panels.forEach((slot, i) => {
    const spec = panels[i];
    if (slot && spec) svg.push(paintHeatmap(r, spec, slot.layout, slot.x, slot.y));
  });
  return encodePng(r, svg.join(''));
}
