/**
 * `lape export` and `exportOnnx`: the reference models (PyTorch checkpoints of every PE type and join,
 * RPE, distillation, CCT) exported through the CLI run in onnxruntime-node within 1e-4 of PyTorch's
 * logits and of lape's own at other batch sizes (the batch axis is dynamic), pass the ONNX checker, and
 * bad input fails cleanly without leaving a partial file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { noGrad } from '../../src/autograd/tape.js';
import { main } from '../../src/cli/index.js';
import { decodeOnnxModel } from '../../src/export/onnx_proto.js';
import { exportGraph, exportOnnx } from '../../src/export/onnx.js';
import { toFloat32 } from '../../src/io/host_tensor.js';
import { readNpy } from '../../src/io/npy.js';
import { writePth } from '../../src/io/pth.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { readStateDict } from '../../src/io/pth.js';
import { configFromFlat, createModel, type ModelOverrides } from '../../src/models/registry.js';
import { VisionTransformer } from '../../src/models/vision_transformer.js';
import { exportWeights, loadWeights } from '../../src/models/weights.js';
import { saveCheckpoint } from '../../src/models/checkpoint.js';
import { bceWithLogits } from '../../src/ops/bce_with_logits.js';
import { memoryInfo, tidy } from '../../src/tensor/memory.js';
import { Rng } from '../../src/tensor/random.js';
import { assertClose, randTensor, readJsonFixture } from '../util.js';

type FixtureConfig = ModelOverrides & {
  imgSize: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  normEps: number;
};
interface ManifestEntry {
  name: string;
  config: FixtureConfig;
  files: { state_dict: string; input: string; logits: string };
}

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (f: string): string => join(root, 'test/fixtures/models', f);
const manifest = readJsonFixture<{ configs: ManifestEntry[] }>('models/manifest.json');
const python = '/usr/bin/python3';
const hasOnnx = spawnSync(python, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;

/** The `lape export` flags of a fixture config: a registry variant plus overrides, as a user would pass. */
function cliFlags(c: FixtureConfig): string[] {
  const size = ['--img-size', String(c.imgSize), '--embed-dim', String(c.embedDim)];
  size.push(
    '--depth',
    String(c.depth),
    '--num-heads',
    String(c.numHeads),
    '--nb-classes',
    String(c.numClasses),
  );
  let model: string;
  if (c.tokenizer === 'cct') model = 'cct_7_3x1';
  else if (c.distilled) model = 'deit_tiny_distilled_patch16_224';
  else if (c.normEps === 1e-5) model = 'vit_lite_7_4';
  else model = 'lape_tiny';
  if (model === 'deit_tiny_distilled_patch16_224')
    size.push('--patch-size', String(c.patchSize), '--mlp-ratio', String(c.mlpRatio));
  const pe =
    c.pe === 'none' && c.rpe !== 'none'
      ? ['--pe', '2D_RPE', '--join-type', c.rpe as string]
      : ['--pe', c.pe as string, '--join-type', c.join as string, '--rpe', c.rpe as string];
  return ['--model', model, ...size, ...pe];
}

function lapeModel(entry: ManifestEntry): VisionTransformer {
  const m = new VisionTransformer(configFromFlat(entry.config));
  loadWeights(m, readStateDict(fixture(entry.files.state_dict)).stateDict, { strict: true });
  return m.eval();
}

async function runOnnx(session: ort.InferenceSession, x: Float32Array, dims: number[]): Promise<ort.Tensor> {
  const out = await session.run({ pixel_values: new ort.Tensor('float32', x, dims) });
  return out.logits;
}

/** Runs the CLI in this process (the same `main` bin/lape.js runs); returns its exit code. */
async function lapeInProcess(args: string[]): Promise<number> {
  // main reads process.exitCode, which the test runner sets to 1 once any test has failed.
  const saved = process.exitCode;
  process.exitCode = undefined;
  try {
    return await main(args);
  } finally {
    process.exitCode = saved;
  }
}

function lapeSpawned(args: string[], shellPrefix = ''): { status: number; stderr: string } {
  const cmd = `${shellPrefix} exec "${process.execPath}" --import tsx scripts/lape-dev.ts "$@"`;
  const r = spawnSync('bash', ['-c', cmd, 'lape', ...args], { cwd: root, encoding: 'utf8' });
  return { status: r.status ?? -1, stderr: r.stderr };
}

