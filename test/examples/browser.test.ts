/**
 * The browser example (examples/browser/) in Debian's headless Chromium: the page, served from
 * localhost by the example's own server, loads a model exported by lape in onnxruntime-web, classifies
 * an image picked with the file input and one dropped on it, and shows the top-5 that lape computes.
 * No request leaves the local server.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { serveExample, type ExampleServer } from '../../examples/browser/serve.js';
import { classifyImages, datasetStats, loadCheckpoint, saveOnnx } from '../../src/index.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install -y chromium)`;
const root = fileURLToPath(new URL('../../', import.meta.url));
const CLASSES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

let browser: Browser | undefined;
let server: ExampleServer | undefined;
let images: string[] = [];
let expected: { index: number; probability: number }[][] = [];

before(async () => {
  if (skip) return;
  const dir = mkdtempSync(join(tmpdir(), 'lape-browser-example-'));
  const { model } = loadCheckpoint(join(root, 'test/fixtures/models/tiny_learnable_LaPE.pth'), {
    model: 'lape_tiny',
    overrides: { join: 'LaPE' },
  });
  saveOnnx(join(dir, 'model.onnx'), model);
  writeFileSync(
    join(dir, 'model.json'),
    JSON.stringify({
      model: 'model.onnx',
      imageSize: 16,
      channels: 3,
      ...datasetStats('image-folder'),
      classes: CLASSES,
    }),
  );
  for (let k = 0; k < 2; k++) {
    const px = Buffer.alloc(16 * 16 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * (5 + 11 * k) + 90 * k) % 256;
    const file = join(dir, `image${k}.png`);
    await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
      .png()
      .toFile(file);
    images.push(file);
  }
  expected = (await classifyImages(model, images)).top;
  model.dispose();
  server = await serveExample(dir);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
    ],
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
  images = [];
});

/** The page's top-5 list as (class, probability) pairs. */
async function shownTop5(
  page: Page,
  classified: number,
): Promise<{ index: number; probability: number; text: string }[]> {
  await page.waitForSelector(`body[data-classified="${classified}"]`, { timeout: 30_000 });
  return page.$$eval('#top5 li', (lis) =>
    lis.map((li) => ({
      index: Number((li as HTMLElement).dataset.class),
      probability: Number((li as HTMLElement).dataset.prob),
      text: li.textContent ?? '',
    })),
  );
}

function assertSameTop5(
  shown: { index: number; probability: number; text: string }[],
  want: { index: number; probability: number }[],
): void {
  assert.deepEqual(
    shown.map((s) => s.index),
    want.map((w) => w.index),
  );
  shown.forEach((s, i) => {
    assert.ok(
      Math.abs(s.probability - want[i].probability) < 1e-4,
      `${s.probability} vs ${want[i].probability}`,
    );
    assert.ok(s.text.startsWith(CLASSES[s.index]), s.text);
  });
}

describe('examples/browser in headless Chromium', { skip }, () => {
  it('classifies a picked and a dropped image with the exported model, as lape does', async () => {
    assert.ok(browser && server);
    const page = await browser.newPage();
    const errors: string[] = [];
    const foreign: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('response', (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
    page.on('request', (r) => {
      if (
        !r.url().startsWith(server?.url ?? '') &&
        !r.url().startsWith('blob:') &&
        !r.url().startsWith('data:')
      )
        foreign.push(r.url());
    });
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="1"], body[data-error="1"]', { timeout: 60_000 });
    assert.equal(
      await page.getAttribute('body', 'data-error'),
      null,
      (await page.textContent('#status')) ?? '',
    );

    await page.setInputFiles('#file', images[0]);
    assertSameTop5(await shownTop5(page, 1), expected[0]);

    // A drop: a DataTransfer holding the second image, dispatched on the drop zone.
    const bytes = readFileSync(images[1]).toString('base64');
    const transfer = await page.evaluateHandle((b64) => {
      const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bin], 'dropped.png', { type: 'image/png' }));
      return dt;
    }, bytes);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
    assertSameTop5(await shownTop5(page, 2), expected[1]);

    assert.deepEqual(errors, []);
    assert.deepEqual(foreign, []);
    await page.close();
  });
});
