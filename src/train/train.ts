/**
 * `train(config)`: DeiT's training loop on lape (the reference's main.py): data, model, optimizer,
 * schedule, EMA, distillation, per-epoch evaluation, checkpoints and log.txt in the reference layout,
 * exact resume, and a clean stop on interrupt or divergence.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeEngine } from '../backend/registry.js';
import { ampAvailable } from '../ops/autocast.js';
import type { Channels } from '../data/image.js';
import type { DataLoader } from '../data/loader.js';
import { readStateDict } from '../io/pth.js';
import type { StateDict } from '../io/host_tensor.js';
import { createModel } from '../models/registry.js';
import { adaptForFinetune } from '../models/finetune.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { describeReport, loadWeights } from '../models/weights.js';
import { AdamW } from '../optim/adamw.js';
import { ModelEma } from '../optim/ema.js';
import type { Optimizer, ParamGroupSpec } from '../optim/optimizer.js';
import { lrForEpoch, scaledLr, type CosineSchedule } from '../optim/scheduler.js';
import { Sgd } from '../optim/sgd.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  loadOptimizerState,
  readTrainingCheckpoint,
  saveCheckpoint,
  type TrainingState,
} from './checkpoint.js';
import type { TrainConfig } from './config.js';
import { evalLoader, openSplit, trainLoader } from './data.js';
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
}

/** A NaN or infinite loss: training stops, the last good checkpoint stays as it was. */
export class DivergedError extends Error {
  constructor(
    readonly epoch: number,
    readonly step: number,
    loss: number,
  ) {
    super(
      `training diverged: loss is ${loss} at epoch ${epoch}, step ${step}; the last good checkpoint was kept`,
    );
  }
}

