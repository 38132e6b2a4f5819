import { it } from 'node:test';
import {
  assertClose,
  describeBackends,
  fromJson,
  readJsonFixture,
  type JsonTensor,
} from '../../test/util.js';
import { AdamW } from './adamw.js';
import { Sgd } from './sgd.js';
import { cosineLr, lrForEpoch, scaledLr } from './scheduler.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Optimizer } from './optimizer.js';

interface OptimCase {
  name: string;
  hyper: Record<string, number | boolean | number[]>;
  groups?: { params: string[]; weight_decay: number }[];
  lrs: number[] | null;
  initial: Record<string, JsonTensor>;
  grads: Record<string, JsonTensor>[];
  params: Record<string, JsonTensor>[];
}

function replay(c: OptimCase, make: (params: Map<string, Tensor>) => Optimizer): void {
  const params = new Map(
    Object.entries(c.initial).map(([k, v]) => {
      const p = fromJson(v).keep();
      p.requiresGrad = true;
      return [k, p];
    }),
  );
  const opt = make(params);
  c.grads.forEach((grads, step) => {
    if (c.lrs) opt.setLr(c.lrs[step]);
    for (const [k, g] of Object.entries(grads)) (params.get(k) as Tensor).grad = fromJson(g).keep();
    opt.step();
    for (const [k, want] of Object.entries(c.params[step])) {
      assertClose((params.get(k) as Tensor).data, want.data, 1e-6, 1e-5, `${c.name} step ${step + 1} ${k}`);
    }
    opt.zeroGrad();
  });
}

describeBackends('optimizers match torch.optim', () => {
  it('AdamW with two parameter groups (weight decay 0.05 and 0)', () => {
    const fx = readJsonFixture<{ cases: OptimCase[] }>('optim/adamw.json');
    for (const c of fx.cases) {
      replay(c, (params) => {
        const h = c.hyper as { lr: number; betas: [number, number]; eps: number };
        return new AdamW(
          (c.groups ?? []).map((g) => ({
            params: g.params.map((n) => params.get(n) as Tensor),
            weightDecay: g.weight_decay,
          })),
          { lr: h.lr, betas: h.betas, eps: h.eps },
        );
      });
    }
  });

  it('SGD with momentum, Nesterov and weight decay', () => {
    const fx = readJsonFixture<{ cases: OptimCase[] }>('optim/sgd.json');
    for (const c of fx.cases) {
      replay(c, (params) => {
        const h = c.hyper as {
          lr: number;
          momentum: number;
          dampening: number;
          nesterov: boolean;
          weight_decay: number;
        };
        return new Sgd([{ params: [...params.values()] }], {
          lr: h.lr,
          momentum: h.momentum,
          dampening: h.dampening,
          nesterov: h.nesterov,
          weightDecay: h.weight_decay,
        });
      });
    }
  });
});

it('cosine schedule matches timm CosineLRScheduler and the DeiT loop', () => {
  const fx = readJsonFixture<{
    params: {
      lr: number;
      batch_size: number;
      epochs: number;
      warmup_t: number;
      warmup_lr_init: number;
      min_lr: number;
    };
    t: number[];
    lr: number[];
    lr_during_epoch_deit_loop: number[];
  }>('optim/cosine_scheduler.json');
  const p = fx.params;
  const s = {
    baseLr: scaledLr(p.lr, p.batch_size),
    minLr: p.min_lr,
    warmupLr: p.warmup_lr_init,
    warmupEpochs: p.warmup_t,
    epochs: p.epochs,
  };
  assertClose(
    fx.t.map((t) => cosineLr(s, t)),
    fx.lr,
    1e-12,
    1e-9,
    'lr(t)',
  );
  const epochs = fx.lr_during_epoch_deit_loop.map((_, e) => e);
  assertClose(
    epochs.map((e) => lrForEpoch(s, e)),
    fx.lr_during_epoch_deit_loop,
    1e-12,
    1e-9,
    'lr during epoch',
  );
});
