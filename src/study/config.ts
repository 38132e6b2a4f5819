/**
 * The study file (`studies/*.json`): one model and training recipe, and a grid of position embeddings,
 * join methods and seeds to train it with. Parsing validates the whole file up front, so a typo in
 * the last grid entry fails in a second rather than after hours of finished runs, and every message
 * names the file and the entry at fault.
 */
import { readFileSync } from 'node:fs';
import type { DatasetKind } from '../data/datasets.js';
import { parseRandAugment } from '../data/transforms/rand_augment.js';
import { JOIN_KINDS, PE_KINDS, validateConfig } from '../models/config.js';
import { MODEL_VARIANTS, modelNames, resolveConfig, type ModelOverrides } from '../models/registry.js';
import { defaultTrainConfig, type TrainConfig } from '../train/config.js';

/** What `grid.pe` may hold: the absolute embeddings, plus 2D_RPE (a relative bias instead). */
export const STUDY_PE_KINDS = [...PE_KINDS, '2D_RPE'] as const;
export type StudyPe = NonNullable<ModelOverrides['pe']>;
/** What `grid.join` may hold: the join methods, plus LN (only with 2D_RPE). */
export const STUDY_JOIN_KINDS = [...JOIN_KINDS, 'LN'] as const;
export type StudyJoin = NonNullable<ModelOverrides['join']>;

export const DATASET_KINDS: readonly DatasetKind[] = [
  'fashion-mnist',
  'mnist',
  'cifar10',
  'cifar100',
  'image-folder',
];

export interface StudyDataset {
  kind: DatasetKind;
  /** Dataset folder (relative paths resolve from the working directory, as `lape train --data-path`). */
  path?: string;
  skipBadImages: boolean;
}

/**
 * The `train` section: `lape train`'s recipe flags in camelCase, every one optional (absent means
 * `lape train`'s default). Model, seed, data and output are owned by the other sections.
 */
export interface StudyTrainSettings {
  epochs?: number;
  batchSize?: number;
  opt?: 'adamw' | 'sgd';
  lr?: number;
  unscaleLr?: boolean;
  /** bfloat16 mixed precision (see TrainConfig.amp). */
  amp?: boolean;
  optEps?: number;
  momentum?: number;
  weightDecay?: number;
  warmupEpochs?: number;
  warmupLr?: number;
  minLr?: number;
  /** Max gradient norm; null for none. */
  clipGrad?: number | null;
  smoothing?: number;
  bceLoss?: boolean;
  mixup?: number;
  cutmix?: number;
  mixupProb?: number;
  mixupSwitchProb?: number;
  /** RandAugment spec, or 'none' for colour jitter instead. */
  aa?: string;
  colorJitter?: number;
  reprob?: number;
  remode?: 'pixel' | 'rand' | 'const';
  recount?: number;
  repeatedAug?: boolean;
  hflip?: number;
  cropPadding?: number;
  trainInterpolation?: 'bicubic' | 'bilinear' | 'nearest';
  modelEma?: boolean;
  modelEmaDecay?: number;
  workers?: number;
  inputSize?: number;
}

export interface StudyGrid {
  pe: StudyPe[];
  join: StudyJoin[];
  seeds: number[];
}

export interface StudyConfig {
  /** The file it was read from (for messages and the report). */
  source: string;
  name: string;
  description: string;
  dataset: StudyDataset;
  model: string;
  modelOverrides: ModelOverrides;
  train: StudyTrainSettings;
  grid: StudyGrid;
}

/** One run of the grid. */
export interface GridPoint {
  pe: StudyPe;
  join: StudyJoin;
  seed: number;
}

/** A run's folder name under the study's output folder, e.g. `learnable_LaPE_s0`. */
export function runName(p: GridPoint): string {
  return `${p.pe}_${p.join}_s${p.seed}`;
}

/** Every (pe, join, seed) of the grid, pe-major then join then seed (the order runs happen in). */
export function gridPoints(grid: StudyGrid): GridPoint[] {
  const out: GridPoint[] = [];
  for (const pe of grid.pe)
    for (const join of grid.join) for (const seed of grid.seeds) out.push({ pe, join, seed });
  return out;
}

/** A study file that cannot be run; the message starts with the file and names the entry. */
export class StudyConfigError extends Error {
  override readonly name = 'StudyConfigError';
}

