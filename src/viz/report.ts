/**
 * Self-contained HTML reports: one file with inline CSS and script and the data embedded as JSON
 * (floats as base64 little-endian float32), no network access, usable from a file:// URL.
 *
 * The page shows, per layer, every patch's PE similarity (P x P) and the selected patch's similarity
 * map on the h x w grid; clicking a patch (or a map cell) selects it and redraws every layer. With
 * RPE data, each layer/head's bias table and the selected patch's bias map; with a training log,
 * loss/accuracy/learning-rate charts. A comparison report shows two runs in rows A and B.
 */
import { logChartsSvg, type NamedLog } from './chart.js';
import { colormapLut } from './colormap.js';
import { float32ToBase64, validateReportData, type ReportData } from './data.js';
import { escapeXml } from './format.js';
import { REPORT_CSS, REPORT_JS } from './report-client.js';
import { rpeBiasMatrix } from './rpe.js';

/** What the client script reads from the `lape-data` JSON block. */
export interface ReportPayload {
  version: 1;
  grid: { h: number; w: number };
  token: number;
  luts: { viridis: string; diverging: string };
  runs: PayloadRun[];
}

export interface PayloadRun {
  label: string;
  layers: { index: number; sim: string }[];
  /** `bias` is omitted when it equals the table gathered by offset (the client derives it then). */
  rpe: { layer: number; heads: { table: string; bias?: string }[] }[];
}

