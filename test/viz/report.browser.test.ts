/**
 * Opens generated reports in Debian's Chromium (headless, through playwright-core) and checks they
 * run cleanly from file:// without network access, draw the maps with the shared colour tables, and
 * redraw when a patch is selected.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { colorOf } from '../../src/viz/colormap.js';
import { buildComparisonReport, buildReport } from '../../src/viz/report.js';
import { resolveRpeBias } from '../../src/viz/data.js';
import { tokenMap } from '../../src/viz/similarity.js';
import { syntheticReport } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install -y chromium)`;

let browser: Browser | undefined;
let dir = '';

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'lape-viz-browser-'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

after(async () => {
  await browser?.close();
  // Keep the directory (it holds the screenshots) only when asked to, for a human to look at.
  if (dir && !process.env.LAPE_KEEP_SCREENSHOTS) await rm(dir, { recursive: true, force: true });
});

interface PageProblems {
  consoleErrors: string[];
  foreignRequests: string[];
}

/** Open a report file and collect console errors and any request that is not file:// or data:. */
async function openReport(html: string, name: string): Promise<{ page: Page; problems: PageProblems }> {
  assert.ok(browser);
  const path = join(dir, name);
  await writeFile(path, html);
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems: PageProblems = { consoleErrors: [], foreignRequests: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') problems.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => problems.consoleErrors.push(`pageerror: ${e.message}`));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith('file://') && !url.startsWith('data:')) problems.foreignRequests.push(url);
  });
  await page.goto(pathToFileURL(path).href);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });
  return { page, problems };
}

/** RGBA pixels of every map canvas of a kind, in document order. */
async function canvasPixels(page: Page, kind: string): Promise<number[][]> {
  return page.$$eval(`canvas.map[data-kind="${kind}"]`, (canvases) =>
    canvases.map((c) => {
      const cv = c as HTMLCanvasElement;
      const ctx = cv.getContext('2d');
      return ctx ? Array.from(ctx.getImageData(0, 0, cv.width, cv.height).data) : [];
    }),
  );
}