// ---- field checkers -------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function describe(v: Json | undefined): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Rules for one scalar field: what it is and the range it must be in. */
type FieldRule =
  | { kind: 'int'; min: number }
  | { kind: 'number'; min: number; max: number; open?: 'max' | 'min' }
  | { kind: 'bool' }
  | { kind: 'string' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'number-or-null'; min: number };

function checkField(fail: (msg: string) => never, where: string, v: Json, rule: FieldRule): void {
  switch (rule.kind) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < rule.min)
        fail(`${where} must be an integer >= ${rule.min}, got ${describe(v)}`);
      return;
    case 'number': {
      const ok =
        typeof v === 'number' &&
        Number.isFinite(v) &&
        (rule.open === 'min' ? v > rule.min : v >= rule.min) &&
        (rule.open === 'max' ? v < rule.max : v <= rule.max);
      if (!ok) {
        const lo = rule.open === 'min' ? '(' : '[';
        const hi = rule.open === 'max' ? ')' : ']';
        fail(`${where} must be a number in ${lo}${rule.min}, ${rule.max}${hi}, got ${describe(v)}`);
      }
      return;
    }
    case 'bool':
      if (typeof v !== 'boolean') fail(`${where} must be true or false, got ${describe(v)}`);
      return;
    case 'string':
      if (typeof v !== 'string') fail(`${where} must be a string, got ${describe(v)}`);
      return;
    case 'enum':
      if (typeof v !== 'string' || !rule.values.includes(v))
        fail(`${where} must be one of ${rule.values.join(', ')}, got ${describe(v)}`);
      return;
    case 'number-or-null':
      if (v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v < rule.min))
        fail(`${where} must be a number >= ${rule.min} or null, got ${describe(v)}`);
      return;
  }
}

const TRAIN_RULES: { readonly [K in keyof Required<StudyTrainSettings>]: FieldRule } = {
  epochs: { kind: 'int', min: 1 },
  batchSize: { kind: 'int', min: 1 },
  opt: { kind: 'enum', values: ['adamw', 'sgd'] },
  lr: { kind: 'number', min: 0, max: Number.MAX_VALUE, open: 'min' },
  unscaleLr: { kind: 'bool' },
  amp: { kind: 'bool' },
  optEps: { kind: 'number', min: 0, max: 1, open: 'min' },
  momentum: { kind: 'number', min: 0, max: 1 },
  weightDecay: { kind: 'number', min: 0, max: Number.MAX_VALUE },
  warmupEpochs: { kind: 'int', min: 0 },
  warmupLr: { kind: 'number', min: 0, max: Number.MAX_VALUE },
  minLr: { kind: 'number', min: 0, max: Number.MAX_VALUE },
  clipGrad: { kind: 'number-or-null', min: 0 },
  smoothing: { kind: 'number', min: 0, max: 1, open: 'max' },
  bceLoss: { kind: 'bool' },
  mixup: { kind: 'number', min: 0, max: Number.MAX_VALUE },
  cutmix: { kind: 'number', min: 0, max: Number.MAX_VALUE },
  mixupProb: { kind: 'number', min: 0, max: 1 },
  mixupSwitchProb: { kind: 'number', min: 0, max: 1 },
  aa: { kind: 'string' },
  colorJitter: { kind: 'number', min: 0, max: Number.MAX_VALUE },
  reprob: { kind: 'number', min: 0, max: 1 },
  remode: { kind: 'enum', values: ['pixel', 'rand', 'const'] },
  recount: { kind: 'int', min: 1 },
  repeatedAug: { kind: 'bool' },
  hflip: { kind: 'number', min: 0, max: 1 },
  cropPadding: { kind: 'int', min: 0 },
  trainInterpolation: { kind: 'enum', values: ['bicubic', 'bilinear', 'nearest'] },
  modelEma: { kind: 'bool' },
  modelEmaDecay: { kind: 'number', min: 0, max: 1 },
  workers: { kind: 'int', min: 0 },
  inputSize: { kind: 'int', min: 1 },
};