export interface ComparisonOptions {
  /** Row labels of the two runs; see defaultRunLabels. */
  labels?: [string, string];
  /** Page title; defaults to "<label A> vs <label B>". */
  title?: string;
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function payloadRun(label: string, data: ReportData): PayloadRun {
  const { h, w } = data.grid;
  return {
    label,
    layers: data.layers.map((l) => ({ index: l.index, sim: float32ToBase64(l.similarity) })),
    rpe: (data.rpe ?? []).map((l) => ({
      layer: l.layer,
      heads: l.heads.map((hd) => {
        // A full P x P bias per head is large (12 x 12 x 196^2 floats for DeiT at 224px); ship it
        // only when it carries information the table does not (e.g. the LN join).
        const bias =
          hd.tokenMap && !sameValues(hd.tokenMap, rpeBiasMatrix(hd.table, h, w)) ? hd.tokenMap : undefined;
        return bias
          ? { table: float32ToBase64(hd.table), bias: float32ToBase64(bias) }
          : { table: float32ToBase64(hd.table) };
      }),
    })),
  };
}

/** Serialise JSON for a <script> element: `<` escaped so no `</script>` or `<!--` can end it early. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function chip(name: string, value: string): string {
  return `<span class="chip"><b>${escapeXml(name)}</b>${escapeXml(value)}</span>`;
}

function metaLine(data: ReportData, label: string | null): string {
  const rpeHeads = data.rpe?.[0]?.heads.length;
  const parts = [
    label ? `<span class="run-name">${escapeXml(label)}</span>` : '',
    chip('model', data.model),
    chip('pe', data.pe),
    chip('join', data.join),
    chip('grid', `${data.grid.h} × ${data.grid.w} (P = ${data.grid.h * data.grid.w})`),
    chip('layers', String(data.layers.length)),
    data.rpe?.length ? chip('RPE', `${data.rpe.length} layers × ${rpeHeads} heads`) : '',
    data.log?.length ? chip('log', `${data.log.length} entries`) : '',
  ];
  return `<div class="meta">${parts.join('')}</div>`;
}

function buildHtml(title: string, runs: { label: string; data: ReportData }[]): string {
  const first = runs[0].data;
  const payload: ReportPayload = {
    version: 1,
    grid: { ...first.grid },
    token: first.token,
    luts: {
      viridis: Buffer.from(colormapLut({ kind: 'viridis' })).toString('base64'),
      diverging: Buffer.from(colormapLut({ kind: 'diverging' })).toString('base64'),
    },
    runs: runs.map((r) => payloadRun(r.label, r.data)),
  };
  const multi = runs.length > 1;
  const hasLayers = runs.some((r) => r.data.layers.length > 0);
  const hasRpe = runs.some((r) => (r.data.rpe?.length ?? 0) > 0);
  const logs: NamedLog[] = runs
    .filter((r) => r.data.log?.length)
    .map((r) => ({ label: r.label, log: r.data.log ?? [] }));
  const { h, w } = first.grid;

  const sections: string[] = [];
  if (hasLayers) {
    sections.push(`<section class="panel" id="sec-token">
<h2>Selected patch: PE similarity per layer</h2>
<p class="note">Cosine similarity between the selected patch's position embedding and every patch's, as
each layer sees it (${h} × ${w} grid, class token excluded). The outlined cell is the selected patch.
Click any cell to select that patch.</p>
<div id="token-maps"></div></section>`);
    sections.push(`<section class="panel" id="sec-overall">
<h2>PE similarity between all patches</h2>
<p class="note">P × P cosine similarity (P = ${h * w}, patches in row-major order); row <i>i</i> is patch
<i>i</i>'s similarity to every patch. The marks on the sides show the selected patch's row; click a row
to select its patch.</p>
<div id="overall-maps"></div></section>`);
  }
  if (hasRpe) {
    sections.push(`<section class="panel" id="sec-rpe">
<h2>Relative position bias</h2>
<p class="note">Per layer (rows) and head (columns): the bias table over relative offsets ((2h−1) × (2w−1); vertical
dy = query row − key row, horizontal dx = query column − key column, zero offset in the centre) and the
bias the selected patch (as query) adds to its attention logits for every key patch. Blue is negative,
red positive, white zero; each layer's heads share the colour bar at the end of the row.</p>
<div class="seg" role="radiogroup" aria-label="bias view">
<label><input type="radio" name="rpe-view" value="token" checked> bias of the selected patch</label>
<label><input type="radio" name="rpe-view" value="table"> bias table over offsets</label>
</div>
<div id="rpe-maps"></div></section>`);
  }
  if (logs.length) {
    const charts = logChartsSvg(logs);
    sections.push(`<section class="panel" id="sec-training">
<h2>Training</h2>
<p class="note">From ${multi ? 'the runs’' : 'the run’s'} log.txt${multi ? `; ${escapeXml(runs[0].label)} solid, ${escapeXml(runs[1].label)} dashed` : ''}.</p>
<div class="charts">${charts.join('\n')}</div></section>`);
  }

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<link rel="icon" href="data:,">
<title>${escapeXml(title)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<header>
<h1>${escapeXml(title)}</h1>
${runs.map((r) => metaLine(r.data, multi ? r.label : null)).join('\n')}
</header>
<div class="layout">
<aside>
<div class="panel">
<h2>Patch</h2>
<div id="patch-grid" role="group" aria-label="patch grid"></div>
<div id="sel-readout"></div>
<div class="hint">Click a patch or use the arrow keys.</div>
</div>
<div class="panel scale">
<h2>Colour scale</h2>
<label><input type="radio" name="scale" value="map" checked> per map (min … max)</label>
<label><input type="radio" name="scale" value="shared"> shared across layers${multi ? ' and runs' : ''}</label>
<div class="hint">Similarities use viridis; biases a diverging map symmetric about 0. Hover a map for values.</div>
</div>
</aside>
<main>
${sections.join('\n') || '<section class="panel"><p class="note">No similarity, RPE or log data.</p></section>'}
</main>
</div>
<footer>Generated by lape · self-contained file, no network access.</footer>
<script id="lape-data" type="application/json">${scriptJson(payload)}</script>
<script>${REPORT_JS}</script>
</body>
</html>
`;
}

/** One self-contained HTML report of a run (see the module comment). Throws on inconsistent data. */
export function buildReport(data: ReportData): string {
  validateReportData(data);
  return buildHtml(data.title, [{ label: data.title, data }]);
}

/**
 * Row labels for comparing two runs: the first of title, "pe / join", model that tells them apart,
 * else "A" and "B".
 */
export function defaultRunLabels(a: ReportData, b: ReportData): [string, string] {
  const candidates: ((d: ReportData) => string)[] = [
    (d) => d.title,
    (d) => `${d.pe} / ${d.join}`,
    (d) => d.model,
  ];
  for (const c of candidates) if (c(a) !== c(b)) return [c(a), c(b)];
  return ['A', 'B'];
}

/**
 * A self-contained HTML report comparing two runs on the same patch grid: every map section has a
 * row per run, one patch selection drives both, and the training charts overlay both logs.
 */
export function buildComparisonReport(a: ReportData, b: ReportData, opts: ComparisonOptions = {}): string {
  validateReportData(a);
  validateReportData(b);
  if (a.grid.h !== b.grid.h || a.grid.w !== b.grid.w) {
    throw new RangeError(
      `cannot compare runs on different grids: ${a.grid.h}x${a.grid.w} vs ${b.grid.h}x${b.grid.w}`,
    );
  }
  const labels = opts.labels ?? defaultRunLabels(a, b);
  return buildHtml(opts.title ?? `${labels[0]} vs ${labels[1]}`, [
    { label: labels[0], data: a },
    { label: labels[1], data: b },
  ]);
}

/** Extract and parse the embedded payload of a report (for tests and tools). */
export function readReportPayload(html: string): ReportPayload {
  const m = /<script id="lape-data" type="application\/json">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error('no lape-data block in this HTML');
  return JSON.parse(m[1]) as ReportPayload;
}
