import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { Batch } from './batch.js';
import { DataError } from './errors.js';
import { type DataLoader, type LoaderOptions, createLoader } from './loader.js';
import { DEIT_MIXUP } from './mixup.js';
import { Rng } from '../tensor/random.js';
import { MemorySource, sharedBytes, sharedInt32 } from './source.js';
import { FASHION_MNIST_STATS, IMAGENET_STATS } from './stats.js';
import { deitTrainTransform } from './transforms/pipeline.js';

/** N random 12x12 grey images with labels i % 10, on shared memory. */
function syntheticSource(n: number): MemorySource {
  const r = Rng.derive(123);
  const images = sharedBytes(n * 144);
  for (let i = 0; i < images.length; i++) images[i] = r.int(256);
  const labels = sharedInt32(n);
  for (let i = 0; i < n; i++) labels[i] = i % 10;
  const classNames = Array.from({ length: 10 }, (_, i) => `c${i}`);
  return new MemorySource({ kind: 'memory', images, labels, height: 12, width: 12, channels: 1, classNames });
}

async function collect(loader: DataLoader, epoch?: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.iterate(epoch)) out.push(b);
  return out;
}

function assertSameBatches(a: Batch[], b: Batch[], what: string): void {
  assert.equal(a.length, b.length, what);
  a.forEach((x, i) => {
    assert.equal(x.size, b[i].size, `${what}: batch ${i} size`);
    assert.deepEqual(x.labels, b[i].labels, `${what}: batch ${i} labels`);
    assert.ok(
      Buffer.from(x.images.buffer).equals(Buffer.from(b[i].images.buffer)),
      `${what}: batch ${i} images`,
    );
    assert.deepEqual(x.targets, b[i].targets, `${what}: batch ${i} targets`);
  });
}

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = join(here, '..', '..');

/** Runs a loader scenario in a fresh node process; resolves with its exit code and output. */
function runChild(
  script: string,
  mode: string,
  timeoutMs = 60_000,
): Promise<{ code: number | null; out: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: repoRoot,
      env: { ...process.env, LAPE_MODE: mode },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: Date.now() - t0 });
    });
  });
}

