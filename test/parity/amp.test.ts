/**
 * bfloat16 autocast against PyTorch's own CPU autocast, on every backend. The two round in different
 * places (PyTorch keeps every linear output in bfloat16, lape only those that feed another GEMM), so
 * neither is "the" answer: both are compared with the float64 truth, and lape's error must be no
 * larger than twice PyTorch's (plus a float32-sized slack). A second check makes sure autocast really
 * ran in bfloat16: lape's autocast error is far above its float32 error.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { backward, noGrad } from '../../src/autograd/tape.js';
import { toFloat32 } from '../../src/io/host_tensor.js';
import { readNpy } from '../../src/io/npy.js';
import { readPth, readStateDict } from '../../src/io/pth.js';
import type { PyValue } from '../../src/io/pickle.js';
import { configFromFlat, type ModelOverrides } from '../../src/models/registry.js';
import { VisionTransformer } from '../../src/models/vision_transformer.js';
import { loadWeights } from '../../src/models/weights.js';
import { autocast } from '../../src/ops/autocast.js';
import { intTensor, tensor } from '../../src/ops/creation.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { tidy } from '../../src/tensor/memory.js';
import { describeBackends, readJsonFixture } from '../util.js';

interface Entry {
  name: string;
  config: ModelOverrides & { imgSize: number; embedDim: number; depth: number; numHeads: number };
  files: Record<
    'state_dict' | 'input' | 'labels' | 'logits64' | 'logits_amp' | 'grads64' | 'grads_amp',
    string
  >;
}

const manifest = readJsonFixture<{ configs: Entry[] }>('amp/manifest.json');
const path = (f: string): string => fileURLToPath(new URL(`../fixtures/amp/${f}`, import.meta.url));
const npy = (f: string): Float32Array => toFloat32(readNpy(path(f)));

function load(entry: Entry): VisionTransformer {
  const model = new VisionTransformer(configFromFlat(entry.config));
  loadWeights(model, readStateDict(path(entry.files.state_dict)).stateDict, { strict: true });
  return model;
}

function input(entry: Entry) {
  const x = readNpy(path(entry.files.input));
  return tensor(toFloat32(x), x.shape);
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** ||a - b|| / ||b||. */
const relL2 = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
};

function gradsOf(file: string): Map<string, Float32Array> {
  const raw = (readPth(path(file)) as Map<string, PyValue>).get('grads') as Map<string, PyValue>;
  return new Map([...raw].map(([k, v]) => [k, toFloat32(v as never)]));
}

it('the autocast fixtures cover LaPE, basic and 2-D RPE models', () => {
  assert.deepEqual(
    manifest.configs.map((c) => c.name),
    ['tiny_learnable_LaPE', 'tiny_learnable_basic', 'tiny_2D_RPE_LN'],
  );
});

describeBackends('bfloat16 autocast matches PyTorch autocast', () => {
  for (const entry of manifest.configs) {
    it(`${entry.name}: logits as close to the float64 truth as PyTorch's autocast`, () => {
      const model = load(entry).eval();
      const truth = npy(entry.files.logits64);
      const torchErr = maxAbsDiff(npy(entry.files.logits_amp), truth);
      const x = input(entry);
      const fp32 = noGrad(() => tidy(() => model.forward(x).logits.toArray()));
      const amp = noGrad(() => tidy(() => autocast(() => model.forward(x).logits.toArray())));
      const ampErr = maxAbsDiff(amp, truth);
      assert.ok(
        ampErr <= 2 * torchErr + 1e-4,
        `lape autocast max |err| ${ampErr} vs PyTorch autocast ${torchErr}`,
      );
      // It did compute in bfloat16: float32 is about 1e-5 off, bfloat16 hundreds of times more.
      const fp32Err = maxAbsDiff(fp32, truth);
      assert.ok(ampErr > 50 * fp32Err, `autocast error ${ampErr} is not above float32's ${fp32Err}`);
      model.dispose();
    });

    it(`${entry.name}: every parameter gradient as close to the truth as PyTorch's autocast`, () => {
      const model = load(entry).train();
      const labels = Array.from(readNpy(path(entry.files.labels)).data as BigInt64Array, Number);
      tidy(() => {
        const loss = autocast(() =>
          crossEntropy(model.forward(input(entry)).logits, { kind: 'labels', labels: intTensor(labels) }),
        );
        backward(loss);
      });
      const truth = gradsOf(entry.files.grads64);
      const torchAmp = gradsOf(entry.files.grads_amp);
      const params = model.namedParameters();
      assert.equal(params.length, truth.size);
      for (const [name, p] of params) {
        assert.ok(p.grad, `no gradient reached ${name}`);
        assert.equal(p.grad.dtype, 'float32', `${name}'s gradient stays float32`);
        const want = truth.get(name) as Float32Array;
        const torchErr = relL2(torchAmp.get(name) as Float32Array, want);
        const err = relL2(p.grad.data, want);
        assert.ok(
          err <= 2 * torchErr + 2e-3,
          `grad ${name}: relative error ${err} vs PyTorch autocast ${torchErr}`,
        );
      }
      model.dispose();
    });
  }
});
