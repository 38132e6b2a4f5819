/**
 * Training checkpoints in the reference's layout, so PyTorch tools read them and lape resumes runs
 * written by either side:
 * `{'model', 'optimizer', 'lr_scheduler', 'epoch', 'model_ema', 'args', 'max_accuracy', 'lape'}`.
 * `lape` holds what the reference does not save but an exact resume needs (RNG state, position
 * inside an interrupted epoch).
 */
import type { HostTensor, StateDict } from '../io/host_tensor.js';
import { toFloat32 } from '../io/host_tensor.js';
import { PyObject, PyTuple, type PyDict, type PyValue } from '../io/pickle.js';
import { readPth, writePth } from '../io/pth.js';
import { exportWeights } from '../models/weights.js';
import type { Module } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import type { Optimizer } from '../optim/optimizer.js';
import { Sgd } from '../optim/sgd.js';
import { zeros } from '../ops/creation.js';
import type { RngState } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TrainConfig } from './config.js';

export interface TrainingState {
  /** Epochs fully completed. */
  epoch: number;
  /** Batches of epoch `epoch` already trained (an interrupted epoch), else 0. */
  batchesDone: number;
  maxAccuracy: number;
  /** Dropout/drop-path generator state; null in reference checkpoints (a fresh stream is derived). */
  rng: RngState | null;
}

const f32 = (shape: number[], data: Float32Array): HostTensor => ({ dtype: 'float32', shape, data });

function optimizerState(opt: Optimizer): PyDict {
  const params = opt.allParams();
  const index = new Map(params.map((p, i) => [p, i]));
  const state: PyDict = new Map();
  if (opt instanceof AdamW) {
    for (const [p, s] of opt.state) {
      state.set(
        index.get(p) as number,
        new Map<string, PyValue>([
          ['step', f32([], Float32Array.of(s.step))],
          ['exp_avg', f32([...p.shape], Float32Array.from(s.expAvg.data))],
          ['exp_avg_sq', f32([...p.shape], Float32Array.from(s.expAvgSq.data))],
        ]),
      );
    }
  } else if (opt instanceof Sgd) {
    for (const [p, buf] of opt.buffers) {
      state.set(
        index.get(p) as number,
        new Map<string, PyValue>([['momentum_buffer', f32([...p.shape], Float32Array.from(buf.data))]]),
      );
    }
  }
  let next = 0;
  const groups: PyValue[] = opt.groups.map((g) => {
    const ids = g.params.map(() => next++);
    const common: [string, PyValue][] = [
      ['lr', g.lr],
      ['weight_decay', g.weightDecay],
    ];
    const specific: [string, PyValue][] =
      opt instanceof AdamW
        ? [
            ['betas', new PyTuple([opt.betas[0], opt.betas[1]])],
            ['eps', opt.eps],
            ['amsgrad', false],
            ['maximize', false],
            ['foreach', null],
            ['capturable', false],
          ]
        : opt instanceof Sgd
          ? [
              ['momentum', opt.momentum],
              ['dampening', opt.dampening],
              ['nesterov', opt.nesterov],
              ['maximize', false],
              ['foreach', null],
            ]
          : [];
    return new Map<string, PyValue>([...common, ...specific, ['params', ids]]);
  });
  return new Map<string, PyValue>([
    ['state', state],
    ['param_groups', groups],
  ]);
}

/** Restores optimizer moments by parameter index (PyTorch's order); shapes must match. */
export function loadOptimizerState(opt: Optimizer, value: PyValue, file: string): void {
  const fail = (msg: string): never => {
    throw new Error(`${file}: optimizer state ${msg}`);
  };
  if (!(value instanceof Map)) return fail('is not a dict');
  const state = value.get('state');
  const groups = value.get('param_groups');
  if (!(state instanceof Map) || !Array.isArray(groups)) return fail("lacks 'state' or 'param_groups'");
  if (groups.length !== opt.groups.length)
    fail(`has ${groups.length} parameter groups, this run has ${opt.groups.length}`);
  const params = opt.allParams();
  for (const [key, entry] of state) {
    const i = Number(key);
    const p: Tensor | undefined = params[i];
    if (!p) fail(`refers to parameter ${i}, this run has ${params.length}`);
    if (!(entry instanceof Map)) fail(`entry ${i} is not a dict`);
    const e = entry as Map<PyValue, PyValue>;
    const tensorOf = (name: string): Float32Array => {
      const t = e.get(name) as HostTensor | undefined;
      if (!t || !('dtype' in t)) return fail(`entry ${i} has no '${name}'`);
      const data = toFloat32(t);
      if (data.length !== p.size)
        fail(`entry ${i} '${name}' has ${data.length} values, parameter ${p.describe()} has ${p.size}`);
      return data;
    };
    if (opt instanceof AdamW) {
      const stepRaw = e.get('step');
      const step = typeof stepRaw === 'number' ? stepRaw : toFloat32(stepRaw as HostTensor)[0];
      const expAvg = zeros(p.shape).keep();
      const expAvgSq = zeros(p.shape).keep();
      expAvg.data.set(tensorOf('exp_avg'));
      expAvgSq.data.set(tensorOf('exp_avg_sq'));
      opt.state.set(p, { step, expAvg, expAvgSq });
    } else if (opt instanceof Sgd) {
      const buf = zeros(p.shape).keep();
      buf.data.set(tensorOf('momentum_buffer'));
      opt.buffers.set(p, buf);
    }
  }
}

