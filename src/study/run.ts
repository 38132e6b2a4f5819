/**
 * `runStudy`: trains every selected grid point of a study into its own folder, one after another,
 * then writes the summary. Restartable by design: a finished run (result.json) is skipped, an
 * interrupted one (checkpoint.pth without result.json) is resumed, and a run whose settings no longer
 * match the study file is refused rather than silently mixed into the tables.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_FASHION_MNIST_PATH } from '../data/datasets.js';
import type { Channels } from '../data/image.js';
import { readStateDict } from '../io/pth.js';
import { createModel } from '../models/registry.js';
import { loadWeights } from '../models/weights.js';
import { readTrainingCheckpoint } from '../train/checkpoint.js';
import type { TrainConfig } from '../train/config.js';
import { evalLoader, openSplit } from '../train/data.js';
import { evaluate, type EvalResult } from '../train/evaluate.js';
import { DivergedError, train, type EpochLog } from '../train/train.js';
import {
  gridPoints,
  loadStudyConfig,
  runName,
  StudyConfigError,
  trainConfigFor,
  type GridPoint,
  type StudyConfig,
  type StudyJoin,
  type StudyPe,
} from './config.js';
import { machineInfo, readRunRecord, writeRunRecord, type RunRecord } from './result.js';
import { duration, summarize, type StudySummary } from './summary.js';

/** Which grid points to run (`--only pe=learnable,join=LaPE`): within a key any value, across keys all. */
export interface RunFilter {
  pe?: StudyPe[];
  join?: StudyJoin[];
  seeds?: number[];
}

export interface RunStudyOptions {
  /** Default: runs/study-<name>. */
  outDir?: string;
  only?: RunFilter;
  /** Status lines (default: none; the CLI prints them on stderr). */
  log?: (line: string) => void;
  /** Progress bars inside each run (default false). */
  progress?: boolean;
  /** Aborting stops the current run with a resumable checkpoint and ends the study there. */
  signal?: AbortSignal;
  /** The command line recorded in results.md. */
  command?: string;
  /** Replaces dataset.path (the data may live elsewhere on another machine). */
  dataPath?: string;
}

/** What happened to one selected grid point in this invocation. */
export type RunAction =
  | { kind: 'skipped'; record: RunRecord }
  | { kind: 'trained'; record: RunRecord; resumedFromEpoch: number | null }
  | { kind: 'interrupted' }
  | { kind: 'not-started' };

export interface StudyRun {
  point: GridPoint;
  dir: string;
  action: RunAction;
}

export interface StudyReport {
  config: StudyConfig;
  outDir: string;
  runs: StudyRun[];
  interrupted: boolean;
  summary: StudySummary;
}

/** The folder a study writes to unless told otherwise. */
export function defaultOutDir(config: StudyConfig): string {
  return join('runs', `study-${config.name}`);
}

/** `value` if the study's grid has it (`--only` can only narrow the grid), else an error naming both. */
function inGrid<T extends string | number>(
  key: 'pe' | 'join' | 'seed',
  value: string,
  grid: readonly T[],
  config: StudyConfig,
): T {
  const found = grid.find((g) => g === (typeof g === 'number' ? Number(value) : value));
  if (found === undefined)
    throw new StudyConfigError(
      `--only ${key}=${value}: not in grid.${key === 'seed' ? 'seeds' : key} of ${config.source} (${grid.join(', ')})`,
    );
  return found;
}

/** Parses `--only pe=learnable,join=LaPE,seed=0` against the study's grid. */
export function parseOnly(spec: string, config: StudyConfig): RunFilter {
  const filter: RunFilter = {};
  for (const part of spec.split(',').map((s) => s.trim())) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq).trim();
    const value = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (eq < 0 || value === '')
      throw new StudyConfigError(`--only '${part}': expected key=value with key pe, join or seed`);
    switch (key) {
      case 'pe':
        (filter.pe ??= []).push(inGrid('pe', value, config.grid.pe, config));
        break;
      case 'join':
        (filter.join ??= []).push(inGrid('join', value, config.grid.join, config));
        break;
      case 'seed':
      case 'seeds':
        (filter.seeds ??= []).push(inGrid('seed', value, config.grid.seeds, config));
        break;
      default:
        throw new StudyConfigError(`--only '${part}': unknown key '${key}' (valid: pe, join, seed)`);
    }
  }
  return filter;
}

function selected(p: GridPoint, f: RunFilter | undefined): boolean {
  if (!f) return true;
  return (
    (f.pe === undefined || f.pe.includes(p.pe)) &&
    (f.join === undefined || f.join.includes(p.join)) &&
    (f.seeds === undefined || f.seeds.includes(p.seed))
  );
}

// ---- settings drift -------------------------------------------------------------------------------

/** The settings that decide a run's numbers (where the data or outputs live, and worker count, do not). */
function fingerprint(cfg: TrainConfig): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(cfg)) as Record<string, unknown> & {
    data: Record<string, unknown>;
  };
  delete plain.outputDir;
  delete plain.resume;
  delete plain.data.path;
  delete plain.data.workers;
  return plain;
}

