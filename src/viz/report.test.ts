import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syntheticReport } from '../../test/viz/fixtures.js';
import { colormapLut } from './colormap.js';
import { base64ToFloat32, type ReportData } from './data.js';
import { buildComparisonReport, buildReport, defaultRunLabels, readReportPayload } from './report.js';
import { rpeBiasMatrix } from './rpe.js';

test('buildReport embeds every layer exactly and the shared colour tables', () => {
  const data = syntheticReport({ h: 4, w: 3, layers: 3 });
  const html = buildReport(data);
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  const payload = readReportPayload(html);
  assert.deepEqual(payload.grid, { h: 4, w: 3 });
  assert.equal(payload.token, data.token);
  assert.equal(payload.runs.length, 1);
  payload.runs[0].layers.forEach((l, i) => {
    assert.equal(l.index, data.layers[i].index);
    assert.deepEqual(base64ToFloat32(l.sim), data.layers[i].similarity);
  });
  assert.deepEqual(
    Buffer.from(payload.luts.viridis, 'base64'),
    Buffer.from(colormapLut({ kind: 'viridis' })),
  );
  assert.deepEqual(
    Buffer.from(payload.luts.diverging, 'base64'),
    Buffer.from(colormapLut({ kind: 'diverging' })),
  );
});

test('the report is self-contained: no external resources, CSP forbids network access', () => {
  const html = buildReport(syntheticReport({ rpe: true, logEpochs: 10 }));
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  // The only URL is the SVG namespace (an identifier, never fetched).
  const urls = [...html.matchAll(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"')]*/gi)].map((m) => m[0]);
  assert.ok(
    urls.every((u) => u === 'http://www.w3.org/2000/svg'),
    `unexpected URLs: ${urls.filter((u) => u !== 'http://www.w3.org/2000/svg').join(', ')}`,
  );
  assert.doesNotMatch(html, /<(link|script|img)[^>]+(src|href)="(?!data:)/);
});

test('sections follow the data: RPE and training only when present', () => {
  const plain = buildReport(syntheticReport());
  assert.match(plain, /id="sec-token"/);
  assert.match(plain, /id="sec-overall"/);
  assert.doesNotMatch(plain, /id="sec-rpe"/);
  assert.doesNotMatch(plain, /id="sec-training"/);
  const full = buildReport(syntheticReport({ rpe: true, logEpochs: 12 }));
  assert.match(full, /id="sec-rpe"/);
  assert.match(full, /id="sec-training"/);
  assert.equal((full.match(/<svg [^>]*class="chart"/g) ?? []).length, 3, 'loss, accuracy, learning rate');
  const rpeOnly = buildReport({ ...syntheticReport({ rpe: true }), layers: [] });
  assert.doesNotMatch(rpeOnly, /id="sec-token"/);
  assert.match(rpeOnly, /id="sec-rpe"/);
});

test('RPE bias is shipped only when the table cannot reproduce it', () => {
  const data = syntheticReport({ h: 3, w: 3, layers: 1, rpe: true, heads: 2 });
  const rpe = data.rpe ?? [];
  const t0 = rpe[0].heads[0].table;
  rpe[0].heads[0].tokenMap = rpeBiasMatrix(t0, 3, 3); // basic join: derivable
  const ln = rpeBiasMatrix(rpe[0].heads[1].table, 3, 3).map((v, i) => v * 2 + (i % 3)); // LN-like: not derivable
  rpe[0].heads[1].tokenMap = ln;
  const heads = readReportPayload(buildReport(data)).runs[0].rpe[0].heads;
  assert.equal(heads[0].bias, undefined);
  assert.deepEqual(base64ToFloat32(heads[0].table), t0);
  assert.deepEqual(base64ToFloat32(heads[1].bias ?? ''), ln);
});

test('text is escaped and the JSON block cannot be closed by data', () => {
  const data: ReportData = {
    ...syntheticReport({ layers: 1 }),
    title: '<b>x</b> & "y"',
    model: '</script><script>alert(1)</script>',
  };
  const html = buildReport(data);
  assert.match(html, /<title>&lt;b&gt;x&lt;\/b&gt; &amp; &quot;y&quot;<\/title>/);
  assert.equal((html.match(/<\/script>/g) ?? []).length, 2, 'only the two real script elements close');
  const cmp = buildComparisonReport(data, { ...data, join: 'basic' }, { labels: ['</script>', 'B'] });
  assert.equal((cmp.match(/<\/script>/g) ?? []).length, 2);
  assert.deepEqual(
    readReportPayload(cmp).runs.map((r) => r.label),
    ['</script>', 'B'],
  );
});

test('buildReport and buildComparisonReport validate their input', () => {
  const data = syntheticReport({ h: 3, w: 3, layers: 1 });
  assert.throws(() => buildReport({ ...data, token: 9 }), /token 9 outside/);
  assert.throws(
    () => buildComparisonReport(data, syntheticReport({ h: 4, w: 4, layers: 1 })),
    /different grids/,
  );
});

test('comparison labels default to what tells the runs apart', () => {
  const a = syntheticReport({ layers: 1 });
  assert.deepEqual(defaultRunLabels({ ...a, title: 'x' }, { ...a, title: 'y' }), ['x', 'y']);
  assert.deepEqual(defaultRunLabels(a, { ...a, join: 'basic' }), ['learnable / LaPE', 'learnable / basic']);
  assert.deepEqual(defaultRunLabels(a, { ...a, model: 'other' }), ['deit_tiny_patch16_224', 'other']);
  assert.deepEqual(defaultRunLabels(a, a), ['A', 'B']);
  const html = buildComparisonReport(a, { ...a, join: 'basic' });
  assert.match(html, /<h1>learnable \/ LaPE vs learnable \/ basic<\/h1>/);
  assert.equal(readReportPayload(html).runs.length, 2);
});