/** `modelOverrides` fields a study may set; pe and join are the grid's, so they are not among them. */
type StudyOverrideKey = Exclude<keyof ModelOverrides, 'pe' | 'join'>;
const OVERRIDE_RULES: { readonly [K in StudyOverrideKey]-?: FieldRule } = {
  imgSize: { kind: 'int', min: 1 },
  patchSize: { kind: 'int', min: 1 },
  inChans: { kind: 'int', min: 1 },
  numClasses: { kind: 'int', min: 1 },
  embedDim: { kind: 'int', min: 1 },
  depth: { kind: 'int', min: 1 },
  numHeads: { kind: 'int', min: 1 },
  mlpRatio: { kind: 'number', min: 0, max: Number.MAX_VALUE, open: 'min' },
  qkvBias: { kind: 'bool' },
  dropRate: { kind: 'number', min: 0, max: 1, open: 'max' },
  attnDropRate: { kind: 'number', min: 0, max: 1, open: 'max' },
  dropPathRate: { kind: 'number', min: 0, max: 1, open: 'max' },
  normEps: { kind: 'number', min: 0, max: 1, open: 'min' },
  rpe: { kind: 'enum', values: ['none', 'basic', 'LN'] },
  peInitStd: { kind: 'number', min: 0, max: Number.MAX_VALUE },
  distilled: { kind: 'bool' },
  tokenizer: { kind: 'enum', values: ['patch', 'cct'] },
  pooling: { kind: 'enum', values: ['cls', 'seq'] },
  blockStyle: { kind: 'enum', values: ['prenorm', 'cct'] },
};

/** Keys that belong elsewhere get a pointer to where, instead of a bare "unknown key". */
const TRAIN_KEY_HINTS: Readonly<Record<string, string>> = {
  seed: 'seeds come from grid.seeds',
  seeds: 'seeds come from grid.seeds',
  model: "the model is the study's top-level 'model'",
  pe: 'position embeddings come from grid.pe',
  join: 'joins come from grid.join',
  joinType: 'joins come from grid.join',
  dataSet: "the data set is the study's top-level 'dataset'",
  dataPath: 'the data path is dataset.path',
  numWorkers: "use 'workers'",
  outputDir: 'each run gets <out-dir>/<pe>_<join>_s<seed>/',
  resume: 'unfinished runs are resumed automatically',
};

const TOP_KEYS = ['name', 'description', 'dataset', 'model', 'modelOverrides', 'train', 'grid'] as const;

function checkKnownKeys(
  fail: (msg: string) => never,
  where: string,
  obj: JsonObject,
  valid: readonly string[],
  hints: Readonly<Record<string, string>> = {},
): void {
  for (const key of Object.keys(obj)) {
    if (valid.includes(key)) continue;
    const hint = hints[key];
    fail(
      hint
        ? `${where}.${key} is not allowed here: ${hint}`
        : `${where}.${key} is not a known key (valid: ${valid.join(', ')})`,
    );
  }
}

/** A grid axis: a non-empty array of distinct values, each one checked. */
function gridAxis<T>(
  fail: (msg: string) => never,
  grid: JsonObject,
  key: 'pe' | 'join' | 'seeds',
  check: (v: Json, where: string) => T,
): T[] {
  const axis = grid[key];
  if (!Array.isArray(axis) || axis.length === 0)
    fail(`grid.${key} must be a non-empty array, got ${describe(axis)}`);
  const out: T[] = [];
  axis.forEach((v, i) => {
    const value = check(v, `grid.${key}[${i}]`);
    const first = out.indexOf(value);
    if (first >= 0) fail(`grid.${key}[${i}] ${describe(v)} repeats grid.${key}[${first}]`);
    out.push(value);
  });
  return out;
}

/**
 * Validates a parsed study file; `source` is the path used in messages. Every grid point's model is
 * built with the registry (as a run would build it), so an impossible pe/join pair is refused here.
 */