function buildOptimizer(cfg: TrainConfig, model: VisionTransformer, lr: number): Optimizer {
  const trainable = (p: Tensor): boolean => p.requiresGrad;
  const { decay, noDecay } = model.weightDecayGroups();
  // timm's add_weight_decay order: the no-decay group first (this is the optimizer state's index order).
  const groups: ParamGroupSpec[] = [
    { params: noDecay.map(([, p]) => p).filter(trainable), weightDecay: 0 },
    { params: decay.map(([, p]) => p).filter(trainable), weightDecay: cfg.optimizer.weightDecay },
  ];
  const o = cfg.optimizer;
  switch (o.kind) {
    case 'adamw':
      return new AdamW(groups, { lr, betas: o.betas, eps: o.eps });
    case 'sgd':
      return new Sgd(groups, { lr, momentum: o.momentum });
  }
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

function loadTeacher(cfg: TrainConfig, numClasses: number): VisionTransformer | null {
  if (cfg.distillation.kind === 'none') return null;
  const t = cfg.teacher;
  if (!t)
    throw new Error(`--distillation-type ${cfg.distillation.kind} needs --teacher-model and --teacher-path`);
  const teacher = createModel(t.model, { numClasses, ...t.overrides });
  const { stateDict } = readStateDict(t.path);
  loadWeights(teacher, stateDict, { strict: true, source: t.path });
  for (const p of teacher.parameters()) p.requiresGrad = false;
  return teacher.eval();
}

export async function train(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? (() => {});
  const showProgress = hooks.progress ?? false;
  if (!(Number.isInteger(cfg.epochs) && cfg.epochs >= 1))
    throw new Error(`--epochs must be a positive integer, got ${cfg.epochs}`);
  if (!(Number.isInteger(cfg.batchSize) && cfg.batchSize >= 1))
    throw new Error(`--batch-size must be a positive integer, got ${cfg.batchSize}`);

  const trainSrc = await openSplit(cfg, 'train', { onWarning: log });
  const valSrc = cfg.evalEachEpoch ? await openSplit(cfg, 'val', { onWarning: log }) : null;
  const overrides = { ...cfg.modelOverrides, numClasses: trainSrc.numClasses };
  if (cfg.data.inputSize !== undefined) overrides.imgSize = cfg.data.inputSize;
  const model = createModel(cfg.model, overrides, { seed: cfg.seed });
  const { inChans, imgSize } = model.config;
  if (inChans !== 1 && inChans !== 3)
    throw new Error(`--in-chans must be 1 or 3 for image data, got ${inChans}`);
  const channels = inChans as Channels;
  log(
    `model ${cfg.model}: ${model.numParameters().toLocaleString('en')} parameters, pe ${model.config.pe.kind}, join ${model.config.join}, rpe ${model.config.rpe.kind}`,
  );
  log(`engine: ${describeEngine()}`);
  log(
    `data ${cfg.data.kind}: ${trainSrc.length} train / ${valSrc?.length ?? 0} val images, ${trainSrc.numClasses} classes, input ${channels}x${imgSize}x${imgSize}`,
  );

  if (cfg.finetune) {
    const { stateDict } = readStateDict(cfg.finetune);
    const adapted = adaptForFinetune(model, stateDict, log);
    const report = loadWeights(model, adapted, { strict: false, source: cfg.finetune });
    if (report.missing.length || report.unexpected.length)
      log(`finetune from ${cfg.finetune}: ${describeReport(report)}`);
  }
  if (cfg.attnOnly) freezeForAttnOnly(model);
  const teacher = loadTeacher(cfg, trainSrc.numClasses);

  const baseLr = cfg.unscaleLr ? cfg.optimizer.lr : scaledLr(cfg.optimizer.lr, cfg.batchSize);
  const schedule: CosineSchedule = {
    baseLr,
    epochs: cfg.epochs,
    ...cfg.schedule,
  };
  const optimizer = buildOptimizer(cfg, model, baseLr);

  let state: TrainingState = { epoch: 0, batchesDone: 0, maxAccuracy: 0, rng: null };
  let savedEma: StateDict | null = null;
  if (cfg.resume) {
    const ck = readTrainingCheckpoint(cfg.resume);
    const modelSd = readStateDict(cfg.resume).stateDict;
    loadWeights(model, modelSd, { strict: true, source: cfg.resume });
    const optState = ck.raw.get('optimizer');
    if (optState !== undefined) loadOptimizerState(optimizer, optState, cfg.resume);
    const emaSd = ck.raw.get('model_ema');
    if (emaSd instanceof Map) savedEma = emaSd as StateDict;
    state = ck.state;
    model.rng.setState(state.rng ?? new Rng(cfg.seed + state.epoch).state());
    log(
      `resumed from ${cfg.resume}: ${state.epoch} epochs done${state.batchesDone ? `, ${state.batchesDone} batches into the next` : ''}`,
    );
  }

  // The EMA starts from the weights training starts from (after --finetune / --resume), as DeiT's.
  const ema = cfg.ema ? new ModelEma(model.stateDict(), cfg.ema.decay) : null;
  if (ema && savedEma && cfg.resume) ema.load(savedEma, cfg.resume);
  else if (ema && cfg.resume)
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
  };
  const out = cfg.outputDir;
  if (out) mkdirSync(out, { recursive: true });
  const save = (name: string, s: TrainingState): void => {
    if (!out) return;
    saveCheckpoint(join(out, name), {
      model,
      optimizer,
      ema: ema?.shadow ?? null,
      config: cfg,
      state: s,
      schedule,
    });
  };
  if (out && !cfg.resume) writeFileSync(join(out, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);

  const loader: DataLoader = await trainLoader(cfg, trainSrc, imgSize, channels);
  const valLoader = valSrc
    ? await evalLoader(cfg, valSrc, imgSize, channels, Math.max(1, Math.floor(cfg.batchSize * 1.5)))
    : null;
  const epochs: EpochLog[] = [];
  let final: EvalResult | null = null;
  model.train();

  for (let epoch = state.epoch; epoch < cfg.epochs; epoch++) {
    const lr = lrForEpoch(schedule, epoch);
    optimizer.setLr(lr);
    const skip = epoch === state.epoch ? state.batchesDone : 0;
    const progress = showProgress
      ? createProgress(`epoch ${epoch + 1}/${cfg.epochs}`, loader.numBatches)
      : null;
    const t0 = performance.now();
    let lossSum = 0;
    let steps = 0;
    let images = 0;
    let index = 0;
    let interrupted = false;
    for await (const batch of loader.iterate(epoch)) {
      index++;
      if (index <= skip) continue; // trained before the interruption
      const loss = trainStep(ctx, batch);
      if (!Number.isFinite(loss)) {
        progress?.stop();
        throw new DivergedError(epoch, index, loss);
      }
      lossSum += loss;
      steps++;
      images += batch.size;
      const secs = (performance.now() - t0) / 1000;
      progress?.update(index, {
        loss: (lossSum / steps).toFixed(4),
        lr: lr.toExponential(2),
        'img/s': (images / secs).toFixed(1),
      });
      hooks.onStep?.(index, loss);
      // Let the event loop run (SIGINT handlers, progress output): the step itself is synchronous.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (hooks.signal?.aborted) {
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
      train_lr: lr,
      train_loss: steps ? lossSum / steps : NaN,
      train_images_per_s: images / secs,
      n_parameters: model.numParameters(),
      epoch_seconds: secs,
    };
    state = { ...state, epoch: epoch + 1, batchesDone: 0, rng: model.rng.state() };
    if (valLoader) {
      final = await evaluate(model, valLoader, { amp });
      Object.assign(entry, { test_loss: final.loss, test_acc1: final.acc1, test_acc5: final.acc5 });
      log(
        `epoch ${epoch + 1}: train loss ${entry.train_loss.toFixed(4)}, test acc1 ${final.acc1.toFixed(2)}% acc5 ${final.acc5.toFixed(2)}% loss ${final.loss.toFixed(4)} (${entry.train_images_per_s.toFixed(1)} img/s)`,
      );
      if (final.acc1 > state.maxAccuracy) {
        state = { ...state, maxAccuracy: final.acc1 };
        save('best_checkpoint.pth', state);
      }
    } else {
      log(
        `epoch ${epoch + 1}: train loss ${entry.train_loss.toFixed(4)} (${entry.train_images_per_s.toFixed(1)} img/s)`,
      );
    }
    save('checkpoint.pth', state);
    if (out) appendFileSync(join(out, 'log.txt'), `${JSON.stringify(entry)}\n`);
    epochs.push(entry);
  }
  optimizer.dispose();
  ema?.dispose();
  teacher?.dispose();
  return { outcome: 'completed', model, epochs, final, maxAccuracy: state.maxAccuracy };
}
