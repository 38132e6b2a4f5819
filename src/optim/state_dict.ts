/**
 * Optimizer state in torch's `optimizer.state_dict()` layout, so PyTorch resumes lape's runs and lape
 * resumes PyTorch's: `{'state': {index: {...}}, 'param_groups': [{lr, ..., 'params': [indices]}]}`,
 * parameters indexed in group order. Per optimizer: AdamW/Adam `step`, `exp_avg`, `exp_avg_sq`; SGD
 * `momentum_buffer`; timm's Lamb `exp_avg`, `exp_avg_sq` (its step count is per group). Every group
 * also records `initial_lr`, which timm's scheduler adds to the optimizer it drives.
 */
import type { HostTensor } from '../io/host_tensor.js';
import { toFloat32 } from '../io/host_tensor.js';
import { PyTuple, type PyDict, type PyValue } from '../io/pickle.js';
import { zeros } from '../ops/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import { AdamW } from './adamw.js';
import { Lamb } from './lamb.js';
import type { Optimizer } from './optimizer.js';
import { Sgd } from './sgd.js';

const f32 = (shape: number[], data: Float32Array): HostTensor => ({ dtype: 'float32', shape, data });

function groupFields(opt: Optimizer, gi: number): [string, PyValue][] {
  if (opt instanceof AdamW) {
    return [
      ['betas', new PyTuple([opt.betas[0], opt.betas[1]])],
      ['eps', opt.eps],
      ['amsgrad', false],
      ['maximize', false],
      ['foreach', null],
      ['capturable', false],
    ];
  }
  if (opt instanceof Sgd) {
    return [
      ['momentum', opt.momentum],
      ['dampening', opt.dampening],
      ['nesterov', opt.nesterov],
      ['maximize', false],
      ['foreach', null],
    ];
  }
  if (opt instanceof Lamb) {
    const fields: [string, PyValue][] = [
      ['bias_correction', true],
      ['betas', new PyTuple([opt.betas[0], opt.betas[1]])],
      ['eps', opt.eps],
      ['grad_averaging', true],
      ['max_grad_norm', opt.maxGradNorm],
      ['trust_clip', opt.trustClip],
      ['always_adapt', opt.alwaysAdapt],
    ];
    if (opt.groupSteps[gi] > 0) fields.push(['step', opt.groupSteps[gi]]);
    return fields;
  }
  return [];
}

/** torch's `optimizer.state_dict()`; `initialLrs` are the groups' base lrs (timm's initial_lr). */
export function optimizerStateDict(opt: Optimizer, initialLrs?: readonly number[]): PyDict {
  const params = opt.allParams();
  const index = new Map(params.map((p, i) => [p, i]));
  const state: PyDict = new Map();
  const tensor = (p: Tensor, t: Tensor): HostTensor => f32([...p.shape], Float32Array.from(t.data));
  if (opt instanceof AdamW) {
    for (const [p, s] of opt.state) {
      state.set(
        index.get(p) as number,
        new Map<string, PyValue>([
          ['step', f32([], Float32Array.of(s.step))],
          ['exp_avg', tensor(p, s.expAvg)],
          ['exp_avg_sq', tensor(p, s.expAvgSq)],
        ]),
      );
    }
  } else if (opt instanceof Sgd) {
    for (const [p, buf] of opt.buffers)
      state.set(index.get(p) as number, new Map<string, PyValue>([['momentum_buffer', tensor(p, buf)]]));
  } else if (opt instanceof Lamb) {
    for (const [p, s] of opt.state) {
      state.set(
        index.get(p) as number,
        new Map<string, PyValue>([
          ['exp_avg', tensor(p, s.expAvg)],
          ['exp_avg_sq', tensor(p, s.expAvgSq)],
        ]),
      );
    }
  }
  let next = 0;
  const groups: PyValue[] = opt.groups.map((g, gi) => {
    const ids = g.params.map(() => next++);
    const fields: [string, PyValue][] = [
      ['lr', g.lr],
      ['weight_decay', g.weightDecay],
      ...groupFields(opt, gi),
      ['params', ids],
    ];
    if (initialLrs) fields.push(['initial_lr', initialLrs[gi]]);
    return new Map<string, PyValue>(fields);
  });
  return new Map<string, PyValue>([
    ['state', state],
    ['param_groups', groups],
  ]);
}

const num = (v: PyValue | undefined): number | undefined =>
  typeof v === 'number'
    ? v
    : typeof v === 'bigint'
      ? Number(v)
      : v && typeof v === 'object' && 'dtype' in v
        ? toFloat32(v as HostTensor)[0]
        : undefined;

/**
 * Restores optimizer moments by parameter index (PyTorch's order); shapes must match. Returns each
 * group's saved `lr` (the lr the run was at), when recorded.
 */
export function loadOptimizerState(opt: Optimizer, value: PyValue, file: string): (number | undefined)[] {
  const fail = (msg: string): never => {
    throw new Error(`${file}: optimizer state ${msg}`);
  };
  if (!(value instanceof Map)) return fail('is not a dict');
  const state = value.get('state');
  const groups = value.get('param_groups');
  if (!(state instanceof Map) || !Array.isArray(groups)) return fail("lacks 'state' or 'param_groups'");
  if (groups.length !== opt.groups.length)
    fail(
      `has ${groups.length} parameter groups, this run has ${opt.groups.length} (the groups follow --weight-decay: with 0 there is one)`,
    );
  const params = opt.allParams();
  for (const [key, entry] of state) {
    const i = Number(key);
    const p: Tensor | undefined = params[i];
    if (!p) fail(`refers to parameter ${i}, this run has ${params.length}`);
    if (!(entry instanceof Map)) fail(`entry ${i} is not a dict`);
    const e = entry as Map<PyValue, PyValue>;
    const tensorOf = (name: string): Tensor => {
      const t = e.get(name) as HostTensor | undefined;
      if (!t || !('dtype' in t))
        return fail(
          `entry ${i} has no '${name}' (was it written by another optimizer than --opt ${opt.constructor.name.toLowerCase()}?)`,
        );
      const data = toFloat32(t);
      if (data.length !== p.size)
        fail(`entry ${i} '${name}' has ${data.length} values, parameter ${p.describe()} has ${p.size}`);
      const out = zeros(p.shape).keep();
      out.data.set(data);
      return out;
    };
    if (opt instanceof AdamW) {
      opt.state.set(p, {
        step: num(e.get('step')) ?? 0,
        expAvg: tensorOf('exp_avg'),
        expAvgSq: tensorOf('exp_avg_sq'),
      });
    } else if (opt instanceof Sgd) {
      opt.buffers.set(p, tensorOf('momentum_buffer'));
    } else if (opt instanceof Lamb) {
      opt.state.set(p, { expAvg: tensorOf('exp_avg'), expAvgSq: tensorOf('exp_avg_sq') });
    }
  }
  return groups.map((g, gi) => {
    if (!(g instanceof Map)) return undefined;
    if (opt instanceof Lamb) opt.groupSteps[gi] = num(g.get('step')) ?? 0;
    return num(g.get('lr'));
  });
}