export function parseStudyConfig(raw: unknown, source: string): StudyConfig {
  // Annotated so that a call to it narrows like a throw does.
  const fail: (msg: string) => never = (msg) => {
    throw new StudyConfigError(`${source}: ${msg}`);
  };
  const root = raw as Json;
  if (!isObject(root)) fail(`expected a JSON object, got ${describe(root)}`);
  checkKnownKeys(fail, 'study', root, TOP_KEYS);

  const name = root.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
    fail(
      `name must be a non-empty string of letters, digits, '.', '_' or '-' (it names the output folder), got ${describe(name)}`,
    );
  const description = root.description ?? '';
  if (typeof description !== 'string') fail(`description must be a string, got ${describe(description)}`);

  // dataset
  const ds = root.dataset;
  if (!isObject(ds)) fail(`dataset must be an object like {"kind": "fashion-mnist"}, got ${describe(ds)}`);
  checkKnownKeys(fail, 'dataset', ds, ['kind', 'path', 'skipBadImages']);
  const kind = ds.kind;
  if (typeof kind !== 'string' || !(DATASET_KINDS as readonly string[]).includes(kind))
    fail(`dataset.kind ${describe(kind)} is not a dataset kind (valid: ${DATASET_KINDS.join(', ')})`);
  const dataKind = kind as DatasetKind; // checked against DATASET_KINDS just above
  if (ds.path !== undefined) checkField(fail, 'dataset.path', ds.path, { kind: 'string' });
  if (ds.path === undefined && dataKind !== 'fashion-mnist')
    fail(`dataset.path is required for dataset.kind '${dataKind}'`);
  if (ds.skipBadImages !== undefined)
    checkField(fail, 'dataset.skipBadImages', ds.skipBadImages, { kind: 'bool' });
  const dataset: StudyDataset = {
    kind: dataKind,
    ...(typeof ds.path === 'string' ? { path: ds.path } : {}),
    skipBadImages: ds.skipBadImages === true,
  };

  // model and overrides
  const model = root.model;
  if (typeof model !== 'string' || MODEL_VARIANTS[model] === undefined)
    fail(`model ${describe(model)} is not a model (valid: ${modelNames().join(', ')})`);
  const mo = root.modelOverrides ?? {};
  if (!isObject(mo)) fail(`modelOverrides must be an object, got ${describe(mo)}`);
  const modelOverrides: ModelOverrides = {};
  for (const [key, v] of Object.entries(mo)) {
    if (key === 'pe' || key === 'join')
      fail(
        `modelOverrides.${key} is not allowed here: ${key === 'pe' ? 'position embeddings come from grid.pe' : 'joins come from grid.join'}`,
      );
    const rule = (OVERRIDE_RULES as Readonly<Record<string, FieldRule>>)[key];
    if (rule === undefined)
      fail(`modelOverrides.${key} is not a known key (valid: ${Object.keys(OVERRIDE_RULES).join(', ')})`);
    checkField(fail, `modelOverrides.${key}`, v, rule);
    (modelOverrides as Record<string, Json>)[key] = v;
  }

  // train
  const tr = root.train ?? {};
  if (!isObject(tr)) fail(`train must be an object, got ${describe(tr)}`);
  checkKnownKeys(fail, 'train', tr, Object.keys(TRAIN_RULES), TRAIN_KEY_HINTS);
  const train: StudyTrainSettings = {};
  for (const [key, v] of Object.entries(tr)) {
    checkField(fail, `train.${key}`, v, TRAIN_RULES[key as keyof StudyTrainSettings]);
    (train as Record<string, Json>)[key] = v;
  }
  if (train.aa !== undefined && train.aa !== 'none' && train.aa !== '') {
    try {
      parseRandAugment(train.aa);
    } catch (e) {
      fail(`train.aa: ${(e as Error).message}`);
    }
  }

  // grid
  const g = root.grid;
  if (!isObject(g))
    fail(`grid must be an object like {"pe": [...], "join": [...], "seeds": [...]}, got ${describe(g)}`);
  checkKnownKeys(fail, 'grid', g, ['pe', 'join', 'seeds']);
  const pe = gridAxis(fail, g, 'pe', (v, where) => {
    if (typeof v !== 'string' || !(STUDY_PE_KINDS as readonly string[]).includes(v))
      fail(`${where} ${describe(v)} is not a position embedding (valid: ${STUDY_PE_KINDS.join(', ')})`);
    return v as StudyPe;
  });
  const join = gridAxis(fail, g, 'join', (v, where) => {
    if (typeof v !== 'string' || !(STUDY_JOIN_KINDS as readonly string[]).includes(v))
      fail(`${where} ${describe(v)} is not a join method (valid: ${STUDY_JOIN_KINDS.join(', ')})`);
    return v as StudyJoin;
  });
  const seeds = gridAxis(fail, g, 'seeds', (v, where) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
      fail(`${where} must be an integer in [0, 4294967295], got ${describe(v)}`);
    return v;
  });

  const config: StudyConfig = {
    source,
    name,
    description,
    dataset,
    model,
    modelOverrides,
    train,
    grid: { pe, join, seeds },
  };
  // Build every model the grid asks for: the registry's own checks name what is wrong with the pair.
  for (const p of pe) {
    for (const j of join) {
      try {
        const cfg = resolveConfig(config.model, modelConfigOverrides(config, { pe: p, join: j, seed: 0 }));
        validateConfig(cfg);
      } catch (e) {
        fail(`grid point pe '${p}' x join '${j}' with model '${config.model}': ${(e as Error).message}`);
      }
    }
  }
  return config;
}

