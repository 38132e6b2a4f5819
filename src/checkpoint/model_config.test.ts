/**
 * The model-config resolution every command uses: flags, then the checkpoint's lape config, then the
 * reference's args, then what the state dict's keys and shapes imply; contradictions and ambiguity are
 * errors that name the flag (and the keys).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exportWeights } from '../models/weights.js';
import { createModel, type ModelOverrides } from '../models/registry.js';
import { PyObject } from '../io/pickle.js';
import type { StateDict } from '../io/host_tensor.js';
import { NO_FACTS, readFacts } from './facts.js';
import { inferFromStateDict } from './infer.js';
import { resolveModel, type CheckpointView } from './model_config.js';

function stateDictOf(name: string, o: ModelOverrides): StateDict {
  const m = createModel(name, o);
  const sd = exportWeights(m);
  m.dispose();
  return sd;
}

const view = (sd: StateDict, facts = NO_FACTS): CheckpointView => ({ label: 'ck.pth', stateDict: sd, facts });

describe('inferring the model from a state dict', () => {
  const cases: [string, ModelOverrides, ModelOverrides][] = [
    [
      'lape_tiny',
      { join: 'LaPE' },
      { pe: 'learnable', join: 'LaPE', imgSize: 16, patchSize: 4, embedDim: 32, depth: 2 },
    ],
    ['lape_tiny', { join: 'unshare' }, { pe: 'learnable', join: 'unshare' }],
    ['lape_tiny', { pe: '1D_sin', join: 'share' }, { pe: '1D_sin', join: 'basic' }],
    ['lape_tiny', { pe: '2D_sin', join: 'basic', imgSize: 32 }, { pe: '2D_sin', imgSize: 32 }],
    ['lape_tiny', { pe: '2D_RPE', join: 'LN' }, { pe: '2D_RPE', join: 'LN', numHeads: 2 }],
    [
      'lape_tiny',
      { pe: 'learnable', rpe: 'basic', join: 'LaPE' },
      { pe: 'learnable', rpe: 'basic', join: 'LaPE' },
    ],
    ['lape_tiny', { pe: 'none' }, { pe: 'none' }],
    [
      'deit_tiny_distilled_patch16_224',
      { imgSize: 48, numClasses: 7 },
      { distilled: true, imgSize: 48, numClasses: 7 },
    ],
    ['cct_7_3x1', {}, { tokenizer: 'cct', pooling: 'seq', imgSize: 32 }],
  ];
  for (const [name, o, want] of cases) {
    it(`${name} ${JSON.stringify(o)}`, () => {
      const got = inferFromStateDict(stateDictOf(name, o)).values;
      for (const [k, v] of Object.entries(want)) assert.equal(got[k as keyof ModelOverrides], v, k);
    });
  }
});

describe('resolving the model of a checkpoint', () => {
  it('a bare state dict: the matching registry variant, grid and classes from the shapes', () => {
    const r = resolveModel(
      { overrides: {} },
      view(stateDictOf('deit_small_patch16_224', { imgSize: 64, numClasses: 5, join: 'LaPE' })),
    );
    assert.equal(r.name, 'deit_small_patch16_224');
    assert.equal(r.config.imgSize, 64);
    assert.equal(r.config.numClasses, 5);
    assert.equal(r.config.join, 'LaPE');
    assert.equal(r.origins.model, 'state dict');
  });

  it("the reference's args name the variant, its input size, classes, pe and join", () => {
    const sd = stateDictOf('deit_tiny_patch16_224', {
      imgSize: 32,
      numClasses: 10,
      pe: '2D_sin',
      join: 'share',
    });
    const args = PyObject.namespace({
      model: 'deit_tiny_patch16_224',
      input_size: 32,
      nb_classes: 10,
      pe: '2D_sin',
      join_type: 'share',
      drop_path: 0.2,
    });
    const r = resolveModel({ overrides: {} }, view(sd, readFacts(new Map([['args', args]]))));
    assert.equal(r.config.join, 'share', 'share has the same keys as basic: only the args tell');
    assert.equal(r.config.dropPathRate, 0.2);
    assert.equal(r.origins.join, 'reference args');
  });

  it("lape's own config wins over its args, and flags win over both", () => {
    const sd = stateDictOf('lape_tiny', { join: 'LaPE' });
    const lape = JSON.stringify({
      model: 'lape_tiny',
      modelOverrides: { join: 'LaPE-shared', dropPathRate: 0.3 },
    });
    const facts = readFacts(
      new Map([['args', PyObject.namespace({ model: 'lape_tiny', join_type: 'LaPE', lape_config: lape })]]),
    );
    assert.equal(resolveModel({ overrides: {} }, view(sd, facts)).config.join, 'LaPE-shared');
    assert.equal(resolveModel({ overrides: { join: 'LaPE' } }, view(sd, facts)).config.join, 'LaPE');
    assert.equal(resolveModel({ overrides: { dropPathRate: 0 } }, view(sd, facts)).config.dropPathRate, 0);
  });

  it("the reference visualizer's model names: variant and join", () => {
    const sd = stateDictOf('deit_tiny_patch16_224', { join: 'LaPE' });
    const r = resolveModel({ model: 'deit_t_LaPE', overrides: {} }, view(sd));
    assert.equal(r.name, 'deit_tiny_patch16_224');
    assert.equal(r.config.join, 'LaPE');
  });

  it('contradicting flags are errors naming the flag and the keys', () => {
    const sd = stateDictOf('lape_tiny', { join: 'LaPE' });
    assert.throws(
      () => resolveModel({ model: 'lape_tiny', overrides: { join: 'basic' } }, view(sd)),
      /pe_norm\.weight.*drop --join-type/,
    );
    assert.throws(
      () => resolveModel({ model: 'lape_tiny', overrides: { pe: '2D_RPE', join: 'basic' } }, view(sd)),
      /relative_position_bias_table.*--pe/,
    );
    assert.throws(
      () => resolveModel({ model: 'lape_tiny', overrides: { embedDim: 64 } }, view(sd)),
      /embedDim 32 \(patch_embed\.proj\.weight \[32, 3, 4, 4\]\).*--embed-dim/,
    );
    assert.throws(
      () => resolveModel({ model: 'lape_tiny', overrides: { imgSize: 32 } }, view(sd)),
      /4x4 patch grid.*--img-size/,
    );
    assert.throws(
      () => resolveModel({ model: 'deit_small_patch16_224', overrides: {} }, view(sd)),
      /model deit_small_patch16_224 \(--model\) has embedDim 384.*pass --embed-dim/,
    );
    assert.throws(() => resolveModel({ overrides: { numClasses: 3 } }, view(sd)), /--nb-classes/);
  });

  it('a shape no variant has needs --num-heads (the weights do not show it), then builds', () => {
    const sd = stateDictOf('lape_tiny', { embedDim: 48, depth: 3, numHeads: 4 });
    assert.throws(
      () => resolveModel({ overrides: {} }, view(sd)),
      /cannot tell the number of attention heads .*pass --num-heads/,
    );
    const r = resolveModel({ overrides: { numHeads: 4 } }, view(sd));
    assert.deepEqual([r.config.embedDim, r.config.depth, r.config.numHeads], [48, 3, 4]);
  });

  it('no checkpoint: the flags on the default model', () => {
    const r = resolveModel({ overrides: { pe: '2D_sin' } }, null, { defaultModel: 'lape_tiny' });
    assert.equal(r.name, 'lape_tiny');
    assert.equal(r.config.pe.kind, '2D_sin');
    assert.throws(() => resolveModel({ overrides: {} }, null), /pass --model/);
  });
});