/** Dotted paths where two JSON values differ. */
function differences(a: unknown, b: unknown, path = ''): string[] {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      differences(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
      ),
    );
  }
  return a === b ? [] : [`${path || '(root)'}: ${JSON.stringify(a)} in the run, ${JSON.stringify(b)} now`];
}

/** Refuses a run folder whose recorded config.json was made with other settings than the study's now. */
function checkSameSettings(dir: string, planned: TrainConfig): void {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return;
  const recorded = JSON.parse(readFileSync(file, 'utf8')) as TrainConfig;
  const diff = differences(fingerprint(recorded), fingerprint(planned));
  if (diff.length > 0) {
    throw new StudyConfigError(
      `${dir} was trained with other settings than the study file now asks for (${diff.slice(0, 5).join('; ')}${diff.length > 5 ? `; and ${diff.length - 5} more` : ''}); use another --out-dir, or delete the folder to redo the run`,
    );
  }
}

// ---- one run --------------------------------------------------------------------------------------

/** Wall seconds spent on a run by earlier, interrupted invocations (written as it trains). */
const PROGRESS_FILE = 'study_progress.json';
/** How often the running wall time is saved, so a killed process loses at most this much of it. */
const PROGRESS_EVERY_MS = 30_000;

function priorWallSeconds(dir: string): number {
  const file = join(dir, PROGRESS_FILE);
  if (!existsSync(file)) return 0;
  const v = (JSON.parse(readFileSync(file, 'utf8')) as { wall_s?: unknown }).wall_s;
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function saveWallSeconds(dir: string, wallS: number): void {
  writeFileSync(join(dir, PROGRESS_FILE), `${JSON.stringify({ wall_s: wallS })}\n`);
}

/** Every epoch a run has logged (log.txt holds them across resumes). */
function readEpochLog(dir: string): EpochLog[] {
  const file = join(dir, 'log.txt');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EpochLog);
}

/** Images trained per second over all epochs: total images over total training seconds. */
function throughput(epochs: readonly EpochLog[]): number | null {
  let images = 0;
  let secs = 0;
  for (const e of epochs) {
    images += e.train_images_per_s * e.epoch_seconds;
    secs += e.epoch_seconds;
  }
  return secs > 0 ? images / secs : null;
}

/**
 * Evaluates a checkpoint whose training already ended (the process died after the last epoch's
 * checkpoint but before result.json): resuming trains nothing, so it also evaluates nothing.
 */
async function evaluateFinished(cfg: TrainConfig, ckpt: string): Promise<EvalResult> {
  const src = await openSplit(cfg, 'val');
  const overrides = { ...cfg.modelOverrides, numClasses: src.numClasses };
  if (cfg.data.inputSize !== undefined) overrides.imgSize = cfg.data.inputSize;
  const model = createModel(cfg.model, overrides, { seed: cfg.seed });
  loadWeights(model, readStateDict(ckpt).stateDict, { strict: true, source: ckpt });
  const { inChans, imgSize } = model.config;
  const batch = Math.max(1, Math.floor(cfg.batchSize * 1.5));
  try {
    return await evaluate(model.eval(), await evalLoader(cfg, src, imgSize, inChans as Channels, batch));
  } finally {
    model.dispose();
  }
}

async function runOne(
  point: GridPoint,
  dir: string,
  cfg: TrainConfig,
  opts: RunStudyOptions,
  log: (line: string) => void,
): Promise<RunAction> {
  const ckpt = join(dir, 'checkpoint.pth');
  const resumeFrom = existsSync(ckpt) ? readTrainingCheckpoint(ckpt).state : null;
  if (resumeFrom === null) {
    // A fresh start: leftovers of a run that died before its first checkpoint would be appended to.
    for (const f of ['log.txt', PROGRESS_FILE, 'best_checkpoint.pth']) rmSync(join(dir, f), { force: true });
  }
  const prior = resumeFrom === null ? 0 : priorWallSeconds(dir);
  const t0 = performance.now();
  const elapsed = (): number => prior + (performance.now() - t0) / 1000;
  let lastSave = performance.now();
  const base = {
    pe: point.pe,
    join: point.join,
    seed: point.seed,
    resumed: resumeFrom !== null,
    machine: machineInfo(),
  };
  try {
    const result = await train(
      { ...cfg, resume: resumeFrom === null ? null : ckpt },
      {
        signal: opts.signal,
        progress: opts.progress,
        log: (line) => log(`  ${line}`),
        onStep: () => {
          if (performance.now() - lastSave < PROGRESS_EVERY_MS) return;
          lastSave = performance.now();
          saveWallSeconds(dir, elapsed());
        },
      },
    );
    if (result.outcome === 'interrupted') {
      saveWallSeconds(dir, elapsed());
      return { kind: 'interrupted' };
    }
    const params = result.model.numParameters();
    // lape frees tensors explicitly, not through the garbage collector; a study trains many models in
    // one process, so each is released as soon as its numbers are read.
    result.model.dispose();
    const final = result.final ?? (await evaluateFinished(cfg, ckpt));
    const epochs = readEpochLog(dir);
    const record: RunRecord = {
      ...base,
      status: 'completed',
      acc1: final.acc1,
      acc5: final.acc5,
      loss: final.loss,
      images: final.images,
      max_acc1: Math.max(result.maxAccuracy, final.acc1),
      params,
      images_per_s: throughput(epochs),
      wall_s: elapsed(),
      epochs: epochs.length,
      finished_at: new Date().toISOString(),
    };
    writeRunRecord(dir, record);
    return { kind: 'trained', record, resumedFromEpoch: resumeFrom?.epoch ?? null };
  } catch (e) {
    if (!(e instanceof DivergedError)) throw e;
    // A diverged run is a result (this pe/join/seed is unstable with this recipe), not a crash: it is
    // recorded so the table shows it, and not retried, since the same seed would diverge again.
    const epochs = readEpochLog(dir);
    const record: RunRecord = {
      ...base,
      status: 'failed',
      error: e.message,
      params: epochs[0]?.n_parameters ?? null,
      images_per_s: throughput(epochs),
      wall_s: elapsed(),
      epochs: epochs.length,
      finished_at: new Date().toISOString(),
    };
    writeRunRecord(dir, record);
    return { kind: 'trained', record, resumedFromEpoch: resumeFrom?.epoch ?? null };
  }
}

