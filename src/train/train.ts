/**
 * `train(config)`: DeiT's training loop on lape (the reference's main.py): data, model, optimizer,
 * schedule, EMA, distillation, per-epoch evaluation, checkpoints and log.txt in the reference layout,
 * exact resume, and a clean stop on interrupt or divergence. With `hooks.dataParallel` it is one rank of
 * a data-parallel run (see src/dist/): it trains on its shard, and rank 0 alone prints and writes.
 *
 * Outputs survive a kill at any point. The output folder is checked to be writable before anything is
 * loaded, and temporary files that killed runs left in it are removed. Every file is written atomically
 * (config.json, checkpoints, log.txt: see io/atomic.ts). The checkpoint is the record of the run: it
 * holds its own copy of the log, log.txt is rewritten from that copy after every checkpoint, and a
 * resumed run first repairs log.txt from its checkpoint. So a kill between writing the checkpoint and
 * log.txt loses no line, and a log never lists an epoch its checkpoint does not have.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeEngine } from '../backend/registry.js';
import { modelFromCheckpoint } from '../checkpoint/load_model.js';
import { openCheckpoint, type Checkpoint, type OpenOptions } from '../checkpoint/read.js';
import type { Batch } from '../data/batch.js';
import type { Channels } from '../data/image.js';
import type { DataLoader } from '../data/loader.js';
import type { DataParallel } from '../dist/data_parallel.js';
import { startupFingerprint } from '../dist/fingerprint.js';
import { ensureWritableDir, removeStaleTemps, writeBytesAtomic } from '../io/atomic.js';
import type { StateDict } from '../io/host_tensor.js';
import { createModel } from '../models/registry.js';
import { adaptForFinetune } from '../models/finetune.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { describeReport, loadWeights } from '../models/weights.js';
import { ampAvailable } from '../ops/autocast.js';
import { ModelEma } from '../optim/ema.js';
import { createOptimizer, weightDecayGroups } from '../optim/factory.js';
import type { Optimizer } from '../optim/optimizer.js';
import {
  DEIT_SCHEDULE,
  LrScheduler,
  scaledLr,
  storedBaseValues,
  type SchedulerSettings,
} from '../optim/scheduler.js';
import { loadOptimizerState } from '../optim/state_dict.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { saveCheckpoint, trainingCheckpointFrom, type TrainingState } from './checkpoint.js';
import type { RunFacts } from './checkpoint_args.js';
import type { TrainConfig } from './config.js';
import { evalLoader, openSplit, trainLoader, trainNormalization } from './data.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { createProgress } from './progress.js';
import { trainStep, type StepContext } from './step.js';

export interface EpochLog {
  epoch: number;
  train_lr: number;
  train_loss: number;
  train_images_per_s: number;
  test_loss?: number;
  test_acc1?: number;
  test_acc5?: number;
  n_parameters: number;
  epoch_seconds: number;
}

export type TrainOutcome = 'completed' | 'interrupted';

export interface TrainResult {
  outcome: TrainOutcome;
  model: VisionTransformer;
  epochs: EpochLog[];
  final: EvalResult | null;
  maxAccuracy: number;
}

export interface TrainHooks {
  /** Aborting stops after the current step with a resumable checkpoint. */
  signal?: AbortSignal;
  /** Status lines (default: none; the CLI prints them on stderr). */
  log?: (line: string) => void;
  /** Show a progress bar (terminal) or periodic progress lines on stderr (default false). */
  progress?: boolean;
  /** Called after every optimization step with its loss. */
  onStep?: (step: number, loss: number) => void;
  /** This process's part in a data-parallel run (src/dist/); absent for one process. */
  dataParallel?: DataParallel;
  /**
   * Mix each batch as this many interleaved groups, as that many data-parallel ranks of batch
   * batchSize / groups do: one process then reproduces such a run (src/data/producer.ts). Default 1.
   */
  mixupGroups?: number;
  /** How checkpoints named by URL are fetched (progress callbacks, cache folder). */
  download?: OpenOptions;
  /** Checkpoints the caller already opened (by spec), used instead of reading them again. */
  preloaded?: Checkpoint[];
}

