/**
 * The model EMA against timm's ModelEma update rule (fixtures: scripts/fixtures/make_finetune_ema_fixtures.py),
 * and its resume: from a DeiT-layout checkpoint written by PyTorch and from lape's own checkpoint.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { StateDict } from '../io/host_tensor.js';
import { readPth } from '../io/pth.js';
import { createModel } from '../models/registry.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { saveCheckpoint, readTrainingCheckpoint } from '../train/checkpoint.js';
import { defaultTrainConfig } from '../train/config.js';
import { fromJson, readJsonFixture, type JsonTensor } from '../../test/util.js';
import { AdamW } from './adamw.js';
import { ModelEma } from './ema.js';
import { IMAGENET_STATS } from '../data/stats.js';
import { LrScheduler } from './scheduler.js';
import { schedulerSettings } from '../train/train.js';

type JsonState = Record<string, JsonTensor>;
interface EmaCase {
  name: string;
  decay: number;
  resumeAfter: number;
  initial: JsonState;
  models: JsonState[];
  emas: JsonState[];
}

const fx = readJsonFixture<{ cases: EmaCase[] }>('optim/ema.json');
const resumePath = fileURLToPath(new URL('../../test/fixtures/optim/ema_resume.pth', import.meta.url));

function stateOf(json: JsonState): Map<string, Tensor> {
  return new Map(Object.entries(json).map(([k, v]) => [k, fromJson(v).keep()]));
}

/** Training moves the model's tensors in place; so does this. */
function assign(state: Map<string, Tensor>, json: JsonState): void {
  for (const [k, v] of Object.entries(json)) {
    const t = state.get(k) as Tensor;
    if (t.dtype === 'float32') t.data.set(v.data);
    else t.ints.set(v.data);
  }
}

/** Bit-identical: the rule runs in float64 on float32 values on both sides, rounded once. */
function assertSame(ema: ModelEma, want: JsonState, what: string): void {
  assert.deepEqual([...ema.shadow.keys()], Object.keys(want), `${what}: keys`);
  for (const [k, v] of Object.entries(want)) {
    const t = ema.shadow.get(k) as Tensor;
    assert.deepEqual([...t.shape], v.shape, `${what}: ${k} shape`);
    const got = t.dtype === 'float32' ? [...t.data] : [...t.ints];
    assert.deepEqual(got, [...(t.dtype === 'float32' ? Float32Array.from(v.data) : v.data)], `${what}: ${k}`);
  }
}

function dispose(state: Map<string, Tensor>): void {
  for (const t of state.values()) t.dispose();
}

describe('ModelEma', () => {
  for (const c of fx.cases) {
    it(`follows timm's ModelEma rule, ${c.name}: float entries averaged, integer buffers copied`, () => {
      const model = stateOf(c.initial);
      const ema = new ModelEma(model, c.decay);
      c.models.forEach((m, i) => {
        assign(model, m);
        ema.update(model);
        assertSame(ema, c.emas[i], `${c.name} step ${i + 1}`);
      });
      ema.dispose();
      dispose(model);
    });
  }

  it("resumes from a DeiT checkpoint's model_ema written by PyTorch", () => {
    const c = fx.cases.find((x) => x.name === 'decay 0.9') as EmaCase;
    const raw = readPth(resumePath) as Map<string, unknown>;
    const model = stateOf(c.initial);
    const ema = new ModelEma(model, c.decay);
    ema.load(raw.get('model_ema') as StateDict, resumePath);
    assertSame(ema, c.emas[c.resumeAfter - 1], 'after load');
    for (let i = c.resumeAfter; i < c.models.length; i++) {
      assign(model, c.models[i]);
      ema.update(model);
      assertSame(ema, c.emas[i], `resumed, step ${i + 1}`);
    }
    ema.dispose();
    dispose(model);
  });

  it("resumes exactly from lape's own checkpoint (saveCheckpoint -> readTrainingCheckpoint)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'lape-ema-'));
    const model = createModel('lape_tiny', { join: 'LaPE', rpe: 'LN' }, { seed: 1 });
    const optimizer = new AdamW([{ params: model.parameters() }], { lr: 1e-3 });
    const rng = new Rng(2);
    const step = (): void => {
      for (const p of model.parameters()) for (let i = 0; i < p.size; i++) p.data[i] += 0.1 * rng.normal();
    };
    const straight = new ModelEma(model.stateDict(), 0.9);
    step();
    straight.update(model.stateDict());
    const path = join(dir, 'checkpoint.pth');
    const cfg = defaultTrainConfig();
    saveCheckpoint(path, {
      model,
      optimizer,
      ema: straight.shadow,
      config: cfg,
      state: { epoch: 1, batchesDone: 0, maxAccuracy: 0, rng: null },
      scheduler: new LrScheduler(
        schedulerSettings(cfg),
        optimizer.groups.map(() => 1e-3),
      ),
      run: {
        model: model.config,
        baseLr: 1e-3,
        normalization: IMAGENET_STATS,
        classNames: [],
        world: { size: 1, rank: 0 },
      },
    });
    const resumed = new ModelEma(model.stateDict(), 0.9);
    resumed.load(readTrainingCheckpoint(path).raw.get('model_ema') as StateDict, path);
    for (let i = 0; i < 2; i++) {
      step();
      straight.update(model.stateDict());
      resumed.update(model.stateDict());
    }
    const index = 'blocks.0.attn.relative_position_index';
    assert.equal(resumed.shadow.get(index)?.dtype, 'int32', 'the integer buffer is part of the EMA');
    for (const [k, t] of straight.shadow) {
      const r = resumed.shadow.get(k) as Tensor;
      assert.deepEqual(r.dtype === 'float32' ? r.data : r.ints, t.dtype === 'float32' ? t.data : t.ints, k);
    }
    straight.dispose();
    resumed.dispose();
    optimizer.dispose();
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses saved EMA weights that do not fit the model, naming the file and the key', () => {
    const c = fx.cases[0];
    const model = stateOf(c.initial);
    const ema = new ModelEma(model, c.decay);
    const saved = readPth(resumePath) as Map<string, unknown>;
    const sd = new Map(saved.get('model_ema') as StateDict);
    sd.delete('head.bias');
    assert.throws(
      () => ema.load(sd, 'run/checkpoint.pth'),
      /run\/checkpoint\.pth: 'model_ema' has no 'head\.bias'/,
    );
    const wrong = new Map(saved.get('model_ema') as StateDict);
    wrong.set('head.bias', { dtype: 'float32', shape: [2], data: new Float32Array(2) });
    assert.throws(() => ema.load(wrong, 'x.pth'), /'head\.bias' has shape \[2\], the model \[3\]/);
    assert.throws(() => new ModelEma(model, 1), /decay must be in \(0, 1\)/);
    ema.dispose();
    dispose(model);
  });
});