describe('DataLoader', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lape-loader-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const base = (source: LoaderOptions['source']): LoaderOptions => ({
    source,
    transform: deitTrainTransform({ size: 12, channels: 3, normalize: FASHION_MNIST_STATS }),
    batchSize: 8,
    shuffle: true,
    seed: 5,
    dropLast: false,
    mixup: DEIT_MIXUP,
  });

  it('gives identical batches for 0, 1, 2 and 3 workers; epochs differ', async () => {
    const source = syntheticSource(50);
    const inline = await createLoader({ ...base(source), workers: 0 });
    assert.deepEqual([inline.numSamples, inline.numBatches], [50, 7]);
    const ref = await collect(inline);
    assert.deepEqual(
      ref.map((b) => b.size),
      [8, 8, 8, 8, 8, 8, 2],
    );
    for (const b of ref) {
      assert.equal(b.images.length, b.size * 3 * 12 * 12);
      assert.ok(b.targets !== null && b.targets.length === b.size * 10);
      for (let i = 0; i < b.size; i++) {
        const row = b.targets.subarray(i * 10, i * 10 + 10);
        assert.ok(Math.abs(row.reduce((x, y) => x + y, 0) - 1) < 1e-5, 'soft targets sum to 1');
      }
    }
    const labels = ref.flatMap((b) => [...b.labels]).sort((x, y) => x - y);
    assert.deepEqual(
      labels,
      Array.from({ length: 50 }, (_, i) => i % 10).sort((x, y) => x - y),
      'each sample once',
    );
    for (const workers of [1, 2, 3]) {
      const pooled = await createLoader({ ...base(source), workers, prefetch: 2 });
      assertSameBatches(await collect(pooled), ref, `${workers} workers`);
    }
    const epoch1 = await collect(inline, 1);
    assert.notDeepEqual(epoch1[0].labels, ref[0].labels);
    const twice = await collect(await createLoader({ ...base(source), workers: 2, epoch: 1 }));
    assertSameBatches(twice, epoch1, 'epoch option = iterate(epoch)');
  });

  it('is worker-count independent on Fashion-MNIST too (first batches, then break)', async (t) => {
    const options = (workers: number, source: LoaderOptions['source']): LoaderOptions => ({
      source,
      transform: deitTrainTransform({ size: 28, channels: 1, normalize: FASHION_MNIST_STATS }),
      batchSize: 64,
      shuffle: true,
      seed: 3,
      workers,
      dropLast: true,
      mixup: DEIT_MIXUP,
    });
    let inlineLoader: DataLoader;
    try {
      inlineLoader = await createLoader(options(0, { kind: 'fashion-mnist', split: 'train' }));
    } catch (e) {
      if (!(e instanceof DataError && /no such folder/.test(e.message))) throw e;
      t.skip('Fashion-MNIST is not installed');
      return;
    }
    const firstFive = async (loader: DataLoader): Promise<Batch[]> => {
      const out: Batch[] = [];
      for await (const b of loader) {
        out.push(b);
        if (out.length === 5) break;
      }
      return out;
    };
    assert.equal(inlineLoader.numBatches, 937);
    const inline = await firstFive(inlineLoader);
    const pooled = await firstFive(await createLoader(options(2, inlineLoader.source)));
    assertSameBatches(pooled, inline, 'Fashion-MNIST');
  });

  it('supports dropLast, repeated augmentation, label smoothing without mixup and plain labels', async () => {
    const source = syntheticSource(600);
    const ra = await createLoader({
      ...base(source),
      mixup: null,
      labelSmoothing: 0.1,
      batchSize: 100,
      dropLast: true,
      workers: 0,
      repeatedAugmentation: { repeats: 3, multipleOf: 256 },
    });
    assert.deepEqual([ra.numSamples, ra.numBatches], [512, 5]);
    const [first] = await collect(ra);
    assert.equal(first.labels[0], first.labels[1]);
    assert.equal(first.labels[0], first.labels[2]);
    assert.ok(
      first.images.subarray(0, 432).some((v, i) => v !== first.images[432 + i]),
      'the copies of an image are augmented differently',
    );
    assert.ok(first.targets !== null);
    assert.ok(Math.abs(first.targets[first.labels[0]] - (0.9 + 0.01)) < 1e-6, 'on value 1 - 0.1 + 0.1 / 10');
    const hard = await createLoader({ ...base(source), mixup: null, workers: 0, shuffle: false });
    const [b0] = await collect(hard);
    assert.equal(b0.targets, null);
    assert.deepEqual([...b0.labels], [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('rejects bad options before starting any worker', async () => {
    const source = syntheticSource(10);
    await assert.rejects(createLoader({ ...base(source), batchSize: 0 }), DataError);
    await assert.rejects(
      createLoader({ ...base(source), batchSize: 11, dropLast: true }),
      /expected at most the 10 samples/,
    );
    await assert.rejects(createLoader({ ...base(source), workers: -1 }), /workers/);
    await assert.rejects(createLoader({ ...base(source), mixup: { ...DEIT_MIXUP, prob: 3 } }), /mixup\.prob/);
  });

  it('loads image folders through workers exactly as inline, warning once per bad file', async () => {
    const root = join(dir, 'folder');
    for (const cls of ['a', 'b']) {
      await mkdir(join(root, 'train', cls), { recursive: true });
      for (let i = 0; i < 5; i++) {
        const r = Rng.derive(i, cls.charCodeAt(0));
        const px = Buffer.from(Uint8Array.from({ length: 20 * 16 * 3 }, () => r.int(256)));
        await sharp(px, { raw: { width: 20, height: 16, channels: 3 } })
          .png()
          .toFile(join(root, 'train', cls, `${i}.png`));
      }
    }
    await writeFile(join(root, 'train', 'b', '9.jpg'), 'garbage');
    const opts = (workers: number, warnings: string[]): LoaderOptions => ({
      source: { kind: 'image-folder', path: root, split: 'train', skipBadImages: true },
      transform: deitTrainTransform({ size: 36, channels: 3, normalize: IMAGENET_STATS }),
      batchSize: 4,
      shuffle: true,
      seed: 1,
      workers,
      onWarning: (line) => warnings.push(line),
    });
    const w0: string[] = [];
    const w2: string[] = [];
    const inline = await collect(await createLoader(opts(0, w0)));
    const pooled = await collect(await createLoader(opts(2, w2)));
    assertSameBatches(pooled, inline, 'image folder');
    assert.equal(w0.length, 1);
    assert.deepEqual(w2, w0);
    assert.match(w0[0], /9\.jpg/);
  });

  it('propagates a worker error to the consumer as a DataError naming the file', async () => {
    const root = join(dir, 'broken');
    await mkdir(join(root, 'train', 'a'), { recursive: true });
    await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } })
      .png()
      .toFile(join(root, 'train', 'a', '0.png'));
    await writeFile(join(root, 'train', 'a', '1.png'), 'not a png');
    const loader = await createLoader({
      source: { kind: 'image-folder', path: root, split: 'train' },
      transform: deitTrainTransform({ size: 36, channels: 3, normalize: IMAGENET_STATS }),
      batchSize: 1,
      shuffle: false,
      seed: 0,
      workers: 2,
    });
    const sizes: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const b of loader) sizes.push(b.size);
      })(),
      (e: unknown) => {
        assert.ok(e instanceof DataError, String(e));
        assert.equal(e.path, join(root, 'train', 'a', '1.png'));
        return true;
      },
    );
    assert.deepEqual(sizes, [1], 'the good batch before the bad one was delivered');
  });

  it('never leaves a process hanging: full run, break, abandoned iterator, worker error', async () => {
    const loaderUrl = new URL('./loader.ts', import.meta.url).href;
    const pipelineUrl = new URL('./transforms/pipeline.ts', import.meta.url).href;
    const statsUrl = new URL('./stats.ts', import.meta.url).href;
    const script = join(dir, 'child.mts');
    await writeFile(
      script,
      `
import { createLoader } from ${JSON.stringify(loaderUrl)};
import { deitTrainTransform } from ${JSON.stringify(pipelineUrl)};
import { FASHION_MNIST_STATS } from ${JSON.stringify(statsUrl)};
const mode = process.env.LAPE_MODE;
const root = mode === 'error' ? ${JSON.stringify(join(dir, 'broken'))} : ${JSON.stringify(join(dir, 'folder'))};
const loader = await createLoader({
  source: { kind: 'image-folder', path: root, split: 'train', skipBadImages: mode !== 'error' },
  transform: deitTrainTransform({ size: 36, channels: 1, normalize: FASHION_MNIST_STATS }),
  batchSize: 1, shuffle: false, seed: 0, workers: 2, prefetch: 4, onWarning: () => {},
});
let n = 0;
if (mode === 'full') { for await (const b of loader) n += b.size; }
if (mode === 'break') { for await (const b of loader) { n += b.size; break; } }
if (mode === 'abandon') { const it = loader[Symbol.asyncIterator](); n += (await it.next()).value.size; }
if (mode === 'error') { try { for await (const b of loader) n += b.size; } catch (e) { console.log('caught', e.name); } }
console.log('done', mode, n);
`,
    );
    const expected: Record<string, string> = {
      full: 'done full 11',
      break: 'done break 1',
      abandon: 'done abandon 1',
      error: 'caught DataError\ndone error 1',
    };
    for (const [mode, text] of Object.entries(expected)) {
      const r = await runChild(script, mode);
      assert.equal(r.code, 0, `${mode}: exit code (output: ${r.out})`);
      assert.ok(r.out.includes(text), `${mode}: ${r.out}`);
    }
  });
});