/** A NaN or infinite loss: training stops, the last good checkpoint (if any) stays as it was. */
export class DivergedError extends Error {
  constructor(
    /** The epoch it happened in, counted from 1 as the progress display counts. */
    readonly epoch: number,
    /** The step within that epoch, from 1. */
    readonly step: number,
    loss: number,
    /** Where the last good checkpoint is and how many epochs it holds; null when there is none. */
    kept: { path: string; epochs: number } | null,
  ) {
    super(
      `training diverged: loss is ${loss} at epoch ${epoch}, step ${step}; ` +
        (kept
          ? `the last good checkpoint (${kept.epochs} epoch${kept.epochs === 1 ? '' : 's'}) was kept in ${kept.path}`
          : 'no checkpoint had been saved yet, so there is none to go back to'),
    );
  }
}

/** timm's create_optimizer: the no-decay/decay groups (one group without weight decay), lr = base. */
function buildOptimizer(cfg: TrainConfig, model: VisionTransformer, lr: number): Optimizer {
  const trainable = (p: Tensor): boolean => p.requiresGrad;
  const { decay, noDecay } = model.weightDecayGroups();
  const o = cfg.optimizer;
  const groups = weightDecayGroups(
    model.parameters().filter(trainable),
    {
      decay: decay.map(([, p]) => p).filter(trainable),
      noDecay: noDecay.map(([, p]) => p).filter(trainable),
    },
    o.weightDecay,
  );
  const kind = o.kind === 'sgd' ? (o.nesterov === false ? 'momentum' : 'sgd') : o.kind;
  return createOptimizer(
    {
      kind,
      lr,
      weightDecay: o.weightDecay,
      eps: 'eps' in o ? o.eps : 1e-8,
      betas: 'betas' in o ? o.betas : [0.9, 0.999],
      momentum: o.kind === 'sgd' ? o.momentum : 0.9,
    },
    groups,
  );
}

/** The run's scheduler settings (DeiT's defaults for what the config leaves out). */
export function schedulerSettings(cfg: TrainConfig): SchedulerSettings {
  const s = cfg.schedule;
  const noise = s.noise ?? null;
  return {
    kind: s.kind ?? DEIT_SCHEDULE.kind,
    epochs: cfg.epochs,
    warmupEpochs: s.warmupEpochs,
    warmupLr: s.warmupLr,
    minLr: s.minLr,
    decayEpochs: s.decayEpochs ?? DEIT_SCHEDULE.decayEpochs,
    decayRate: s.decayRate ?? DEIT_SCHEDULE.decayRate,
    patienceEpochs: s.patienceEpochs ?? DEIT_SCHEDULE.patienceEpochs,
    noise:
      noise === null
        ? null
        : {
            // timm: the fractions times the epochs; one value means "from there on".
            range:
              noise.range.length === 1
                ? noise.range[0] * cfg.epochs
                : [noise.range[0] * cfg.epochs, noise.range[1] * cfg.epochs],
            pct: noise.pct,
            std: noise.std,
            seed: cfg.seed,
          },
  };
}

/** DeiT --attn-only: train attention, the embeddings and the head; freeze the rest. */
function freezeForAttnOnly(model: VisionTransformer): void {
  for (const [name, p] of model.namedParameters()) {
    const keep =
      name.includes('.attn.') ||
      /^(head|head_dist)\./.test(name) ||
      /^pos_embed\d*$/.test(name) ||
      name.startsWith('patch_embed.') ||
      name === 'cls_token' ||
      name === 'dist_token';
    p.requiresGrad = keep;
  }
}

async function loadTeacher(
  cfg: TrainConfig,
  numClasses: number,
  open: (spec: string) => Promise<Checkpoint>,
): Promise<VisionTransformer | null> {
  if (cfg.distillation.kind === 'none') return null;
  const t = cfg.teacher;
  if (!t)
    throw new Error(
      `--distillation-type ${cfg.distillation.kind} needs --teacher-path (and --teacher-model unless the checkpoint says)`,
    );
  const ckpt = await open(t.path);
  const { model: teacher } = modelFromCheckpoint(ckpt, {
    model: t.model || undefined,
    overrides: { numClasses, ...t.overrides },
  });
  for (const p of teacher.parameters()) p.requiresGrad = false;
  return teacher.eval();
}

