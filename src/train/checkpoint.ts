/**
 * Training checkpoints in the reference's layout, so PyTorch tools read them and lape resumes runs
 * written by either side:
 * `{'model', 'optimizer', 'lr_scheduler', 'epoch', 'model_ema', 'args', 'max_accuracy', 'lape'}`.
 * `lape` holds what the reference does not save but an exact resume needs (RNG state, position
 * inside an interrupted epoch), and a copy of log.txt's lines (the checkpoint is the record a resumed
 * run repairs log.txt from).
 */
import type { HostTensor, StateDict } from '../io/host_tensor.js';
import type { PyDict, PyValue } from '../io/pickle.js';
import { readPth, writePth } from '../io/pth.js';
import { exportWeights } from '../models/weights.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LrScheduler } from '../optim/scheduler.js';
import { optimizerStateDict } from '../optim/state_dict.js';
import type { RngState } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { argsNamespace, type RunFacts } from './checkpoint_args.js';
import type { TrainConfig } from './config.js';

export interface TrainingState {
  /** Epochs fully completed. */
  epoch: number;
  /** Batches of epoch `epoch` already trained (an interrupted epoch), else 0. */
  batchesDone: number;
  maxAccuracy: number;
  /** Dropout/drop-path generator state; null in reference checkpoints (a fresh stream is derived). */
  rng: RngState | null;
  /** Each parameter group's lr for the coming epoch; null when unknown (then from the schedule). */
  lrs?: number[] | null;
  /** Plateau scheduler internals timm's state dict leaves out. */
  plateau?: { best: number; numBadEpochs: number; cooldownCounter: number; lastEpoch: number } | null;
}

const f32 = (shape: number[], data: Float32Array): HostTensor => ({ dtype: 'float32', shape, data });

export interface CheckpointContents {
  model: Module;
  optimizer: Optimizer;
  ema: Map<string, Tensor> | null;
  config: TrainConfig;
  state: TrainingState;
  /** Written as timm writes its scheduler (`lr_scheduler`), one base value per parameter group. */
  scheduler: LrScheduler;
  /** What `args` records beside the config (model as built, scaled lr, statistics, class names). */
  run: RunFacts;
  /** log.txt's lines for the epochs this checkpoint holds (one JSON object each); default none. */
  log?: readonly string[];
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
  const plateau = c.scheduler.plateauState();
  const world = c.run.world;
  const value: PyDict = new Map<string, PyValue>([
    ['model', exportWeights(c.model)],
    ['optimizer', optimizerStateDict(c.optimizer, c.scheduler.baseValues)],
    ['lr_scheduler', c.scheduler.stateDict()],
    ['epoch', c.state.epoch - 1],
    ['args', argsNamespace(c.config, c.run)],
    ['max_accuracy', c.state.maxAccuracy],
    [
      'lape',
      new Map<string, PyValue>([
        ['version', 1],
        ['epochs_done', c.state.epoch],
        ['batches_done', c.state.batchesDone],
        ['rng', c.state.rng ? [...c.state.rng] : null],
        // Samples per loader batch over all ranks, and loader batches per step: a mid-epoch resume must
        // step through the epoch alike.
        ['global_batch', c.config.batchSize * world.size],
        ['accum_iter', c.config.accumIter ?? 1],
        ['log', [...(c.log ?? [])]],
        ['lrs', c.scheduler.current()],
        [
          'plateau',
          plateau
            ? new Map<string, PyValue>([
                ['best', plateau.best],
                ['num_bad_epochs', plateau.numBadEpochs],
                ['cooldown_counter', plateau.cooldownCounter],
                ['last_epoch', plateau.lastEpoch],
              ])
            : null,
        ],
      ]),
    ],
  ]);
  if (c.ema) value.set('model_ema', emaStateDict(c.ema));
  writePth(path, value);
}

export interface LoadedCheckpoint {
  raw: PyDict;
  state: TrainingState;
  /** Samples per loader batch of the run that wrote it (batch x ranks), when recorded. */
  globalBatch: number | null;
  /** Loader batches per optimizer step of the run that wrote it (--accum-iter), when recorded. */
  accumIter: number | null;
  /** log.txt's lines as of this checkpoint; null when it has no copy (a reference or older checkpoint). */
  log: string[] | null;
}

/**
 * Reads the training state of a checkpoint: lape's own record when present, else the reference's
 * `epoch` (the last completed epoch index).
 */
export function readTrainingCheckpoint(path: string): LoadedCheckpoint {
  return trainingCheckpointFrom(readPth(path), path);
}

/** The training state of an already loaded checkpoint (`path` names it in messages). */
export function trainingCheckpointFrom(raw: PyValue, path: string): LoadedCheckpoint {
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
    const globalBatch = num(lape.get('global_batch'), NaN);
    const accumIter = num(lape.get('accum_iter'), NaN);
    const log = lape.get('log');
    const lrs = lape.get('lrs');
    const plateau = lape.get('plateau');
    return {
      raw,
      globalBatch: Number.isFinite(globalBatch) ? globalBatch : null,
      accumIter: Number.isFinite(accumIter) ? accumIter : null,
      log: Array.isArray(log) && log.every((l): l is string => typeof l === 'string') ? log : null,
      state: {
        epoch: num(lape.get('epochs_done'), 0),
        batchesDone: num(lape.get('batches_done'), 0),
        maxAccuracy,
        rng: rng === null ? null : ([0, 1, 2, 3].map((i) => num(rng[i], 0)) as unknown as RngState),
        lrs: Array.isArray(lrs) && lrs.every((v) => typeof v === 'number') ? (lrs as number[]) : null,
        plateau:
          plateau instanceof Map
            ? {
                best: num(plateau.get('best'), -Infinity),
                numBadEpochs: num(plateau.get('num_bad_epochs'), 0),
                cooldownCounter: num(plateau.get('cooldown_counter'), 0),
                lastEpoch: num(plateau.get('last_epoch'), 0),
              }
            : null,
      },
    };
  }
  // A reference checkpoint: resume after its last epoch, with a fresh dropout stream.
  return {
    raw,
    globalBatch: null,
    accumIter: null,
    log: null,
    state: { epoch: num(raw.get('epoch'), -1) + 1, batchesDone: 0, maxAccuracy, rng: null },
  };
}
