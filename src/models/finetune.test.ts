/**
 * `--finetune` adaptation against PyTorch: position tables resized by F.interpolate(mode='bicubic',
 * align_corners=False) as DeiT (pos_embed) and Swin (relative-position tables) do it (fixtures:
 * scripts/fixtures/make_finetune_ema_fixtures.py).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromFloat32, toFloat32, type StateDict } from '../io/host_tensor.js';
import { assertClose, readJsonFixture, type JsonTensor } from '../../test/util.js';
import { adaptForFinetune, resizeBicubic } from './finetune.js';
import { createModel, type ModelOverrides } from './registry.js';
import { exportWeights, loadWeights } from './weights.js';

interface PlaneCase {
  channels: number;
  h: number;
  w: number;
  nh: number;
  nw: number;
  input: JsonTensor;
  expected: JsonTensor;
}
interface CheckpointCase {
  name: string;
  model: string;
  overrides: ModelOverrides;
  fromImgSize: number;
  toImgSize: number;
  toNumClasses: number;
  tensors: Record<string, { source: JsonTensor; expected: JsonTensor }>;
}

const fx = readJsonFixture<{ planes: PlaneCase[]; checkpoints: CheckpointCase[] }>('models/finetune.json');

/** Float32 results of a float64 resize on both sides: equal up to the last bit of float32. */
const close = (got: Float32Array, want: JsonTensor, what: string): void =>
  assertClose(got, want.data, 1e-6, 1e-6, what);

describe('finetune: bicubic resizing as F.interpolate(bicubic, align_corners=False)', () => {
  for (const c of fx.planes) {
    it(`${c.channels} planes ${c.h}x${c.w} -> ${c.nh}x${c.nw}`, () => {
      const out = resizeBicubic(Float32Array.from(c.input.data), c.channels, c.h, c.w, c.nh, c.nw);
      close(out, c.expected, `${c.h}x${c.w} -> ${c.nh}x${c.nw}`);
    });
  }

  for (const c of fx.checkpoints) {
    it(`adapts a checkpoint: ${c.name}`, () => {
      const source = createModel(c.model, { ...c.overrides, imgSize: c.fromImgSize }, { seed: 1 });
      const target = createModel(c.model, {
        ...c.overrides,
        imgSize: c.toImgSize,
        numClasses: c.toNumClasses,
      });
      const sd: StateDict = exportWeights(source);
      for (const [k, t] of Object.entries(c.tensors)) {
        assert.deepEqual(sd.get(k)?.shape, t.source.shape, `${k}: the fixture fits ${c.model}`);
        sd.set(k, fromFloat32(t.source.shape, Float32Array.from(t.source.data)));
      }
      const lines: string[] = [];
      const adapted = adaptForFinetune(target, sd, (l) => lines.push(l));
      for (const [k, t] of Object.entries(c.tensors)) {
        const got = adapted.get(k);
        assert.ok(got, `${k} kept`);
        assert.deepEqual(got.shape, t.expected.shape, `${k} shape`);
        close(toFloat32(got), t.expected, k);
        assert.ok(
          lines.some((l) => l.startsWith(`finetune: resized ${k} `)),
          `a log line for ${k}: ${lines.join(' | ')}`,
        );
      }
      // The classifier of another size is dropped, the model keeps its own fixed tables (RPE index);
      // everything else loads as is.
      assert.ok(!adapted.has('head.weight') && !adapted.has('head.bias'), 'a new classifier');
      const report = loadWeights(target, adapted, { strict: false });
      assert.deepEqual(report.unexpected, []);
      assert.deepEqual(report.mismatched, []);
      assert.deepEqual(
        report.missing.filter((k) => !/^head(_dist)?\./.test(k) && !k.endsWith('.relative_position_index')),
        [],
        'only the classifier and fixed tables are missing',
      );
      const untouched = 'blocks.0.mlp.fc1.weight';
      assert.deepEqual(toFloat32(adapted.get(untouched) as never), source.stateDict().get(untouched)?.data);
      source.dispose();
      target.dispose();
    });
  }

  it('drops fixed tables (sinusoids, RPE index) so the model rebuilds them for its grid', () => {
    const source = createModel('lape_tiny', { pe: '1D_sin', rpe: 'basic', imgSize: 16 });
    const target = createModel('lape_tiny', { pe: '1D_sin', rpe: 'basic', imgSize: 28 });
    const adapted = adaptForFinetune(target, exportWeights(source), () => {});
    assert.ok(!adapted.has('pos_embed'));
    assert.ok(!adapted.has('blocks.0.attn.relative_position_index'));
    assert.ok(adapted.has('blocks.0.attn.relative_position_bias_table'));
    source.dispose();
    target.dispose();
  });

  it('names a position table that is not a square grid plus the prefix tokens', () => {
    const target = createModel('lape_tiny', { imgSize: 28 });
    const sd: StateDict = exportWeights(target);
    sd.set('pos_embed', fromFloat32([1, 1 + 15, 32], new Float32Array(16 * 32)));
    assert.throws(
      () => adaptForFinetune(target, sd, () => {}),
      /finetune: pos_embed of shape 1x16x32 is not a square grid plus 1 prefix tokens/,
    );
    target.dispose();
  });
});