describe('lape export --format onnx: the reference checkpoints in onnxruntime-node', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lape-onnx-'));
  const exported: string[] = [];
  it('the fixtures cover every PE type and join, RPE, distillation and CCT', () => {
    const names = manifest.configs.map((c) => c.name);
    for (const pe of ['learnable', '1D_sin', '2D_sin'])
      for (const join_ of ['basic', 'share', 'LaPE', 'LaPE-shared'])
        assert.ok(names.includes(`tiny_${pe}_${join_}`), `${pe} ${join_}`);
    for (const n of ['tiny_learnable_unshare', 'tiny_2D_RPE_LN', 'tiny_distilled_LaPE', 'tiny_cct_LaPE'])
      assert.ok(names.includes(n), n);
  });

  for (const entry of manifest.configs) {
    it(`${entry.name}: logits within 1e-4 of PyTorch's, and of lape's at batch 1 and 5`, async () => {
      const out = join(dir, `${entry.name}.onnx`);
      const flags = cliFlags(entry.config);
      const code = await lapeInProcess([
        'export',
        '--resume',
        fixture(entry.files.state_dict),
        ...flags,
        '--output',
        out,
      ]);
      assert.equal(code, 0, `lape export ${flags.join(' ')} failed`);
      exported.push(out);
      const session = await ort.InferenceSession.create(out);
      assert.deepEqual(session.inputNames, ['pixel_values']);
      assert.deepEqual(session.outputNames, ['logits']);

      const x = readNpy(fixture(entry.files.input));
      const logits = await runOnnx(session, toFloat32(x), x.shape);
      assert.deepEqual(logits.dims, [2, 10]);
      assertClose(
        logits.data as Float32Array,
        toFloat32(readNpy(fixture(entry.files.logits))),
        1e-4,
        0,
        'vs PyTorch',
      );

      const model = lapeModel(entry);
      const rng = new Rng(5);
      for (const batch of [1, 5]) {
        const want = noGrad(() =>
          tidy(() => {
            const input = randTensor([batch, 3, 16, 16], rng, 2);
            return {
              data: Float32Array.from(input.data),
              logits: Float32Array.from(model.forward(input).logits.data),
            };
          }),
        );
        const got = await runOnnx(session, want.data, [batch, 3, 16, 16]);
        assert.deepEqual(got.dims, [batch, 10]);
        assertClose(got.data as Float32Array, want.logits, 1e-4, 0, `vs lape at batch ${batch}`);
      }
      model.dispose();
      await session.release();
    });
  }

  it(
    'every export passes the ONNX checker (full check), opset 17, dynamic batch',
    { skip: !hasOnnx && `needs ${python} with onnx (Debian python3-onnx)` },
    () => {
      assert.equal(exported.length, manifest.configs.length, 'the exports above ran');
      const script = `
import sys, onnx
for f in sys.argv[1:]:
    m = onnx.load(f)
    onnx.checker.check_model(m, full_check=True)
    assert m.opset_import[0].version == 17, f
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 16, 16], (f, dims)
    assert [o.name for o in m.graph.output] == ['logits'], f
print('checked', len(sys.argv) - 1)
`;
      const r = spawnSync(python, ['-c', script, ...exported], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`checked ${exported.length}`));
    },
  );
});

describe('exportOnnx', () => {
  const entry = manifest.configs.find((c) => c.name === 'tiny_learnable_LaPE') as ManifestEntry;

  it('names parameters by their state-dict keys, records the config, restores training mode, leaks nothing', () => {
    const model = lapeModel(entry).train();
    const before = memoryInfo().tensors;
    const bytes = exportOnnx(model, { metadata: { note: 'x' } });
    assert.equal(memoryInfo().tensors, before, 'tensors left behind by the trace');
    assert.equal(model.training, true);
    const m = decodeOnnxModel(bytes) as {
      graph: { initializer: { name: string }[] };
      metadata_props: { key: string; value: string }[];
      opset_import: { version: number }[];
    };
    const names = m.graph.initializer.map((t) => t.name);
    for (const k of [
      'pos_embed',
      'cls_token',
      'blocks.1.pe_norm.weight',
      'blocks.0.attn.qkv.weight',
      'head.bias',
    ])
      assert.ok(names.includes(k), k);
    const meta = Object.fromEntries(m.metadata_props.map((p) => [p.key, p.value]));
    assert.equal(JSON.parse(meta['lape.config']).join, 'LaPE');
    assert.equal(meta.note, 'x');
    assert.equal(m.opset_import[0].version, 17);
    model.dispose();
  });

  it('exports at opsets 18 and 21 as well', async () => {
    const model = lapeModel(entry);
    const x = readNpy(fixture(entry.files.input));
    for (const opset of [18, 21]) {
      const session = await ort.InferenceSession.create(exportOnnx(model, { opset }));
      const logits = await runOnnx(session, toFloat32(x), x.shape);
      assertClose(
        logits.data as Float32Array,
        toFloat32(readNpy(fixture(entry.files.logits))),
        1e-4,
        0,
        `opset ${opset}`,
      );
    }
    model.dispose();
  });

  it('an unsupported option, opset or op is named', () => {
    const model = lapeModel(entry);
    assert.throws(() => exportOnnx(model, { opset: 13 }), /opset 13.*17\.\.21/);
    assert.throws(
      () => exportOnnx(model, { dynamicAxes: false } as never),
      /unsupported ONNX export option 'dynamicAxes'/,
    );
    assert.throws(() => exportOnnx(model, { metadata: { n: 1 } } as never), /metadata 'n' must be a string/);
    assert.throws(
      () =>
        exportGraph(
          {
            module: model,
            sampleShape: [4],
            forward: (x) => bceWithLogits(x, x),
            docString: '',
            metadata: {},
          },
          17,
        ),
      /cannot export op 'bceWithLogits'/,
    );
    model.dispose();
  });
});

