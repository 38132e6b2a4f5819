/**
 * The stylesheet and browser script inlined into every HTML report (see report.ts for the payload
 * they read). They are plain strings, not compiled TypeScript functions: serialising a compiled
 * function (fn.toString()) would drag bundler helpers such as tsx's `__name` into the page.
 * The script avoids template literals so these strings need no escaping.
 *
 * Colour mapping here must stay identical to colormap.ts (`lutIndex`): k = round((v - lo) / (hi - lo)
 * * 255), clamped; degenerate range -> 128; non-finite -> grey 200.
 */

export const REPORT_CSS = `
:root {
  --bg: #f5f6f8; --card: #fff; --ink: #1d2330; --muted: #5d6675; --line: #e2e5ea;
  --accent: #e8590c; --accent-ink: #fff; --chip: #eef1f5;
  --map-token: 148px; --map-overall: 188px; --map-rpe: 72px;
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, Arial, sans-serif; }
header { padding: 18px 28px 14px; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 8px; font-size: 21px; font-weight: 650; letter-spacing: -0.01em; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; }
.meta .run-name { font-weight: 600; margin-right: 2px; }
.chip { display: inline-block; padding: 1px 8px; border-radius: 999px; background: var(--chip);
  font-size: 12.5px; color: var(--ink); }
.chip b { font-weight: 600; color: var(--muted); margin-right: 4px; }
.layout { display: flex; gap: 22px; padding: 20px 28px 40px; align-items: flex-start; }
aside { position: sticky; top: 14px; flex: 0 0 auto; width: 262px; display: flex; flex-direction: column; gap: 14px; }
main { flex: 1 1 auto; min-width: 0; display: flex; flex-direction: column; gap: 20px; }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
.panel h2 { margin: 0 0 4px; font-size: 16px; font-weight: 650; }
aside .panel h2 { font-size: 14px; }
.panel p.note { margin: 0 0 12px; color: var(--muted); font-size: 13px; max-width: 80ch; }
#patch-grid { display: grid; gap: 2px; width: 100%; user-select: none; }
#patch-grid:focus-within { outline: none; }
.patch { aspect-ratio: 1; min-width: 0; padding: 0; border: 0; border-radius: 2px; background: #d9dde4;
  cursor: pointer; }
.patch:hover { background: #aeb6c2; }
.patch:focus-visible { outline: 2px solid var(--ink); outline-offset: 1px; }
.patch[aria-pressed="true"] { background: var(--accent); }
#sel-readout { margin-top: 8px; font-variant-numeric: tabular-nums; color: var(--muted); font-size: 13px; }
#sel-readout b { color: var(--ink); }
.hint { color: var(--muted); font-size: 12px; margin-top: 6px; }
.scale label { display: block; font-size: 13px; margin: 2px 0; cursor: pointer; }
.run-row { display: flex; gap: 12px; align-items: flex-start; padding: 8px 0; }
.run-row + .run-row { border-top: 1px dashed var(--line); }
.run-label { flex: 0 0 96px; font-weight: 600; font-size: 13px; padding-top: 20px; overflow-wrap: anywhere; }
.cards { display: flex; flex-wrap: wrap; gap: 14px 16px; }
.empty { color: var(--muted); font-style: italic; padding: 10px 0; }
figure.card { margin: 0; width: var(--size); }
.card-token { --size: var(--map-token); }
.card-overall { --size: var(--map-overall); }
.card-rpe { --size: var(--map-rpe); }
figure.card figcaption { font-size: 12.5px; font-weight: 600; margin-bottom: 4px; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.map-wrap { position: relative; width: 100%; line-height: 0; }
canvas.map { width: 100%; height: 100%; image-rendering: pixelated; display: block;
  box-shadow: 0 0 0 1px rgba(0,0,0,0.12); }
canvas.map.clickable { cursor: crosshair; }
.marker { position: absolute; pointer-events: none; box-sizing: border-box; }
.marker.cell { box-shadow: 0 0 0 2px #fff, 0 0 0 3px rgba(0,0,0,0.85); }
.marker.row { left: -5px; right: -5px; min-height: 1px;
  border-left: 4px solid var(--accent); border-right: 4px solid var(--accent);
  box-shadow: inset 0 0 0 1px rgba(255,255,255,0.85); }
.cbar { margin-top: 5px; }
.cbar canvas { width: 100%; height: 8px; display: block; image-rendering: auto; border-radius: 2px;
  box-shadow: 0 0 0 1px rgba(0,0,0,0.12); }
.cbar-labels { display: flex; justify-content: space-between; font-size: 11px; color: var(--muted);
  font-variant-numeric: tabular-nums; margin-top: 1px; }
.rpe-scroll { overflow-x: auto; padding: 4px 2px 6px; }
.rpe-matrix { display: grid; gap: 6px 6px; align-items: center; width: max-content; }
.rpe-matrix .col-head { font-size: 12px; font-weight: 600; color: var(--muted); text-align: center; }
.rpe-matrix .row-head { font-size: 12.5px; font-weight: 600; white-space: nowrap; padding-right: 6px; }
.rpe-cell figure.card { width: 100%; }
/* The bar is positioned out of flow so it takes the row's height instead of imposing its own. */
.rpe-bars { align-self: stretch; position: relative; width: 62px; }
.vbar { position: absolute; inset: 0 0 0 4px; display: flex; gap: 4px; }
.vbar canvas { width: 8px; height: 100%; display: block; border-radius: 2px; box-shadow: 0 0 0 1px rgba(0,0,0,0.12); }
.vbar .cbar-labels { flex-direction: column; justify-content: space-between; margin: -2px 0; min-width: 42px; }
#sec-rpe[data-show="token"] .kind-rpe-table, #sec-rpe[data-show="table"] .kind-rpe-token { display: none; }
.seg { display: inline-flex; gap: 14px; margin: 0 0 10px; font-size: 13px; }
.seg label { cursor: pointer; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg.chart { background: #fff; border: 1px solid var(--line); border-radius: 8px; max-width: 100%; height: auto; }
svg.chart text { font-family: inherit; fill: var(--ink); }
svg.chart .chart-title { font-size: 14px; font-weight: 650; }
svg.chart .chart-sub { font-size: 11.5px; fill: var(--muted); }
svg.chart .tick { font-size: 11px; fill: var(--muted); }
svg.chart .legend { font-size: 11.5px; }
svg.chart .axis-label { font-size: 12px; fill: var(--muted); }
svg.chart .grid { stroke: #edf0f3; }
svg.chart .axis { stroke: #9aa3af; }
#tip { position: fixed; z-index: 10; pointer-events: none; background: rgba(29,35,48,0.94); color: #fff;
  font-size: 12px; padding: 4px 8px; border-radius: 5px; white-space: nowrap; font-variant-numeric: tabular-nums; }
footer { padding: 0 28px 28px; color: var(--muted); font-size: 12px; }
@media (max-width: 820px) {
  .layout { flex-direction: column; }
  aside { position: static; width: 100%; }
}
`;

