/**
 * The public API (src/index.ts) as a library user calls it: checkpoints round-trip (and PyTorch reads
 * them), evaluation and prediction agree with the model's forward, and library calls print nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import {
  ampAvailable,
  autocast,
  availableBackends,
  bf16Support,
  configFromFlat,
  createModel,
  defaultTrainConfig,
  evaluate,
  exportOnnx,
  listModels,
  loadCheckpoint,
  modelNames,
  noGrad,
  positionSimilarity,
  predict,
  resolveConfig,
  saveCheckpoint,
  tensor,
  tidy,
  topClasses,
  train,
  type ModelOverrides,
} from '../../src/index.js';
import { toFloat32 } from '../../src/io/host_tensor.js';
import { readNpy } from '../../src/io/npy.js';
import { flatOverrides } from '../../src/models/checkpoint.js';
import { parameterCount } from '../../src/models/flops.js';
import { Rng } from '../../src/tensor/random.js';
import { makeImageFolder } from '../train/helpers.js';
import { randTensor } from '../util.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (f: string): string => join(root, 'test/fixtures/models', f);
const python = '/usr/bin/python3';
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

const VARIANTS: ModelOverrides[] = [
  { pe: 'learnable', join: 'LaPE' },
  { pe: 'learnable', join: 'unshare' },
  { pe: '1D_sin', join: 'LaPE-shared' },
  { pe: '2D_sin', join: 'share' },
  { pe: 'none', join: 'basic' },
  { pe: '2D_RPE', join: 'LN' },
  { pe: 'learnable', join: 'LaPE', rpe: 'basic' },
];

/** Captures everything written to stdout and stderr while `fn` runs. */
async function captureOutput<T>(fn: () => Promise<T> | T): Promise<{ result: T; written: string }> {
  let written = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const grab = (chunk: unknown): boolean => {
    written += String(chunk);
    return true;
  };
  process.stdout.write = grab as typeof process.stdout.write;
  process.stderr.write = grab as typeof process.stderr.write;
  try {
    return { result: await fn(), written };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

describe('public API', () => {
  it('listModels lists every variant with its parameter count', () => {
    const models = listModels();
    assert.deepEqual(
      models.map((m) => m.name),
      modelNames(),
    );
    for (const m of models) assert.equal(m.params, parameterCount(resolveConfig(m.name, { join: 'LaPE' })));
    const tiny = models.find((m) => m.name === 'deit_tiny_patch16_224');
    assert.deepEqual(tiny?.input, { channels: 3, size: 224 });
  });

  it('a config survives the flat form a checkpoint records, for every variant, PE and join', () => {
    for (const name of modelNames()) {
      for (const v of VARIANTS) {
        const cfg = resolveConfig(name, v);
        assert.deepEqual(
          configFromFlat({ ...flatOverrides(cfg) } as never),
          cfg,
          `${name} ${JSON.stringify(v)}`,
        );
        assert.deepEqual(resolveConfig('lape_tiny', flatOverrides(cfg)), cfg, `${name} via lape_tiny`);
      }
    }
  });

  it('saveCheckpoint then loadCheckpoint gives the same model, with no model name needed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lape-api-ck-'));
    for (const [i, v] of VARIANTS.entries()) {
      const model = createModel('lape_tiny', { ...v, embedDim: 16, numClasses: 7 }, { seed: i });
      const path = join(dir, `m${i}.pth`);
      saveCheckpoint(path, model);
      const { model: back, name } = loadCheckpoint(path);
      assert.equal(name, 'lape_tiny');
      assert.deepEqual(back.config, model.config);
      for (const [k, t] of model.stateDict()) {
        const u = back.stateDict().get(k);
        assert.ok(u, k);
        assert.deepEqual(
          Array.from(t.dtype === 'int32' ? t.ints : t.data),
          Array.from(u.dtype === 'int32' ? u.ints : u.data),
          k,
        );
      }
      model.dispose();
      back.dispose();
    }
    // The closest registry variant names the model: a distilled DeiT stays a distilled DeiT.
    const deit = createModel('deit_tiny_distilled_patch16_224', { depth: 1, numClasses: 3 });
    saveCheckpoint(join(dir, 'deit.pth'), deit);
    assert.equal(loadCheckpoint(join(dir, 'deit.pth')).name, 'deit_tiny_distilled_patch16_224');
    deit.dispose();
    assert.throws(
      () => saveCheckpoint(join(dir, 'x.pth'), deit, { name: 'nope' }),
      /unknown model name 'nope'/,
    );
  });

  it(
    'PyTorch reads a saved checkpoint: the reference state dict under "model"',
    { skip: !hasTorch && 'needs torch' },
    () => {
      const path = join(mkdtempSync(join(tmpdir(), 'lape-api-torch-')), 'm.pth');
      const model = createModel('lape_tiny', { pe: '2D_RPE', join: 'LN' });
      saveCheckpoint(path, model);
      const script = `
import sys, torch
ck = torch.load(sys.argv[1], map_location='cpu')
sd = ck['model']
print(len(sd), sum(float(t.double().sum()) for t in sd.values() if t.is_floating_point()), ck['args'].model)
`;
      const r = spawnSync(python, ['-c', script, path], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const [count, total, name] = r.stdout.trim().split(' ');
      const sd = model.stateDict();
      assert.equal(Number(count), sd.size);
      let sum = 0;
      for (const t of sd.values()) if (t.dtype === 'float32') for (const v of t.data) sum += v;
      assert.ok(Math.abs(Number(total) - sum) < 1e-6 * Math.max(1, Math.abs(sum)));
      assert.equal(name, 'lape_tiny');
      model.dispose();
    },
  );

  it('predict and evaluate agree with the forward pass; their bad input is named', async () => {
    const { model } = loadCheckpoint(fixture('tiny_learnable_LaPE.pth'), {
      model: 'lape_tiny',
      overrides: { join: 'LaPE' },
    });
    const x = randTensor([7, 3, 16, 16], new Rng(2), 2).keep();
    const want = noGrad(() => tidy(() => Float32Array.from(model.forward(x).logits.data)));
    const got = predict(model, x, { batchSize: 3 });
    assert.deepEqual(Array.from(got), Array.from(want));
    assert.deepEqual(Array.from(predict(model, Float32Array.from(x.data))), Array.from(want));
    assert.throws(() => predict(model, new Float32Array(5)), /images must be \[N, 3, 16, 16\]/);

    // Labels: the argmax for rows 0-3 (top-1 hits), a class that is not even in the top 5 for 4-6.
    const top = topClasses(want, 10, 10);
    const labels = top.map((row, i) => (i < 4 ? row[0].index : row[9].index));
    const r = await evaluate(
      model,
      { kind: 'tensors', images: Float32Array.from(x.data), labels },
      { batchSize: 2 },
    );
    assert.equal(r.images, 7);
    assert.ok(
      Math.abs(r.acc1 - (100 * 4) / 7) < 1e-9 && Math.abs(r.acc5 - (100 * 4) / 7) < 1e-9,
      JSON.stringify(r),
    );
    await assert.rejects(
      evaluate(model, { kind: 'tensors', images: Float32Array.from(x.data), labels: [0, 1, 2, 3, 4, 5, 10] }),
      /label 10 at 6 is outside \[0, 10\)/,
    );
    x.dispose();
    model.dispose();
  });

  it('autocast runs a forward pass in bfloat16, as predict({ amp: true }) does', () => {
    const { model } = loadCheckpoint(fixture('tiny_learnable_LaPE.pth'), {
      model: 'lape_tiny',
      overrides: { join: 'LaPE' },
    });
    const x = randTensor([4, 3, 16, 16], new Rng(3), 2).keep();
    const logits = (amp: boolean): number[] =>
      noGrad(() => tidy(() => autocast(() => model.forward(x).logits.toArray(), { enabled: amp })));
    const [f32, bf16] = [logits(false), logits(true)];
    assert.notDeepEqual(bf16, f32, 'autocast changed the arithmetic');
    // bfloat16 keeps 8 significant bits: errors of a few per cent of the logits' scale over the layers.
    const scale = Math.max(...f32.map(Math.abs));
    bf16.forEach((v, i) => assert.ok(Math.abs(v - f32[i]) < 0.03 * scale, `logit ${i}: ${v} vs ${f32[i]}`));
    // predict({ amp: true }) is autocast where the CPU runs bfloat16 natively, float32 elsewhere (as --amp).
    assert.deepEqual(Array.from(predict(model, x, { amp: true })), bf16Support().native ? bf16 : f32);
    // What the CLI asks before turning --amp on: native bfloat16 here, else one warning and float32.
    assert.equal(
      ampAvailable(true, () => undefined),
      bf16Support().native,
    );
    x.dispose();
    model.dispose();
  });

  it('autocast without bfloat16 GEMMs: predict({ amp }) falls back to float32, autocast() says why it cannot', () => {
    if (!availableBackends().includes('native')) return; // the portable backend emulates bfloat16 exactly
    const dir = mkdtempSync(join(tmpdir(), 'lape-avx2-'));
    const script = join(dir, 'amp.ts');
    writeFileSync(
      script,
      [
        `import { autocast, loadCheckpoint, noGrad, predict, Tensor } from ${JSON.stringify(join(root, 'src/index.ts'))};`,
        `const { model } = loadCheckpoint(${JSON.stringify(fixture('tiny_learnable_LaPE.pth'))}, { model: 'lape_tiny', overrides: { join: 'LaPE' } });`,
        'const x = new Float32Array(3 * 16 * 16).fill(0.5);',
        'const same = predict(model, x, { amp: true }).join() === predict(model, x).join();',
        'try { noGrad(() => autocast(() => model.forward(Tensor.fromData(x, [1, 3, 16, 16])))); console.log(same, "no error"); }',
        'catch (e) { console.log(same, (e as Error).message); }',
      ].join('\n'),
    );
    // oneDNN runs at AVX2 under this setting, as on a CPU without AVX-512: it has no bfloat16 GEMM.
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, ONEDNN_MAX_CPU_ISA: 'AVX2', LAPE_BACKEND: 'native' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^true bfloat16 matmul is not available on this CPU \(oneDNN: .*\); autocast needs AVX-512 here/,
    );
  });

  it('topClasses ranks softmax probabilities', () => {
    const logits = Float32Array.from([0, 2, 1, 0, -1, 3]);
    const [a, b] = topClasses(logits, 3, 2);
    assert.deepEqual(
      a.map((c) => c.index),
      [1, 2],
    );
    assert.deepEqual(
      b.map((c) => c.index),
      [2, 0],
    );
    const e = [Math.exp(-1), Math.exp(3)];
    assert.ok(Math.abs(b[0].probability - e[1] / (1 + e[0] + e[1])) < 1e-6);
  });

  it('library calls print nothing unless asked', async () => {
    const data = await makeImageFolder(2, 4);
    const cfg = {
      ...defaultTrainConfig(),
      model: 'lape_tiny',
      modelOverrides: { join: 'LaPE' as const },
      data: { kind: 'image-folder' as const, path: data, skipBadImages: false, workers: 0 },
      epochs: 1,
      batchSize: 4,
      ema: null,
      augment: { ...defaultTrainConfig().augment, repeatedAug: false },
      outputDir: null,
    };
    const quiet = await captureOutput(async () => {
      const r = await train(cfg);
      await evaluate(r.model, { kind: 'image-folder', path: data }, { workers: 0 });
      positionSimilarity(r.model);
      exportOnnx(r.model);
      predict(
        r.model,
        noGrad(() => tidy(() => tensor(new Float32Array(3 * 16 * 16), [1, 3, 16, 16]))),
      );
      return r;
    });
    assert.equal(quiet.written, '');
    quiet.result.model.dispose();
    const lines: string[] = [];
    const asked = await captureOutput(() => train(cfg, { log: (l) => lines.push(l) }));
    assert.equal(asked.written, '');
    assert.ok(
      lines.some((l) => l.startsWith('model lape_tiny')) && lines.some((l) => l.startsWith('epoch 1')),
      lines.join('\n'),
    );
    asked.result.model.dispose();
  });

  it('readNpy stays internal but the fixture logits match predict on the fixture input', () => {
    const { model } = loadCheckpoint(fixture('tiny_2D_RPE_LN.pth'), {
      model: 'lape_tiny',
      overrides: { pe: '2D_RPE', join: 'LN' },
    });
    const x = readNpy(fixture('tiny_2D_RPE_LN.input.npy'));
    const logits = predict(model, toFloat32(x));
    const want = toFloat32(readNpy(fixture('tiny_2D_RPE_LN.logits.npy')));
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(logits[i] - want[i]) < 1e-4);
    model.dispose();
  });
});