describe('lape export: safetensors and bad input', () => {
  const entry = manifest.configs.find((c) => c.name === 'tiny_2D_RPE_LN') as ManifestEntry;
  const ckpt = fixture(entry.files.state_dict);
  const flags = cliFlags(entry.config);

  it('safetensors holds the checkpoint under the reference names, and loads back strictly', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'lape-st-')), 'model.safetensors');
    assert.equal(await lapeInProcess(['export', '--resume', ckpt, ...flags, '--output', out]), 0);
    const { tensors, metadata } = readSafetensors(out);
    const want = readStateDict(ckpt).stateDict;
    assert.deepEqual([...tensors.keys()].sort(), [...want.keys()].sort());
    for (const [k, t] of want) {
      assert.deepEqual(tensors.get(k)?.shape, t.shape, k);
      assert.equal(tensors.get(k)?.dtype, t.dtype, k);
      assert.deepEqual(tensors.get(k)?.data, t.data, k);
    }
    assert.equal(metadata.format, 'pt');
    const again = new VisionTransformer(configFromFlat(entry.config));
    loadWeights(again, tensors, { strict: true });
    again.dispose();
  });

  it('a checkpoint saved by lape exports with no model flags (the checkpoint names its model)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lape-own-'));
    const model = createModel('lape_fmnist', { join: 'LaPE-shared', depth: 1, numClasses: 4 }, { seed: 3 });
    saveCheckpoint(join(dir, 'ck.pth'), model);
    const out = join(dir, 'model.onnx');
    assert.equal(await lapeInProcess(['export', '--resume', join(dir, 'ck.pth'), '--output', out]), 0);
    const session = await ort.InferenceSession.create(out);
    const x = randTensor([3, 1, 28, 28], new Rng(1), 2).keep();
    const want = noGrad(() => tidy(() => Float32Array.from(model.eval().forward(x).logits.data)));
    const got = await runOnnx(session, Float32Array.from(x.data), [3, 1, 28, 28]);
    assert.deepEqual(got.dims, [3, 4]);
    assertClose(got.data as Float32Array, want, 1e-4, 0, 'lape-saved checkpoint');
    x.dispose();
    model.dispose();
  });

  it('names a bad --opset, an --opset without ONNX, and a missing --format', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'lape-bad-')), 'model');
    let r = lapeSpawned(['export', '--resume', ckpt, ...flags, '--output', `${out}.onnx`, '--opset', '12']);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--opset expects an integer in 17\.\.21/);
    r = lapeSpawned([
      'export',
      '--resume',
      ckpt,
      ...flags,
      '--output',
      `${out}.st`,
      '--format',
      'safetensors',
      '--opset',
      '17',
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--opset applies to --format onnx only/);
    r = lapeSpawned(['export', '--resume', ckpt, ...flags, '--output', `${out}.bin`]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--format is required/);
    for (const line of r.stderr.split('\n')) assert.doesNotMatch(line, /^\s+at /, 'no stack trace');
  });

  it('an unwritable output path fails naming the file and leaves nothing behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lape-unwritable-'));
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    for (const out of [join(file, 'model.onnx'), join(dir, 'missing', 'model.onnx')]) {
      assert.equal(await lapeInProcess(['export', '--resume', ckpt, ...flags, '--output', out]), 1);
      assert.ok(!existsSync(out));
    }
    assert.deepEqual(readdirSync(dir), ['not-a-folder']);
  });

  it('a write that fails midway (file size limit, as a full disk) keeps the old file and leaves no temporary', () => {
    // Big enough that the ONNX file (about 1.6 MB) passes the 512 KiB limit of the child shell;
    // node ignores SIGXFSZ, so the write fails with EFBIG as it would with ENOSPC on a full disk.
    const dir = mkdtempSync(join(tmpdir(), 'lape-full-'));
    const model = createModel('lape_tiny', { embedDim: 128, numHeads: 4 });
    const ck = join(dir, 'ck.pth');
    writePth(ck, new Map([['model', exportWeights(model)]]));
    model.dispose();
    const out = join(dir, 'model.onnx');
    writeFileSync(out, 'previous export');
    const args = ['export', '--resume', ck, '--model', 'lape_tiny', '--embed-dim', '128', '--num-heads', '4'];
    const r = lapeSpawned([...args, '--output', out], 'ulimit -f 512;');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /model\.onnx: cannot write: .*(EFBIG|too large)/i);
    assert.equal(readFileSync(out, 'utf8'), 'previous export');
    assert.deepEqual(readdirSync(dir).sort(), ['ck.pth', 'model.onnx']);
    // Without the limit the same command succeeds (so the limit, not the command, made it fail).
    assert.equal(lapeSpawned([...args, '--output', out]).status, 0);
    assert.ok(readFileSync(out).length > 512 * 1024);
  });
});