function rgbAt(rgba: number[], i: number): number[] {
  return [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
}

test(
  'report runs from file:// without errors or network, and redraws on patch selection',
  { skip },
  async (t) => {
    const data = syntheticReport({ h: 5, w: 5, layers: 3, rpe: true, heads: 2, logEpochs: 20 });
    const { page, problems } = await openReport(buildReport(data), 'report.html');
    try {
      assert.equal(await page.getAttribute('body', 'data-token'), String(data.token));
      const before = await canvasPixels(page, 'token');
      assert.equal(before.length, 3, 'one token map per layer');

      // The canvases show exactly the colour-map colours of the token's similarities (per-map range).
      before.forEach((rgba, l) => {
        const values = tokenMap(data.layers[l].similarity, 25, data.token);
        const lo = Math.min(...values);
        const hi = Math.max(...values);
        for (let i = 0; i < 25; i++)
          assert.deepEqual(rgbAt(rgba, i), [...colorOf(values[i], lo, hi, { kind: 'viridis' })]);
      });
      const rpeBefore = await canvasPixels(page, 'rpe-token');
      const overallBefore = await canvasPixels(page, 'overall');
      await page.screenshot({ path: join(dir, 'report-before.png'), fullPage: true });

      // Select patch 3 in the patch grid: every layer's token map and every RPE bias map change.
      await page.click('#patch-grid .patch[data-token="3"]');
      assert.equal(await page.getAttribute('body', 'data-token'), '3');
      assert.match((await page.textContent('#sel-readout')) ?? '', /#3 \(row 0, col 3\)/);
      const after = await canvasPixels(page, 'token');
      after.forEach((rgba, l) => assert.notDeepEqual(rgba, before[l], `layer ${l} token map unchanged`));
      const rpeAfter = await canvasPixels(page, 'rpe-token');
      assert.equal(rpeAfter.length, 3 * 2);
      rpeAfter.forEach((rgba, i) => assert.notDeepEqual(rgba, rpeBefore[i], `RPE map ${i} unchanged`));
      assert.deepEqual(
        await canvasPixels(page, 'overall'),
        overallBefore,
        'overall maps do not depend on the token',
      );
      // The RPE bias of the selected patch, derived in the page from the table, has the right colours:
      // canvases are ordered layer-major, so index 2 is layer 1, head 0. A layer's heads share one
      // range, symmetric about zero.
      const layer1 = (data.rpe ?? [])[1].heads.map((hd) => tokenMap(resolveRpeBias(hd, data.grid), 25, 3));
      const m = Math.max(...layer1.flatMap((row) => Array.from(row, Math.abs)));
      for (let i = 0; i < 25; i++) {
        assert.deepEqual(rgbAt(rpeAfter[2], i), [...colorOf(layer1[0][i], -m, m, { kind: 'diverging' })]);
      }

      // Clicking a cell of a token map selects that patch; arrow keys move the selection.
      const box = await page.locator('canvas.map[data-kind="token"]').first().boundingBox();
      assert.ok(box);
      await page.mouse.click(box.x + box.width * 0.9, box.y + box.height * 0.9);
      assert.equal(await page.getAttribute('body', 'data-token'), '24');
      await page.focus('#patch-grid .patch[data-token="24"]');
      await page.keyboard.press('ArrowLeft');
      await page.keyboard.press('ArrowUp');
      assert.equal(await page.getAttribute('body', 'data-token'), '18');

      // Hovering shows a value read-out.
      await page.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.1);
      assert.match((await page.textContent('#tip')) ?? '', /layer 0 · patch #0 \(row 0, col 0\): -?\d/);

      // Shared scale: all layers' colour bars show the same labels.
      await page.check('input[name="scale"][value="shared"]');
      const labels = await page.$$eval('#token-maps .cbar-labels', (els) => els.map((e) => e.textContent));
      assert.equal(new Set(labels).size, 1, `shared labels differ: ${labels.join(' | ')}`);

      // The offset-table view of the RPE section.
      await page.check('input[name="rpe-view"][value="table"]');
      assert.equal(await page.locator('canvas.map[data-kind="rpe-table"]').first().isVisible(), true);
      assert.equal(await page.locator('canvas.map[data-kind="rpe-token"]').first().isVisible(), false);
      await page.check('input[name="rpe-view"][value="token"]');

      assert.equal(await page.locator('#sec-training svg.chart').count(), 3);
      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      t.diagnostic(
        `screenshot: ${shot}${process.env.LAPE_KEEP_SCREENSHOTS ? '' : ' (deleted after the run; set LAPE_KEEP_SCREENSHOTS=1 to keep)'}`,
      );
      assert.deepEqual(problems.consoleErrors, []);
      assert.deepEqual(problems.foreignRequests, []);
    } finally {
      await page.close();
    }
  },
);

test('comparison report shows both runs and one selection drives both', { skip }, async (t) => {
  const a = syntheticReport({ h: 5, w: 5, layers: 3, join: 'LaPE', seed: 1, logEpochs: 15 });
  const b = syntheticReport({ h: 5, w: 5, layers: 3, join: 'basic', seed: 2, logEpochs: 15 });
  const { page, problems } = await openReport(buildComparisonReport(a, b), 'compare.html');
  try {
    assert.deepEqual(await page.$$eval('#token-maps .run-label', (els) => els.map((e) => e.textContent)), [
      'learnable / LaPE',
      'learnable / basic',
    ]);
    const before = await canvasPixels(page, 'token');
    assert.equal(before.length, 6);
    await page.click('#patch-grid .patch[data-token="0"]');
    const after = await canvasPixels(page, 'token');
    after.forEach((rgba, i) => assert.notDeepEqual(rgba, before[i], `map ${i} unchanged`));
    const shot = join(dir, 'compare.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(
      `screenshot: ${shot}${process.env.LAPE_KEEP_SCREENSHOTS ? '' : ' (deleted after the run; set LAPE_KEEP_SCREENSHOTS=1 to keep)'}`,
    );
    assert.deepEqual(problems.consoleErrors, []);
    assert.deepEqual(problems.foreignRequests, []);
  } finally {
    await page.close();
  }
});