/** The run's settings as an argparse.Namespace, as the reference stores `args` (flat, JSON-able values). */
function argsNamespace(cfg: TrainConfig): PyObject {
  const attrs: Record<string, PyValue> = {
    model: cfg.model,
    batch_size: cfg.batchSize,
    epochs: cfg.epochs,
    seed: cfg.seed,
    data_set: cfg.data.kind,
    data_path: cfg.data.path ?? null,
    lr: cfg.optimizer.lr,
    weight_decay: cfg.optimizer.weightDecay,
    opt: cfg.optimizer.kind,
    warmup_epochs: cfg.schedule.warmupEpochs,
    warmup_lr: cfg.schedule.warmupLr,
    min_lr: cfg.schedule.minLr,
    mixup: cfg.mixup.mixup,
    cutmix: cfg.mixup.cutmix,
    distillation_type: cfg.distillation.kind,
    pe: cfg.modelOverrides.pe ?? null,
    join_type: cfg.modelOverrides.join ?? null,
    amp: cfg.amp,
    lape_config: JSON.stringify(cfg),
  };
  return new PyObject('argparse.Namespace', attrs);
}

export interface CheckpointContents {
  model: Module;
  optimizer: Optimizer;
  ema: Map<string, Tensor> | null;
  config: TrainConfig;
  state: TrainingState;
  /** The scheduler's lr for the next epoch (written as the timm scheduler's state). */
  schedule: TrainConfig['schedule'] & { baseLr: number; epochs: number };
}

function emaStateDict(ema: Map<string, Tensor>): StateDict {
  const out: StateDict = new Map();
  for (const [k, t] of ema) {
    out.set(
      k,
      t.dtype === 'int32'
        ? { dtype: 'int64', shape: [...t.shape], data: BigInt64Array.from(t.ints, (v) => BigInt(v)) }
        : f32([...t.shape], Float32Array.from(t.data)),
    );
  }
  return out;
}

/** Writes a checkpoint atomically (temporary file, then rename): an interrupted write never corrupts it. */
export function saveCheckpoint(path: string, c: CheckpointContents): void {
  const s = c.schedule;
  const value: PyDict = new Map<string, PyValue>([
    ['model', exportWeights(c.model)],
    ['optimizer', optimizerState(c.optimizer)],
    [
      'lr_scheduler',
      new Map<string, PyValue>([
        ['t_initial', s.epochs],
        ['warmup_t', s.warmupEpochs],
        ['warmup_lr_init', s.warmupLr],
        ['lr_min', s.minLr],
        ['base_values', [s.baseLr]],
        ['last_epoch', c.state.epoch - 1],
      ]),
    ],
    ['epoch', c.state.epoch - 1],
    ['args', argsNamespace(c.config)],
    ['max_accuracy', c.state.maxAccuracy],
    [
      'lape',
      new Map<string, PyValue>([
        ['version', 1],
        ['epochs_done', c.state.epoch],
        ['batches_done', c.state.batchesDone],
        ['rng', c.state.rng ? [...c.state.rng] : null],
      ]),
    ],
  ]);
  if (c.ema) value.set('model_ema', emaStateDict(c.ema));
  writePth(path, value);
}

export interface LoadedCheckpoint {
  raw: PyDict;
  state: TrainingState;
}

/**
 * Reads the training state of a checkpoint: lape's own record when present, else the reference's
 * `epoch` (the last completed epoch index).
 */
export function readTrainingCheckpoint(path: string): LoadedCheckpoint {
  const raw = readPth(path);
  if (!(raw instanceof Map))
    throw new Error(`${path}: not a training checkpoint (expected a dict with 'model')`);
  const lape = raw.get('lape');
  const num = (v: PyValue | undefined, fallback: number): number =>
    typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : fallback;
  const maxAccuracy = num(raw.get('max_accuracy'), 0);
  if (lape instanceof Map) {
    const rng = lape.get('rng');
    if (rng !== null && (!Array.isArray(rng) || rng.length !== 4))
      throw new Error(`${path}: 'lape.rng' must hold 4 integers`);
    return {
      raw,
      state: {
        epoch: num(lape.get('epochs_done'), 0),
        batchesDone: num(lape.get('batches_done'), 0),
        maxAccuracy,
        rng: rng === null ? null : ([0, 1, 2, 3].map((i) => num(rng[i], 0)) as unknown as RngState),
      },
    };
  }
  // A reference checkpoint: resume after its last epoch, with a fresh dropout stream.
  return { raw, state: { epoch: num(raw.get('epoch'), -1) + 1, batchesDone: 0, maxAccuracy, rng: null } };
}