export const REPORT_JS = `
(function () {
  'use strict';
  var payload = JSON.parse(document.getElementById('lape-data').textContent);
  var H = payload.grid.h, W = payload.grid.w, P = H * W;

  function bytes(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function floats(s) {
    var b = bytes(s);
    return new Float32Array(b.buffer, 0, b.length >> 2);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function fmt(v) {
    if (v !== v) return 'NaN';
    if (!isFinite(v)) return v > 0 ? '\\u221e' : '-\\u221e';
    if (v === 0) return '0';
    var a = Math.abs(v), s;
    if (a >= 1e4 || a < 1e-3) {
      var parts = v.toExponential(2).split('e');
      return parts[0].replace(/\\.?0+$/, '') + 'e' + parts[1].replace('+', '');
    }
    s = v.toPrecision(3);
    return s.indexOf('.') >= 0 ? s.replace(/\\.?0+$/, '') : s;
  }
  function cellName(t) { return '#' + t + ' (row ' + Math.floor(t / W) + ', col ' + (t % W) + ')'; }

  var LUTS = { viridis: bytes(payload.luts.viridis), diverging: bytes(payload.luts.diverging) };
  var state = { token: payload.token, scale: 'map' };
  var views = [];
  var bars = [];

  // Bias row of one RPE head for a query token, from its relative-offset table (basic join).
  function tableRow(table, token) {
    var out = new Float32Array(P), yi = Math.floor(token / W), xi = token % W, tw = 2 * W - 1;
    for (var j = 0; j < P; j++) {
      out[j] = table[(yi - Math.floor(j / W) + H - 1) * tw + (xi - (j % W) + W - 1)];
    }
    return out;
  }

  var runs = payload.runs.map(function (r) {
    return {
      label: r.label,
      layers: r.layers.map(function (l) { return { index: l.index, sim: floats(l.sim) }; }),
      rpe: r.rpe.map(function (l) {
        return {
          layer: l.layer,
          heads: l.heads.map(function (h) {
            return { table: floats(h.table), bias: h.bias ? floats(h.bias) : null };
          })
        };
      })
    };
  });

  function paintBar(canvas, cmap, vertical) {
    var ctx = canvas.getContext('2d'), img = ctx.createImageData(canvas.width, canvas.height), lut = LUTS[cmap];
    for (var i = 0; i < 256; i++) {
      var k = vertical ? 255 - i : i; // vertical bars have the maximum on top
      img.data[4 * i] = lut[3 * k]; img.data[4 * i + 1] = lut[3 * k + 1];
      img.data[4 * i + 2] = lut[3 * k + 2]; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  // o: { cls, title, kind, group, run, layer, head, rows, cols, cmap, marker: 'cell'|'row'|null,
  //      bar: whether the card has its own colour bar, values(): Float32Array }
  // Views in the same group share one colour range in "per map" mode (RPE heads of a layer);
  // in "shared" mode all views of a kind share one.
  function makeView(container, o) {
    var fig = el('figure', 'card ' + o.cls + ' kind-' + o.kind);
    var caption = o.caption != null ? o.caption : o.title;
    if (caption) fig.appendChild(el('figcaption', null, caption));
    var wrap = el('div', 'map-wrap');
    wrap.style.aspectRatio = o.cols + ' / ' + o.rows;
    var cv = el('canvas', 'map' + (o.kind === 'rpe-table' ? '' : ' clickable'));
    cv.width = o.cols; cv.height = o.rows;
    cv.dataset.kind = o.kind; cv.dataset.run = String(o.run); cv.dataset.layer = String(o.layer);
    if (o.head != null) cv.dataset.head = String(o.head);
    cv.dataset.view = String(views.length);
    cv.setAttribute('role', 'img');
    cv.setAttribute('aria-label', o.title);
    wrap.appendChild(cv);
    var marker = null;
    if (o.marker) { marker = el('div', 'marker ' + o.marker); wrap.appendChild(marker); }
    fig.appendChild(wrap);
    container.appendChild(fig);
    var ctx = cv.getContext('2d');
    var view = { o: o, fig: fig, canvas: cv, ctx: ctx, img: ctx.createImageData(o.cols, o.rows), marker: marker,
      cur: null, raw: null, range: null };
    if (o.bar) bars.push(makeBar(fig, o, false));
    views.push(view);
    return view;
  }

  // A colour bar with min/mid/max labels, horizontal under a card or vertical beside a row.
  function makeBar(container, o, vertical) {
    var bar = el('div', (vertical ? 'vbar' : 'cbar') + ' kind-' + o.kind), bc = el('canvas');
    bc.width = vertical ? 1 : 256; bc.height = vertical ? 256 : 1;
    paintBar(bc, o.cmap, vertical);
    bar.appendChild(bc);
    var labels = el('div', 'cbar-labels'), lo = el('span'), mid = el('span'), hi = el('span');
    if (vertical) { labels.appendChild(hi); labels.appendChild(mid); labels.appendChild(lo); }
    else { labels.appendChild(lo); labels.appendChild(mid); labels.appendChild(hi); }
    bar.appendChild(labels);
    container.appendChild(bar);
    return { o: o, lo: lo, mid: mid, hi: hi };
  }

  function finiteMinMax(v) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < v.length; i++) {
      var x = v[i];
      if (!isFinite(x)) continue;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    return lo <= hi ? [lo, hi] : [0, 0];
  }
  function finalRange(raw, cmap) {
    if (cmap !== 'diverging') return raw;
    var m = Math.max(Math.abs(raw[0]), Math.abs(raw[1]));
    return m > 0 ? [-m, m] : [-1, 1];
  }

  function paint(v) {
    var vals = v.cur, d = v.img.data, lut = LUTS[v.o.cmap], lo = v.range[0], hi = v.range[1];
    for (var i = 0; i < vals.length; i++) {
      var x = vals[i], j = 4 * i, k;
      d[j + 3] = 255;
      if (!isFinite(x)) { d[j] = d[j + 1] = d[j + 2] = 200; continue; }
      if (!(hi > lo)) k = 128;
      else {
        k = Math.round(((x - lo) / (hi - lo)) * 255);
        k = k < 0 ? 0 : k > 255 ? 255 : k;
      }
      d[j] = lut[3 * k]; d[j + 1] = lut[3 * k + 1]; d[j + 2] = lut[3 * k + 2];
    }
    v.ctx.putImageData(v.img, 0, 0);
    if (v.marker) {
      var s = v.marker.style;
      if (v.o.marker === 'cell') {
        s.left = (100 * (state.token % W) / W) + '%'; s.top = (100 * Math.floor(state.token / W) / H) + '%';
        s.width = (100 / W) + '%'; s.height = (100 / H) + '%';
      } else {
        s.top = (100 * state.token / P) + '%'; s.height = (100 / P) + '%';
      }
    }
  }

  function groupKey(o) { return state.scale === 'shared' ? o.kind : o.group; }

  function redraw() {
    var groups = {};
    views.forEach(function (v) {
      v.cur = v.o.values();
      v.raw = finiteMinMax(v.cur);
      var key = groupKey(v.o), g = groups[key];
      if (!g) groups[key] = [v.raw[0], v.raw[1]];
      else { g[0] = Math.min(g[0], v.raw[0]); g[1] = Math.max(g[1], v.raw[1]); }
    });
    views.forEach(function (v) {
      v.range = finalRange(groups[groupKey(v.o)], v.o.cmap);
      paint(v);
    });
    bars.forEach(function (b) {
      var r = finalRange(groups[groupKey(b.o)] || [0, 0], b.o.cmap);
      b.lo.textContent = fmt(r[0]); b.mid.textContent = fmt((r[0] + r[1]) / 2); b.hi.textContent = fmt(r[1]);
    });
    var buttons = document.querySelectorAll('#patch-grid .patch');
    for (var i = 0; i < buttons.length; i++) {
      var on = i === state.token;
      buttons[i].setAttribute('aria-pressed', on ? 'true' : 'false');
      buttons[i].tabIndex = on ? 0 : -1;
    }
    var ro = document.getElementById('sel-readout');
    ro.textContent = '';
    ro.appendChild(el('b', null, 'patch ' + cellName(state.token)));
    document.body.dataset.token = String(state.token);
  }

  function select(t) {
    if (t < 0 || t >= P || t === state.token) return;
    state.token = t;
    redraw();
  }

  function runRow(section, run) {
    var row = el('div', 'run-row');
    if (runs.length > 1) row.appendChild(el('div', 'run-label', run.label));
    var cards = el('div', 'cards');
    row.appendChild(cards);
    section.appendChild(row);
    return cards;
  }

  var tokenSec = document.getElementById('token-maps');
  var overallSec = document.getElementById('overall-maps');
  var rpeSec = document.getElementById('rpe-maps');
  runs.forEach(function (run, ri) {
    if (tokenSec) {
      var tc = runRow(tokenSec, run);
      if (!run.layers.length) tc.appendChild(el('div', 'empty', 'no absolute position embedding'));
      run.layers.forEach(function (l) {
        makeView(tc, { cls: 'card-token', title: 'layer ' + l.index, kind: 'token', group: 'token/' + ri + '/' + l.index,
          bar: true, run: ri, layer: l.index,
          rows: H, cols: W, cmap: 'viridis', marker: 'cell',
          values: function () { return l.sim.subarray(state.token * P, state.token * P + P); } });
      });
    }
    if (overallSec) {
      var oc = runRow(overallSec, run);
      if (!run.layers.length) oc.appendChild(el('div', 'empty', 'no absolute position embedding'));
      run.layers.forEach(function (l) {
        var ov = makeView(oc, { cls: 'card-overall', title: 'layer ' + l.index + ' \\u00b7 overall', kind: 'overall',
          group: 'overall/' + ri + '/' + l.index, bar: true, run: ri,
          layer: l.index, rows: P, cols: P, cmap: 'viridis', marker: 'row',
          values: function () { return l.sim; } });
        // Keep at least one CSS pixel per matrix cell so nearest-neighbour scaling never drops rows.
        if (P > 188) ov.fig.style.setProperty('--size', Math.min(P, 400) + 'px');
        if (P > 400) ov.canvas.style.imageRendering = 'auto';
      });
    }
    if (rpeSec) {
      // A layer x head matrix per run; each layer row shares one colour range and bar.
      var rc = runRow(rpeSec, run);
      if (!run.rpe.length) { rc.appendChild(el('div', 'empty', 'no relative position bias')); return; }
      var nh = 0;
      run.rpe.forEach(function (l) { nh = Math.max(nh, l.heads.length); });
      var m = el('div', 'rpe-matrix');
      // Few heads leave room for larger maps.
      m.style.setProperty('--map-rpe', (nh <= 4 ? 120 : nh <= 8 ? 92 : 72) + 'px');
      m.style.gridTemplateColumns = 'auto repeat(' + nh + ', var(--map-rpe)) auto';
      m.appendChild(el('div'));
      for (var hh = 0; hh < nh; hh++) m.appendChild(el('div', 'col-head', 'head ' + hh));
      m.appendChild(el('div'));
      run.rpe.forEach(function (l) {
        m.appendChild(el('div', 'row-head', 'layer ' + l.layer));
        for (var hi = 0; hi < nh; hi++) {
          var cell = el('div', 'rpe-cell');
          m.appendChild(cell);
          var h = l.heads[hi];
          if (!h) continue;
          var base = { cls: 'card-rpe', run: ri, layer: l.layer, head: hi, cmap: 'diverging', bar: false, caption: '' };
          makeView(cell, Object.assign({}, base, { title: 'layer ' + l.layer + ' \\u00b7 head ' + hi + ' \\u00b7 table',
            kind: 'rpe-table', group: 'rpe-table/' + ri + '/' + l.layer, rows: 2 * H - 1, cols: 2 * W - 1, marker: null,
            values: (function (h) { return function () { return h.table; }; })(h) }));
          makeView(cell, Object.assign({}, base, { title: 'layer ' + l.layer + ' \\u00b7 head ' + hi + ' \\u00b7 token bias',
            kind: 'rpe-token', group: 'rpe-token/' + ri + '/' + l.layer, rows: H, cols: W, marker: 'cell',
            values: (function (h) {
              return function () {
                return h.bias ? h.bias.subarray(state.token * P, state.token * P + P) : tableRow(h.table, state.token);
              };
            })(h) }));
        }
        var bc = el('div', 'rpe-bars');
        m.appendChild(bc);
        bars.push(makeBar(bc, { kind: 'rpe-table', group: 'rpe-table/' + ri + '/' + l.layer, cmap: 'diverging' }, true));
        bars.push(makeBar(bc, { kind: 'rpe-token', group: 'rpe-token/' + ri + '/' + l.layer, cmap: 'diverging' }, true));
      });
      var scroll = el('div', 'rpe-scroll');
      scroll.appendChild(m);
      rc.appendChild(scroll);
    }
  });

  // Bias view toggle: the RPE section shows either the selected patch's bias or the offset tables.
  var rpeRadios = document.querySelectorAll('input[name="rpe-view"]');
  function applyRpeView() {
    var sec = document.getElementById('sec-rpe');
    var checked = document.querySelector('input[name="rpe-view"]:checked');
    if (sec && checked) sec.dataset.show = checked.value;
  }
  for (var q = 0; q < rpeRadios.length; q++) rpeRadios[q].addEventListener('change', applyRpeView);
  applyRpeView();

  // Patch selector: a roving-tabindex button grid, arrow keys move the selection.
  var grid = document.getElementById('patch-grid');
  grid.style.gridTemplateColumns = 'repeat(' + W + ', 1fr)';
  for (var t = 0; t < P; t++) {
    var b = el('button', 'patch');
    b.type = 'button';
    b.dataset.token = String(t);
    b.title = 'patch ' + cellName(t);
    b.setAttribute('aria-label', 'patch ' + cellName(t));
    grid.appendChild(b);
  }
  grid.addEventListener('click', function (e) {
    var b = e.target.closest('.patch');
    if (b) select(Number(b.dataset.token));
  });
  grid.addEventListener('keydown', function (e) {
    var r = Math.floor(state.token / W), c = state.token % W;
    if (e.key === 'ArrowLeft') c = Math.max(0, c - 1);
    else if (e.key === 'ArrowRight') c = Math.min(W - 1, c + 1);
    else if (e.key === 'ArrowUp') r = Math.max(0, r - 1);
    else if (e.key === 'ArrowDown') r = Math.min(H - 1, r + 1);
    else return;
    e.preventDefault();
    select(r * W + c);
    grid.children[state.token].focus();
  });

  var radios = document.querySelectorAll('input[name="scale"]');
  for (var i = 0; i < radios.length; i++) {
    radios[i].addEventListener('change', function (e) { state.scale = e.target.value; redraw(); });
  }

  // Hover read-out and click-to-select on the maps.
  var tip = el('div');
  tip.id = 'tip';
  tip.hidden = true;
  document.body.appendChild(tip);
  function hit(e) {
    var c = e.target;
    if (!(c instanceof HTMLCanvasElement) || !c.classList.contains('map')) return null;
    var v = views[Number(c.dataset.view)], rect = c.getBoundingClientRect();
    var col = Math.floor(((e.clientX - rect.left) / rect.width) * v.o.cols);
    var row = Math.floor(((e.clientY - rect.top) / rect.height) * v.o.rows);
    if (row < 0 || col < 0 || row >= v.o.rows || col >= v.o.cols) return null;
    return { v: v, row: row, col: col, value: v.cur[row * v.o.cols + col] };
  }
  document.addEventListener('mousemove', function (e) {
    var h = hit(e);
    if (!h) { tip.hidden = true; return; }
    var k = h.v.o.kind, text;
    if (k === 'overall') text = 'query ' + cellName(h.row) + ' \\u2192 key ' + cellName(h.col);
    else if (k === 'rpe-table') text = 'offset dy ' + (h.row - (H - 1)) + ', dx ' + (h.col - (W - 1));
    else text = 'patch ' + cellName(h.row * W + h.col);
    tip.textContent = h.v.o.title + ' \\u00b7 ' + text + ': ' + fmt(h.value);
    tip.hidden = false;
    var x = e.clientX + 14, y = e.clientY + 14, tw = tip.offsetWidth;
    if (x + tw > window.innerWidth - 4) x = e.clientX - tw - 10;
    tip.style.left = x + 'px'; tip.style.top = y + 'px';
  });
  document.addEventListener('click', function (e) {
    var h = hit(e);
    if (!h) return;
    if (h.v.o.kind === 'overall') select(h.row);
    else if (h.v.o.kind !== 'rpe-table') select(h.row * W + h.col);
  });

  redraw();
  document.body.dataset.ready = '1';
})();
`;
