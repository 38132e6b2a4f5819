/**
 * timm's schedulers and optimizers against test/fixtures/optim/timm.json
 * (scripts/fixtures/make_timm_fixtures.py: float64 references of timm's algorithms, PyTorch's own Adam,
 * SGD, ReduceLROnPlateau and torch.Generator), plus hand-computed cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertClose, describeBackends, readJsonFixture } from '../../test/util.js';
import { tensor } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { Adam } from './adamw.js';
import { createOptimizer, OPTIMIZER_KINDS } from './factory.js';
import { Lamb } from './lamb.js';
import type { Optimizer } from './optimizer.js';
import { LrScheduler, scheduledLr, storedBaseValues, type SchedulerSettings } from './scheduler.js';
import { Sgd } from './sgd.js';
import { TorchGenerator } from './torch_generator.js';

interface JsonSettings {
  kind: SchedulerSettings['kind'];
  epochs: number;
  warmup_epochs: number;
  warmup_lr: number;
  min_lr: number;
  decay_epochs: number[];
  decay_rate: number;
  patience_epochs: number;
  noise: { range: number | [number, number]; pct: number; std: number; seed: number } | null;
}

interface Fixture {
  schedulers: {
    settings: JsonSettings;
    base: number;
    t_lr?: number[];
    epoch_lr: number[];
    metrics?: number[];
  }[];
  generator: { seed: number; randn: number[] }[];
  optimizers: {
    name: string;
    hyper: Record<string, number | number[] | string>;
    initial: Record<string, number[]>;
    grads: Record<string, number[]>[];
    params: Record<string, number[]>[];
  }[];
}

const fx = readJsonFixture<Fixture>('optim/timm.json');

function settingsOf(j: JsonSettings): SchedulerSettings {
  return {
    kind: j.kind,
    epochs: j.epochs,
    warmupEpochs: j.warmup_epochs,
    warmupLr: j.warmup_lr,
    minLr: j.min_lr,
    decayEpochs: j.decay_epochs,
    decayRate: j.decay_rate,
    patienceEpochs: j.patience_epochs,
    noise: j.noise,
  };
}

describe("timm's schedulers", () => {
  for (const c of fx.schedulers) {
    const s = settingsOf(c.settings);
    const name = `${s.kind} (warmup ${s.warmupEpochs}${s.noise ? ', noise' : ''})`;
    if (c.t_lr) {
      const tLr = c.t_lr;
      it(`${name}: lr(t) as timm's _get_lr`, () => {
        assertClose(
          tLr.map((_, t) => scheduledLr(s, c.base, t)),
          tLr,
          0,
          1e-12,
          `${name} lr(t)`,
        );
      });
    }
    it(`${name}: the lr of every epoch in DeiT's loop, for each parameter group`, () => {
      const sched = new LrScheduler(s, [c.base, c.base / 2]);
      const got: number[][] = [];
      c.epoch_lr.forEach((_, e) => {
        got.push(sched.current());
        sched.step(e, c.metrics?.[e]);
      });
      assertClose(
        got.map((g) => g[0]),
        c.epoch_lr,
        1e-15,
        1e-12,
        `${name} epoch lr`,
      );
      if (s.kind !== 'plateau') {
        // A group with half the base lr follows its own schedule (timm: one base value per group).
        const half = new LrScheduler(s, [c.base / 2]);
        const want = c.epoch_lr.map((_, e) => {
          const v = half.current()[0];
          half.step(e);
          return v;
        });
        assertClose(
          got.map((g) => g[1]),
          want,
          0,
          1e-12,
          `${name} second group`,
        );
      }
    });
  }

  it('cross-check by hand: cosine half way is the mean of base and min; step decays by the rate', () => {
    const s: SchedulerSettings = {
      kind: 'cosine',
      epochs: 10,
      warmupEpochs: 0,
      warmupLr: 0,
      minLr: 1e-5,
      decayEpochs: [3],
      decayRate: 0.5,
      patienceEpochs: 1,
      noise: null,
    };
    assert.equal(scheduledLr(s, 1e-3, 5), 1e-5 + 0.5 * (1e-3 - 1e-5));
    assert.equal(scheduledLr({ ...s, kind: 'step' }, 1e-3, 7), 1e-3 * 0.25);
    assert.equal(scheduledLr({ ...s, kind: 'multistep', decayEpochs: [2, 4] }, 1e-3, 3), 1e-3 * 0.25);
  });

  it("timm's state dict: one base value per group; lape's earlier single value reads for every group", () => {
    const s: SchedulerSettings = {
      kind: 'cosine',
      epochs: 10,
      warmupEpochs: 2,
      warmupLr: 1e-6,
      minLr: 1e-5,
      decayEpochs: [30],
      decayRate: 0.1,
      patienceEpochs: 10,
      noise: null,
    };
    const sd = new LrScheduler(s, [1e-3, 1e-3]).stateDict();
    assert.deepEqual(sd.get('base_values'), [1e-3, 1e-3]);
    assert.deepEqual(
      [...sd.keys()],
      [
        'param_group_field',
        '_initial_param_group_field',
        'base_values',
        'metric',
        'noise_range_t',
        'noise_pct',
        'noise_type',
        'noise_std',
        'noise_seed',
        't_initial',
        't_mul',
        'lr_min',
        'decay_rate',
        'cycle_limit',
        'warmup_t',
        'warmup_lr_init',
        'warmup_prefix',
        't_in_epochs',
        'warmup_steps',
      ],
    );
    assert.deepEqual(storedBaseValues(new Map([['base_values', [5e-4]]]), 2), [5e-4, 5e-4]);
    assert.deepEqual(storedBaseValues(sd, 2), [1e-3, 1e-3]);
    assert.equal(storedBaseValues(sd, 3), null);
  });

  it('an unknown scheduler lists the valid ones', () => {
    assert.throws(
      () =>
        new LrScheduler(
          {
            kind: 'cyclic' as SchedulerSettings['kind'],
            epochs: 3,
            warmupEpochs: 0,
            warmupLr: 0,
            minLr: 0,
            decayEpochs: [1],
            decayRate: 0.1,
            patienceEpochs: 1,
            noise: null,
          },
          [1],
        ),
      /--sched: unknown scheduler 'cyclic'; valid: cosine, tanh, step, multistep, plateau, poly/,
    );
  });
});

it("torch.randn with torch.Generator's manual_seed, bit for bit", () => {
  for (const c of fx.generator) {
    const g = new TorchGenerator(c.seed);
    assert.deepEqual(
      c.randn.map(() => Math.fround(g.randn())),
      c.randn,
      `seed ${c.seed}`,
    );
  }
});

function replay(
  c: Fixture['optimizers'][number],
  make: (groups: { params: Tensor[]; weightDecay: number }[]) => Optimizer,
): void {
  const w = tensor(Float32Array.from(c.initial.w), [3, 4]).keep();
  const b = tensor(Float32Array.from(c.initial.b), [4]).keep();
  w.requiresGrad = true;
  b.requiresGrad = true;
  const opt = make([
    { params: [w], weightDecay: 0.05 },
    { params: [b], weightDecay: 0 },
  ]);
  c.grads.forEach((g, step) => {
    w.grad = tensor(Float32Array.from(g.w), [3, 4]).keep();
    b.grad = tensor(Float32Array.from(g.b), [4]).keep();
    opt.step();
    assertClose(w.data, c.params[step].w, 1e-6, 1e-5, `${c.name} step ${step + 1} w`);
    assertClose(b.data, c.params[step].b, 1e-6, 1e-5, `${c.name} step ${step + 1} b`);
    opt.zeroGrad();
  });
  opt.dispose();
}

describeBackends("timm's optimizers match PyTorch / timm's algorithm", () => {
  const byName = (n: string): Fixture['optimizers'][number] =>
    fx.optimizers.find((c) => c.name === n) as Fixture['optimizers'][number];
  it('adam (L2 weight decay in the gradient) matches torch.optim.Adam', () => {
    const c = byName('adam');
    replay(c, (gs) => new Adam(gs, { lr: c.hyper.lr as number, betas: [0.9, 0.999], eps: 1e-8 }));
  });
  it('sgd (timm: Nesterov) and momentum match torch.optim.SGD', () => {
    for (const name of ['sgd_nesterov', 'sgd_momentum']) {
      const c = byName(name);
      replay(
        c,
        (gs) => new Sgd(gs, { lr: c.hyper.lr as number, momentum: 0.9, nesterov: name === 'sgd_nesterov' }),
      );
    }
  });
  it("lamb matches timm's Lamb (float64 reference)", () => {
    const c = byName('lamb');
    replay(
      c,
      (gs) => new Lamb(gs, { lr: c.hyper.lr as number, betas: [0.9, 0.999], eps: 1e-6, maxGradNorm: 1 }),
    );
  });
  it('lamb, by hand: one step of trust-ratio-scaled Adam', () => {
    const p = tensor(Float32Array.of(3, 4), [2]).keep();
    p.requiresGrad = true;
    const opt = new Lamb([{ params: [p], weightDecay: 0.1 }], { lr: 0.01, eps: 0 });
    p.grad = tensor(Float32Array.of(0.6, 0.8), [2]).keep();
    opt.step();
    // m_hat = g, v_hat = g^2: update = sign(g) + wd * p = [1.3, 1.4]; trust = |p| / |update| = 5 / sqrt(3.65).
    const trust = 5 / Math.sqrt(3.65);
    assertClose(p.data, [3 - 0.01 * trust * 1.3, 4 - 0.01 * trust * 1.4], 1e-6, 0, 'lamb by hand');
    opt.dispose();
  });
});

it('an unknown optimizer lists the valid ones', () => {
  assert.throws(
    () =>
      createOptimizer(
        {
          kind: 'adafactor' as (typeof OPTIMIZER_KINDS)[number],
          lr: 1,
          weightDecay: 0,
          eps: 1e-8,
          betas: [0.9, 0.999],
          momentum: 0.9,
        },
        [],
      ),
    /--opt: unknown optimizer 'adafactor'; valid: adamw, adam, sgd, nesterov, momentum, lamb/,
  );
});