export async function train(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const dp = hooks.dataParallel ?? null;
  const lead = dp === null || dp.isLead;
  const worldSize = dp?.size ?? 1;
  // A library call prints nothing unless asked: the CLI passes a logger that sanitizes its lines.
  // Of a data-parallel run's ranks, rank 0 alone speaks.
  const log = lead ? (hooks.log ?? (() => {})) : () => {};
  const showProgress = lead && (hooks.progress ?? false);
  const open = (spec: string): Promise<Checkpoint> =>
    openCheckpoint(spec, { ...hooks.download, signal: hooks.signal });
  if (!(Number.isInteger(cfg.epochs) && cfg.epochs >= 1))
    throw new Error(`--epochs must be a positive integer, got ${cfg.epochs}`);
  if (!(Number.isInteger(cfg.batchSize) && cfg.batchSize >= 1))
    throw new Error(`--batch-size must be a positive integer, got ${cfg.batchSize}`);
  const accum = cfg.accumIter ?? 1;
  if (!(Number.isInteger(accum) && accum >= 1))
    throw new Error(`--accum-iter must be a positive integer, got ${accum}`);

  const out = lead ? cfg.outputDir : null;
  if (out) {
    // Before anything is loaded: a run that cannot save its results should not start.
    ensureWritableDir(out);
    const stale = removeStaleTemps(out);
    if (stale.length) log(`removed ${stale.length} temporary file(s) left by an interrupted run in ${out}`);
  }

  const trainSrc = await openSplit(cfg, 'train', { onWarning: log });
  const valSrc = cfg.evalEachEpoch ? await openSplit(cfg, 'val', { onWarning: log }) : null;
  const overrides = { ...cfg.modelOverrides };
  if (overrides.numClasses === undefined) overrides.numClasses = trainSrc.numClasses;
  else if (overrides.numClasses < trainSrc.numClasses) {
    throw new Error(
      `--nb-classes ${overrides.numClasses} is fewer than the ${trainSrc.numClasses} classes of --data-set ${cfg.data.kind}: the head needs one output per class`,
    );
  }
  if (cfg.data.inputSize !== undefined) overrides.imgSize = cfg.data.inputSize;
  const model = createModel(cfg.model, overrides, { seed: cfg.seed });
  const { inChans, imgSize } = model.config;
  if (inChans !== 1 && inChans !== 3)
    throw new Error(`--in-chans must be 1 or 3 for image data, got ${inChans}`);
  const channels = inChans as Channels;
  const stats = trainNormalization(cfg, channels);
  log(
    `model ${cfg.model}: ${model.numParameters().toLocaleString('en')} parameters, pe ${model.config.pe.kind}, join ${model.config.join}, rpe ${model.config.rpe.kind}, ${model.config.numClasses} classes`,
  );
  log(`engine: ${describeEngine()}`);
  log(
    `data ${cfg.data.kind}: ${trainSrc.length} train / ${valSrc?.length ?? 0} val images, ${trainSrc.numClasses} classes, input ${channels}x${imgSize}x${imgSize}, mean ${stats.mean.map((v) => v.toFixed(4)).join(',')} std ${stats.std.map((v) => v.toFixed(4)).join(',')}`,
  );

  if (cfg.finetune) {
    const ft = await open(cfg.finetune);
    const adapted = adaptForFinetune(model, ft.stateDict, log);
    const report = loadWeights(model, adapted, { strict: false, source: cfg.finetune });
    if (report.missing.length || report.unexpected.length)
      log(`finetune from ${cfg.finetune}: ${describeReport(report)}`);
  }
  if (cfg.attnOnly) freezeForAttnOnly(model);
  const teacher = await loadTeacher(cfg, model.config.numClasses, open);

  // DeiT scales the lr by the global batch: the samples of one optimizer step over all ranks,
  // lr * batch_size * accum_iter * world_size / 512.
  const stepBatch = cfg.batchSize * accum * worldSize;
  const baseLr = cfg.unscaleLr ? cfg.optimizer.lr : scaledLr(cfg.optimizer.lr, stepBatch);
  const optimizer = buildOptimizer(cfg, model, baseLr);
  const baseValues = optimizer.groups.map(() => baseLr);

  const startEpoch = cfg.startEpoch ?? 0;
  let state: TrainingState = { epoch: startEpoch, batchesDone: 0, maxAccuracy: 0, rng: null };
  // log.txt's lines; the checkpoint keeps a copy (see the module comment).
  let logLines: string[] = [];
  let savedLrs: (number | undefined)[] = [];
  let resumed = false;
  let savedEma: StateDict | null = null;
  let sameSchedule = true;
  if (cfg.resume) {
    const ck = await open(cfg.resume);
    loadWeights(model, ck.stateDict, { strict: true, source: cfg.resume });
    if (ck.raw instanceof Map && ck.raw.has('optimizer') && ck.raw.has('epoch')) {
      const tc = trainingCheckpointFrom(ck.raw, ck.spec);
      savedLrs = loadOptimizerState(optimizer, tc.raw.get('optimizer') ?? null, cfg.resume);
      const emaSd = tc.raw.get('model_ema');
      if (emaSd instanceof Map) savedEma = emaSd as StateDict;
      // timm's scheduler state: one base value per group (lape's earlier checkpoints: one for all).
      // The same as the flags give: an exact resume at the lrs the run was at. Other values: the flags
      // changed the recipe, so the schedule follows them.
      const stored = storedBaseValues(tc.raw.get('lr_scheduler'), optimizer.groups.length);
      sameSchedule =
        stored === null || stored.every((v, i) => Math.abs(v - baseValues[i]) <= 1e-12 * Math.abs(v));
      if (!sameSchedule)
        log(
          `note: the flags give a base lr of ${baseLr.toExponential(3)}, ${cfg.resume}'s scheduler has ${(stored as number[]).map((v) => v.toExponential(3)).join(', ')}: following the flags`,
        );
      state = tc.state;
      const saved = { globalBatch: tc.globalBatch, accumIter: tc.accumIter };
      const globalBatch = cfg.batchSize * worldSize;
      if (
        state.batchesDone > 0 &&
        ((saved.globalBatch !== null && saved.globalBatch !== globalBatch) ||
          (saved.accumIter !== null && saved.accumIter !== accum))
      ) {
        const accumText = (n: number | null): string => (n !== null && n > 1 ? ` and --accum-iter ${n}` : '');
        throw new Error(
          `${cfg.resume} was saved ${state.batchesDone} batches into epoch ${state.epoch + 1} with ${saved.globalBatch ?? globalBatch} samples per batch over all ranks${accumText(saved.accumIter)}; this run takes ${globalBatch} (${worldSize} x --batch-size ${cfg.batchSize})${accumText(accum)}: resume mid-epoch with the same global batch and accumulation, or from a checkpoint saved at the end of an epoch`,
        );
      }
      logLines = tc.log ?? readLogLines(out);
      resumed = true;
      model.rng.setState(state.rng ?? new Rng(cfg.seed + state.epoch).state());
      log(
        `resumed from ${cfg.resume}: ${state.epoch} epochs done${state.batchesDone ? `, ${state.batchesDone} batches into the next` : ''}`,
      );
    } else {
      log(
        `resumed the weights of ${cfg.resume} (it holds no training state): starting at epoch ${startEpoch}`,
      );
    }
  }
  const scheduler = new LrScheduler(schedulerSettings(cfg), baseValues);
  if (resumed) {
    if (state.plateau) scheduler.restorePlateau(state.plateau);
    // The lrs the run was at: lape's record, else what the optimizer groups held, else the schedule's.
    const groups = optimizer.groups.length;
    if (sameSchedule && state.lrs && state.lrs.length === groups) scheduler.setCurrent(state.lrs);
    else if (sameSchedule && savedLrs.length === groups && savedLrs.every((v) => v !== undefined))
      scheduler.setCurrent(savedLrs as number[]);
    else if (state.epoch > 0 && scheduler.settings.kind !== 'plateau') scheduler.step(state.epoch - 1);
  }

  // The EMA starts from the weights training starts from (after --finetune / --resume), as DeiT's.
  const ema = cfg.ema ? new ModelEma(model.stateDict(), cfg.ema.decay) : null;
  if (ema && savedEma && cfg.resume) ema.load(savedEma, cfg.resume);
  else if (ema && resumed)
    log(`${cfg.resume} has no 'model_ema': the weight EMA starts from the resumed weights`);

  const amp = ampAvailable(cfg.amp, log);
  if (amp) log('precision: bfloat16 autocast (float32 weights, gradients and optimizer)');
  const ctx: StepContext = {
    model,
    optimizer,
    criterion: cfg.criterion,
    distillation: cfg.distillation,
    teacher,
    clipGrad: cfg.clipGrad,
    ema,
    amp,
    dataParallel: dp,
  };
  const loader: DataLoader = await trainLoader(cfg, trainSrc, imgSize, channels, {
    stats,
    numClasses: model.config.numClasses,
    shard: dp?.shard('train'),
    mixupGroups: hooks.mixupGroups,
  }).catch((e: unknown) =>
    Promise.reject(dp ? dp.explainShardError(e, 'train', trainSrc.length, cfg.batchSize * accum) : e),
  );
  const valBatch = Math.max(1, Math.floor(cfg.batchSize * 1.5));
  const valShard = cfg.distEval ? dp?.shard('eval') : undefined;
  const valLoader = valSrc
    ? await evalLoader(cfg, valSrc, imgSize, channels, valBatch, { stats, shard: valShard }).catch(
        (e: unknown) => Promise.reject(dp ? dp.explainShardError(e, 'val', valSrc.length, valBatch) : e),
      )
    : null;
  // Every rank agrees on the run before anything is written (one line from rank 0 otherwise).
  dp?.verifyStartup(
    startupFingerprint({
      cfg,
      model,
      trainImages: trainSrc.length,
      valImages: valSrc?.length ?? 0,
      numClasses: trainSrc.numClasses,
      state,
    }),
  );
  const run: RunFacts = {
    model: model.config,
    baseLr,
    normalization: stats,
    classNames: trainSrc.classNames,
    world: { size: worldSize, rank: dp?.rank ?? 0 },
  };
  const save = (name: string, s: TrainingState): void => {
    if (!out) return;
    saveCheckpoint(join(out, name), {
      model,
      optimizer,
      ema: ema?.shadow ?? null,
      config: cfg,
      state: s,
      scheduler,
      run,
      log: logLines,
    });
  };
  const writeLog = (): void => {
    if (out) writeBytesAtomic(join(out, 'log.txt'), logLines.map((l) => `${l}\n`).join(''));
  };
  /** The checkpoint a divergence leaves to go back to. */
  let kept: { path: string; epochs: number } | null =
    cfg.resume && state.epoch > 0 ? { path: cfg.resume, epochs: state.epoch } : null;
  if (out && !cfg.resume) writeBytesAtomic(join(out, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
  // Repair: a run killed after its checkpoint but before log.txt resumes with the checkpoint's log.
  if (out && cfg.resume) writeLog();

  const epochs: EpochLog[] = [];
  let final: EvalResult | null = null;
  const trainMode = cfg.trainMode ?? true;

  for (let epoch = state.epoch; epoch < cfg.epochs; epoch++) {
    const lrs = scheduler.current();
    optimizer.setGroupLrs(lrs);
    model.train(trainMode);
    const skip = epoch === state.epoch ? state.batchesDone : 0;
    const steps = loader.numBatches / accum;
    const progress = showProgress ? createProgress(`epoch ${epoch + 1}/${cfg.epochs}`, steps) : null;
    const t0 = performance.now();
    let lossSum = 0;
    let stepsDone = 0;
    let images = 0;
    let index = 0;
    let interrupted = false;
    let pending: Batch[] = [];
    for await (const batch of loader.iterate(epoch)) {
      index++;
      if (index <= skip) continue; // trained before the interruption
      pending.push(batch);
      if (pending.length < accum) continue;
      const loss = trainStep(ctx, pending.length === 1 ? pending[0] : pending);
      const step = index / accum;
      pending = [];
      if (!Number.isFinite(loss)) {
        progress?.stop();
        throw new DivergedError(epoch + 1, step, loss, kept);
      }
      lossSum += loss;
      stepsDone++;
      images += cfg.batchSize * accum * worldSize;
      const secs = (performance.now() - t0) / 1000;
      progress?.update(step, {
        loss: (lossSum / stepsDone).toFixed(4),
        lr: lrs[lrs.length - 1].toExponential(2),
        'img/s': (images / secs).toFixed(1),
      });
      hooks.onStep?.(step, loss);
      // Let the event loop run (SIGINT handlers, progress output): the step itself is synchronous.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (dp ? dp.stopRequested : hooks.signal?.aborted) {
        interrupted = true;
        break;
      }
    }
    progress?.stop();
    if (interrupted) {
      const s = { ...state, epoch, batchesDone: index, rng: model.rng.state() };
      save('checkpoint.pth', s);
      optimizer.dispose();
      ema?.dispose();
      teacher?.dispose();
      log(
        `interrupted: saved a resumable checkpoint (epoch ${epoch + 1}, batch ${index})${out ? ` to ${join(out, 'checkpoint.pth')}` : ''}`,
      );
      return { outcome: 'interrupted', model, epochs, final, maxAccuracy: state.maxAccuracy };
    }
    const secs = (performance.now() - t0) / 1000;
    const entry: EpochLog = {
      epoch,
      train_lr: lrs[0],
      train_loss: stepsDone ? lossSum / stepsDone : NaN,
      train_images_per_s: images / secs,
      n_parameters: model.numParameters(),
      epoch_seconds: secs,
    };
    dp?.checkInSync(model, epoch);
    let metric: number | undefined;
    if (valLoader) {
      final = await evaluate(model, valLoader, { amp });
      if (dp && cfg.distEval) final = dp.reduceEval(final);
      metric = final.acc1;
      Object.assign(entry, { test_loss: final.loss, test_acc1: final.acc1, test_acc5: final.acc5 });
      log(
        `epoch ${epoch + 1}: train loss ${entry.train_loss.toFixed(4)}, test acc1 ${final.acc1.toFixed(2)}% acc5 ${final.acc5.toFixed(2)}% loss ${final.loss.toFixed(4)} (${entry.train_images_per_s.toFixed(1)} img/s)`,
      );
    } else {
      log(
        `epoch ${epoch + 1}: train loss ${entry.train_loss.toFixed(4)} (${entry.train_images_per_s.toFixed(1)} img/s)`,
      );
    }
    logLines = [...logLines, JSON.stringify(entry)];
    // timm's contract: step(epoch) after the epoch sets the next epoch's lr.
    optimizer.setGroupLrs(scheduler.step(epoch, metric));
    state = { ...state, epoch: epoch + 1, batchesDone: 0, rng: model.rng.state() };
    if (final && metric !== undefined && metric > state.maxAccuracy) {
      state = { ...state, maxAccuracy: metric };
      save('best_checkpoint.pth', state);
    }
    save('checkpoint.pth', state);
    writeLog();
    if (out) kept = { path: join(out, 'checkpoint.pth'), epochs: state.epoch };
    epochs.push(entry);
  }
  optimizer.dispose();
  ema?.dispose();
  teacher?.dispose();
  return { outcome: 'completed', model, epochs, final, maxAccuracy: state.maxAccuracy };
}

/** The lines of an existing log.txt (for a checkpoint without its own copy of the log). */
function readLogLines(out: string | null): string[] {
  const path = out ? join(out, 'log.txt') : null;
  if (!path || !existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
}
