/**
 * Every position-embedding type and join method against PyTorch: checkpoints written by the PyTorch
 * statement of the models (scripts/fixtures/reference_model.py) load strictly, and the logits and the
 * gradients of every parameter match, on every backend.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { backward } from '../../src/autograd/tape.js';
import { toFloat32 } from '../../src/io/host_tensor.js';
import { readNpy } from '../../src/io/npy.js';
import { readPth, readStateDict } from '../../src/io/pth.js';
import type { PyValue } from '../../src/io/pickle.js';
import { configFromFlat, type ModelOverrides } from '../../src/models/registry.js';
import { VisionTransformer } from '../../src/models/vision_transformer.js';
import { loadWeights } from '../../src/models/weights.js';
import { tensor, intTensor } from '../../src/ops/creation.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { add } from '../../src/ops/binary.js';
import { affine } from '../../src/ops/scalar.js';
import { tidy } from '../../src/tensor/memory.js';
import { assertClose, describeBackends, readJsonFixture } from '../util.js';

interface ManifestEntry {
  name: string;
  config: ModelOverrides & { imgSize: number; embedDim: number; depth: number; numHeads: number };
  files: {
    state_dict: string;
    input: string;
    logits: string;
    labels: string;
    grads: string;
    dist_labels?: string;
  };
}

const manifest = readJsonFixture<{ configs: ManifestEntry[] }>('models/manifest.json');
const path = (f: string): string => fileURLToPath(new URL(`../fixtures/models/${f}`, import.meta.url));

function load(entry: ManifestEntry): VisionTransformer {
  const model = new VisionTransformer(configFromFlat(entry.config));
  const { stateDict } = readStateDict(path(entry.files.state_dict));
  loadWeights(model, stateDict, { strict: true, source: entry.files.state_dict });
  return model;
}

function inputOf(entry: ManifestEntry) {
  const x = readNpy(path(entry.files.input));
  return tensor(toFloat32(x), x.shape);
}

it('the manifest covers every PE type, join, RPE, distillation and the CCT family', () => {
  const names = manifest.configs.map((c) => c.name);
  for (const want of [
    'learnable_LaPE',
    'learnable_LaPE-shared',
    'learnable_unshare',
    '1D_sin_LaPE',
    '2D_sin_LaPE',
    '2D_RPE_LN',
    'distilled_LaPE',
    'cct_LaPE',
  ]) {
    assert.ok(
      names.some((n) => n.endsWith(want)),
      `no fixture for ${want}`,
    );
  }
  for (const c of manifest.configs)
    assert.ok(c.files.grads && c.files.labels, `${c.name}: no gradient fixture`);
});

describeBackends('models match PyTorch', () => {
  for (const entry of manifest.configs) {
    it(`${entry.name}: logits`, () => {
      const model = load(entry).eval();
      tidy(() => {
        const want = readNpy(path(entry.files.logits));
        const out = model.forward(inputOf(entry));
        assert.deepEqual([...out.logits.shape], want.shape);
        assertClose(out.logits.data, toFloat32(want), 1e-4, 0, `${entry.name} logits`);
      });
      model.dispose();
    });
    const { grads, labels } = entry.files;
    it(`${entry.name}: gradients of every parameter`, () => {
      const model = load(entry).train();
      tidy(() => {
        const y = readNpy(path(labels));
        const target = intTensor(Array.from(y.data as BigInt64Array, Number));
        const out = model.forward(inputOf(entry));
        let loss;
        if (out.kind === 'distilled') {
          const d = readNpy(path(entry.files.dist_labels as string));
          const distTarget = intTensor(Array.from(d.data as BigInt64Array, Number));
          loss = add(
            affine(crossEntropy(out.cls, { kind: 'labels', labels: target }), 0.5),
            affine(crossEntropy(out.dist, { kind: 'labels', labels: distTarget }), 0.5),
          );
        } else {
          loss = crossEntropy(out.logits, { kind: 'labels', labels: target });
        }
        backward(loss);
      });
      const raw = readPth(path(grads)) as Map<string, PyValue>;
      const wantGrads = raw.get('grads') as Map<string, PyValue>;
      const params = model.namedParameters();
      assert.equal(params.length, wantGrads.size, 'number of trainable parameters');
      for (const [name, p] of params) {
        const want = wantGrads.get(name);
        assert.ok(want, `PyTorch has no gradient for ${name}`);
        assert.ok(p.grad, `no gradient reached ${name}`);
        assertClose(p.grad.data, toFloat32(want as never), 2e-4, 2e-3, `grad ${name}`);
      }
      model.dispose();
    });
  }
});