/** Reads and validates a study file. */
export function loadStudyConfig(path: string): StudyConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new StudyConfigError(`${path}: cannot read the study file (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new StudyConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return parseStudyConfig(raw, path);
}

/**
 * The model overrides of one grid point: `lape train`'s default drop-path, then the study's overrides,
 * then the point's pe and join (so the study equals the `lape train` command with the same flags).
 */
export function modelConfigOverrides(study: StudyConfig, point: GridPoint): ModelOverrides {
  return {
    ...defaultTrainConfig().modelOverrides,
    ...study.modelOverrides,
    pe: point.pe,
    join: point.join,
  };
}

/** DeiT's --model-ema-decay (used when a study turns the EMA on without a decay). */
const DEIT_EMA_DECAY = 0.99996;

/** The full TrainConfig of one grid point: `lape train`'s defaults with the study's settings applied. */
export function trainConfigFor(study: StudyConfig, point: GridPoint, outputDir: string | null): TrainConfig {
  const d = defaultTrainConfig();
  const t = study.train;
  const lr = t.lr ?? d.optimizer.lr;
  const weightDecay = t.weightDecay ?? d.optimizer.weightDecay;
  const opt: 'adamw' | 'sgd' = t.opt ?? 'adamw';
  const smoothing = t.smoothing ?? ('smoothing' in d.criterion ? d.criterion.smoothing : 0);
  const aa = t.aa ?? d.augment.autoAugment;
  let optimizer: TrainConfig['optimizer'];
  switch (opt) {
    case 'adamw':
      optimizer = { kind: 'adamw', lr, weightDecay, eps: t.optEps ?? 1e-8, betas: [0.9, 0.999] };
      break;
    case 'sgd':
      optimizer = { kind: 'sgd', lr, weightDecay, momentum: t.momentum ?? 0.9 };
      break;
  }
  return {
    ...d,
    model: study.model,
    modelOverrides: modelConfigOverrides(study, point),
    seed: point.seed,
    data: {
      kind: study.dataset.kind,
      path: study.dataset.path,
      inputSize: t.inputSize,
      skipBadImages: study.dataset.skipBadImages,
      workers: t.workers ?? d.data.workers,
    },
    batchSize: t.batchSize ?? d.batchSize,
    epochs: t.epochs ?? d.epochs,
    optimizer,
    unscaleLr: t.unscaleLr ?? d.unscaleLr,
    schedule: {
      warmupEpochs: t.warmupEpochs ?? d.schedule.warmupEpochs,
      warmupLr: t.warmupLr ?? d.schedule.warmupLr,
      minLr: t.minLr ?? d.schedule.minLr,
    },
    clipGrad: t.clipGrad ?? d.clipGrad,
    criterion: t.bceLoss ? { kind: 'bce', smoothing } : { kind: 'cross-entropy', smoothing },
    mixup: {
      mixup: t.mixup ?? d.mixup.mixup,
      cutmix: t.cutmix ?? d.mixup.cutmix,
      prob: t.mixupProb ?? d.mixup.prob,
      switchProb: t.mixupSwitchProb ?? d.mixup.switchProb,
    },
    augment: {
      autoAugment: aa === 'none' || aa === '' ? null : aa,
      colorJitter: t.colorJitter ?? d.augment.colorJitter,
      reprob: t.reprob ?? d.augment.reprob,
      remode: t.remode ?? d.augment.remode,
      recount: t.recount ?? d.augment.recount,
      repeatedAug: t.repeatedAug ?? d.augment.repeatedAug,
      hflip: t.hflip ?? d.augment.hflip,
      cropPadding: t.cropPadding ?? d.augment.cropPadding,
      interpolation: t.trainInterpolation ?? d.augment.interpolation,
    },
    ema: (t.modelEma ?? d.ema !== null) ? { decay: t.modelEmaDecay ?? d.ema?.decay ?? DEIT_EMA_DECAY } : null,
    outputDir,
    resume: null,
    evalEachEpoch: true,
    amp: t.amp ?? d.amp,
  };
}