/** Checks the data is where the study says before hours of runs depend on it. */
function checkDataPath(config: StudyConfig): void {
  const path =
    config.dataset.path ?? (config.dataset.kind === 'fashion-mnist' ? DEFAULT_FASHION_MNIST_PATH : null);
  if (path !== null && !existsSync(path)) {
    throw new StudyConfigError(
      `${config.source}: dataset.path '${path}' does not exist (resolved from ${process.cwd()}; pass --data-path to point elsewhere)`,
    );
  }
}

/** Runs the study file at `configPath` (see the module comment), then writes results.json and results.md. */
export async function runStudy(configPath: string, opts: RunStudyOptions = {}): Promise<StudyReport> {
  const log = opts.log ?? (() => {});
  const loaded = loadStudyConfig(configPath);
  const config: StudyConfig =
    opts.dataPath === undefined ? loaded : { ...loaded, dataset: { ...loaded.dataset, path: opts.dataPath } };
  const outDir = opts.outDir ?? defaultOutDir(config);
  const points = gridPoints(config.grid).filter((p) => selected(p, opts.only));
  if (points.length === 0) throw new StudyConfigError(`--only selects no run of ${config.source}`);

  // Everything that can be checked is checked before the first run: hours in, it is too late.
  checkDataPath(config);
  const plans = points.map((point) => {
    const dir = join(outDir, runName(point));
    const cfg = trainConfigFor(config, point, dir);
    if (existsSync(join(dir, 'checkpoint.pth')) || existsSync(join(dir, 'result.json')))
      checkSameSettings(dir, cfg);
    return { point, dir, cfg, done: readRunRecord(dir) };
  });
  const todo = plans.filter((p) => p.done === null).length;
  log(
    `study ${config.name}: ${points.length} runs selected (${points.length - todo} already finished, ${todo} to train) in ${resolve(outDir)}`,
  );

  const runs: StudyRun[] = [];
  let interrupted = false;
  let trainedWall = 0;
  let trainedCount = 0;
  let left = todo;
  for (const [i, { point, dir, cfg, done }] of plans.entries()) {
    const tag = `[${i + 1}/${plans.length}] ${runName(point)}`;
    if (done !== null) {
      runs.push({ point, dir, action: { kind: 'skipped', record: done } });
      log(`${tag}: already ${done.status}, skipped`);
      continue;
    }
    // Let the event loop turn before starting a run, so a Ctrl-C that arrived while the previous run
    // kept the thread busy is handled now, before hours of new work begin.
    await new Promise((r) => setImmediate(r));
    if (interrupted || opts.signal?.aborted) {
      interrupted = true;
      runs.push({ point, dir, action: { kind: 'not-started' } });
      continue;
    }
    log(
      `${tag}: training${existsSync(join(dir, 'checkpoint.pth')) ? ' (resuming from checkpoint.pth)' : ''}`,
    );
    const action = await runOne(point, dir, cfg, opts, log);
    runs.push({ point, dir, action });
    switch (action.kind) {
      case 'interrupted':
        interrupted = true;
        log(`${tag}: interrupted; run the same command again to resume it`);
        break;
      case 'trained': {
        left--;
        trainedCount++;
        trainedWall += action.record.wall_s;
        const eta = left > 0 ? `, about ${duration((trainedWall / trainedCount) * left)} to go` : '';
        const r = action.record;
        switch (r.status) {
          case 'completed':
            log(`${tag}: top-1 ${r.acc1.toFixed(2)}% in ${duration(r.wall_s)}${eta}`);
            break;
          case 'failed':
            log(`${tag}: FAILED (${r.error})${eta}`);
            break;
        }
        break;
      }
      case 'skipped':
      case 'not-started':
        break;
    }
  }
  const summary = summarize(outDir, config, { command: opts.command ?? `lape study ${configPath}` });
  log(`summary: ${join(outDir, 'results.md')}`);
  return { config, outDir, runs, interrupted, summary };
}
