/**
 * timm's learning-rate schedulers, per epoch, as DeiT's main.py creates them (`create_scheduler(args,
 * optimizer)`): cosine, tanh, step and plateau as timm 0.4.12 defines them, multistep and poly as timm
 * 0.5.4 does (they first appear there), with warmup, noise and timm's state dict.
 *
 * The loop contract is timm's: the scheduler sets every parameter group's lr when created (the warmup
 * start when there is a warmup, else the base lr), and `step(epoch, metric)` after epoch `epoch` sets
 * the lr the next epoch runs at. So epochs 0 and 1 both run at lr(0) with a warmup, and epoch e >= 1
 * runs at lr(e - 1). Each group has its own base value (timm's `base_values`: the group's initial lr).
 *
 * Noise (--lr-noise): inside the noise range, lr = lr * (1 + n), n drawn by torch's generator seeded
 * with seed + t (torch_generator.ts) and redrawn until |n| < noise_pct. timm 0.4 stores noise_std but
 * never uses it; so does lape.
 */
import { PyTuple, type PyDict, type PyValue } from '../io/pickle.js';
import { TorchGenerator } from './torch_generator.js';

export const SCHEDULER_KINDS = ['cosine', 'tanh', 'step', 'multistep', 'plateau', 'poly'] as const;
export type SchedulerKind = (typeof SCHEDULER_KINDS)[number];

export interface LrNoise {
  /** Epochs where noise applies: [start, end) or from `start` on (the fractions of --lr-noise times epochs). */
  range: number | [number, number];
  /** --lr-noise-pct: |noise| stays below this (redrawn until it does). */
  pct: number;
  /** --lr-noise-std: stored, unused (as in timm 0.4). */
  std: number;
  /** The run's seed (timm: args.seed). */
  seed: number;
}

export interface SchedulerSettings {
  kind: SchedulerKind;
  /** t_initial of cosine/tanh/poly: the run's epochs. */
  epochs: number;
  warmupEpochs: number;
  warmupLr: number;
  minLr: number;
  /** step: the interval (first value); multistep: the milestones. */
  decayEpochs: number[];
  /** step/multistep/plateau: the factor; poly: the power (timm overloads decay_rate); cosine: per cycle. */
  decayRate: number;
  /** plateau: epochs without improvement before a decay. */
  patienceEpochs: number;
  noise: LrNoise | null;
}

/** DeiT main.py's defaults. */
export const DEIT_SCHEDULE: Omit<SchedulerSettings, 'epochs' | 'noise'> = {
  kind: 'cosine',
  warmupEpochs: 5,
  warmupLr: 1e-6,
  minLr: 1e-5,
  decayEpochs: [30],
  decayRate: 0.1,
  patienceEpochs: 10,
};

/** tanh bounds, timm 0.4's defaults. */
const TANH_LB = -6;
const TANH_UB = 4;
/** timm 0.5's cycle defaults for poly (cycle_limit 1, cycle_decay 0.1 only matter past the first cycle). */
const POLY_CYCLE_DECAY = 0.1;

export function checkSettings(s: SchedulerSettings): void {
  const fail = (flag: string, msg: string): never => {
    throw new Error(`${flag}: ${msg}`);
  };
  if (!SCHEDULER_KINDS.includes(s.kind))
    fail('--sched', `unknown scheduler '${s.kind}'; valid: ${SCHEDULER_KINDS.join(', ')}`);
  if (!(Number.isInteger(s.epochs) && s.epochs > 0))
    fail('--epochs', `must be a positive integer, got ${s.epochs}`);
  if (!(s.warmupEpochs >= 0)) fail('--warmup-epochs', `must be >= 0, got ${s.warmupEpochs}`);
  if (!(s.minLr >= 0)) fail('--min-lr', `must be >= 0, got ${s.minLr}`);
  if (s.kind === 'step' && !(s.decayEpochs.length === 1 && s.decayEpochs[0] > 0))
    fail('--decay-epochs', `--sched step takes one interval > 0, got ${s.decayEpochs.join(' ')}`);
  if (s.kind === 'multistep') {
    if (s.decayEpochs.length === 0)
      fail('--decay-epochs', '--sched multistep needs its milestones (e.g. --decay-epochs 30 60 90)');
    for (let i = 1; i < s.decayEpochs.length; i++)
      if (!(s.decayEpochs[i] >= s.decayEpochs[i - 1]))
        fail('--decay-epochs', `milestones must be sorted, got ${s.decayEpochs.join(' ')}`);
  }
  if (s.noise) {
    const r = s.noise.range;
    if (Array.isArray(r) ? !(r[0] <= r[1]) : !Number.isFinite(r))
      fail('--lr-noise', `invalid range ${String(r)}`);
    if (!(s.noise.pct > 0)) fail('--lr-noise-pct', `must be > 0, got ${s.noise.pct}`);
  }
}

// ---- the schedules as functions of t (no noise), one value per base value ------------------------

/** Cycle index and position of timm's cosine/tanh/poly (t_mul = 1: fixed cycles of t_initial). */
function cycle(t: number, tInitial: number): { i: number; tCurr: number; tI: number } {
  const i = Math.floor(t / tInitial);
  return { i, tCurr: t - tInitial * i, tI: tInitial };
}

function warmup(s: SchedulerSettings, base: number, target: number, t: number): number {
  return s.warmupLr + t * ((target - s.warmupLr) / s.warmupEpochs);
}

/** The scheduled lr at epoch t for a group whose base lr is `base` (timm's `_get_lr`). */
export function scheduledLr(s: SchedulerSettings, base: number, t: number): number {
  switch (s.kind) {
    case 'cosine': {
      if (t < s.warmupEpochs) return warmup(s, base, base, t);
      const { i, tCurr, tI } = cycle(t, s.epochs);
      if (i >= 1) return s.minLr; // cycle_limit 1
      const gamma = Math.pow(s.decayRate, i);
      const lrMin = s.minLr * gamma;
      return lrMin + 0.5 * (base * gamma - lrMin) * (1 + Math.cos((Math.PI * tCurr) / tI));
    }
    case 'tanh': {
      // timm's tanh warms up towards the schedule's value at warmup_t, not the base lr.
      if (t < s.warmupEpochs) return warmup(s, base, tanhValue(s, base, s.warmupEpochs), t);
      return tanhValue(s, base, t);
    }
    case 'step':
      if (t < s.warmupEpochs) return warmup(s, base, base, t);
      return base * Math.pow(s.decayRate, Math.floor(t / s.decayEpochs[0]));
    case 'multistep': {
      if (t < s.warmupEpochs) return warmup(s, base, base, t);
      // bisect_right(decay_t, t + 1): milestones passed.
      const passed = s.decayEpochs.filter((m) => m <= t + 1).length;
      return base * Math.pow(s.decayRate, passed);
    }
    case 'poly': {
      if (t < s.warmupEpochs) return warmup(s, base, base, t);
      const { i, tCurr, tI } = cycle(t, s.epochs);
      if (i >= 1) return s.minLr;
      const lrMax = base * Math.pow(POLY_CYCLE_DECAY, i);
      return s.minLr + (lrMax - s.minLr) * Math.pow(1 - tCurr / tI, s.decayRate);
    }
    case 'plateau':
      // Only the warmup is a function of t; after it the lr depends on the metric history.
      return t <= s.warmupEpochs && s.warmupEpochs > 0 ? warmup(s, base, base, t) : base;
  }
}

function tanhValue(s: SchedulerSettings, base: number, t: number): number {
  const { i, tCurr, tI } = cycle(t, s.epochs);
  if (i >= 1) return s.minLr; // cycle_limit 1, decay_rate 1
  const tr = tCurr / tI;
  return s.minLr + 0.5 * (base - s.minLr) * (1 - Math.tanh(TANH_LB * (1 - tr) + TANH_UB * tr));
}

/** timm's `_add_noise` factor at t: 1 + n inside the range, else 1. */
export function noiseFactor(noise: LrNoise | null, t: number): number {
  if (!noise) return 1;
  const r = noise.range;
  const on = Array.isArray(r) ? r[0] <= t && t < r[1] : t >= r;
  if (!on) return 1;
  const g = new TorchGenerator(noise.seed + t);
  for (;;) {
    const n = Math.fround(g.randn());
    if (Math.abs(n) < noise.pct) return 1 + n;
  }
}

// ---- the stateful scheduler ---------------------------------------------------------------------

/** torch's ReduceLROnPlateau as timm configures it (mode max, threshold 1e-4 rel, cooldown 0). */
interface PlateauState {
  best: number;
  numBadEpochs: number;
  cooldownCounter: number;
  lastEpoch: number;
  /** The lrs before the last noise perturbation (timm's restore_lr). */
  restore: number[] | null;
}

export class LrScheduler {
  readonly baseValues: number[];
  /** The lr of each group now (what the next epoch runs at). */
  private values: number[];
  private readonly plateau: PlateauState | null;

  constructor(
    readonly settings: SchedulerSettings,
    baseValues: readonly number[],
  ) {
    checkSettings(settings);
    this.baseValues = [...baseValues];
    this.values = this.baseValues.map((v) => (settings.warmupEpochs > 0 ? settings.warmupLr : v));
    this.plateau =
      settings.kind === 'plateau'
        ? { best: -Infinity, numBadEpochs: 0, cooldownCounter: 0, lastEpoch: 0, restore: null }
        : null;
  }

  /** The lr of each parameter group for the coming epoch. */
  current(): number[] {
    return [...this.values];
  }

  /** After epoch `epoch`: sets (and returns) the lrs of the next one. `metric` is plateau's top-1. */
  step(epoch: number, metric?: number): number[] {
    const s = this.settings;
    if (this.plateau) {
      this.values = this.stepPlateau(epoch, metric);
    } else {
      const f = noiseFactor(s.noise, epoch);
      this.values = this.baseValues.map((b) => {
        const v = scheduledLr(s, b, epoch);
        return v + v * (f - 1);
      });
    }
    return this.current();
  }

  /** timm's PlateauLRScheduler.step over torch's ReduceLROnPlateau. */
  private stepPlateau(epoch: number, metric: number | undefined): number[] {
    const s = this.settings;
    const p = this.plateau as PlateauState;
    // timm also takes this branch at epoch 0 without a warmup, which sets every lr to warmup_lr_init
    // for good (ReduceLROnPlateau only lowers it): a timm bug lape does not copy.
    if (s.warmupEpochs > 0 && epoch <= s.warmupEpochs)
      return this.baseValues.map((b) => scheduledLr(s, b, epoch));
    if (metric === undefined || !Number.isFinite(metric))
      throw new Error(
        '--sched plateau needs the validation accuracy after every epoch (do not turn evaluation off)',
      );
    let lrs = p.restore ?? this.values;
    p.restore = null;
    p.lastEpoch = epoch;
    if (metric > p.best * (1 + 1e-4) || p.best === -Infinity) {
      p.best = metric;
      p.numBadEpochs = 0;
    } else {
      p.numBadEpochs++;
    }
    if (p.cooldownCounter > 0) {
      p.cooldownCounter--;
      p.numBadEpochs = 0;
    }
    if (p.numBadEpochs > s.patienceEpochs) {
      lrs = lrs.map((old) => {
        const next = Math.max(old * s.decayRate, s.minLr);
        return old - next > 1e-8 ? next : old;
      });
      p.cooldownCounter = 0;
      p.numBadEpochs = 0;
    }
    const f = noiseFactor(s.noise, epoch);
    if (f !== 1) {
      p.restore = [...lrs];
      return lrs.map((v) => v + v * (f - 1));
    }
    return [...lrs];
  }

  /** Restores the lrs of a resumed run (what its optimizer's groups held). */
  setCurrent(values: readonly number[]): void {
    if (values.length !== this.values.length)
      throw new Error(`scheduler: ${values.length} lrs for ${this.values.length} parameter groups`);
    this.values = [...values];
  }

  /**
   * timm's `state_dict()`: the scheduler's attributes but the optimizer (CosineLRScheduler's and the
   * others' fields, one base value per parameter group); plateau: `best` and `last_epoch` only.
   */
  stateDict(): PyDict {
    const s = this.settings;
    if (this.plateau) {
      return new Map<string, PyValue>([
        ['best', this.plateau.best === -Infinity ? -Infinity : this.plateau.best],
        ['last_epoch', this.plateau.lastEpoch],
      ]);
    }
    const noiseRange: PyValue = s.noise
      ? Array.isArray(s.noise.range)
        ? [s.noise.range[0], s.noise.range[1]]
        : s.noise.range
      : null;
    const warmupSteps = this.baseValues.map((b) =>
      s.warmupEpochs > 0
        ? ((s.kind === 'tanh' ? tanhValue(s, b, s.warmupEpochs) : b) - s.warmupLr) / s.warmupEpochs
        : 1,
    );
    const common: [string, PyValue][] = [
      ['param_group_field', 'lr'],
      ['_initial_param_group_field', 'initial_lr'],
      ['base_values', [...this.baseValues]],
      ['metric', null],
      ['noise_range_t', noiseRange],
      ['noise_pct', s.noise?.pct ?? 0.67],
      ['noise_type', 'normal'],
      ['noise_std', s.noise?.std ?? 1.0],
      ['noise_seed', s.noise?.seed ?? 42],
    ];
    let own: [string, PyValue][];
    switch (s.kind) {
      case 'cosine':
        own = [
          ['t_initial', s.epochs],
          ['t_mul', 1.0],
          ['lr_min', s.minLr],
          ['decay_rate', s.decayRate],
          ['cycle_limit', 1],
          ['warmup_t', s.warmupEpochs],
          ['warmup_lr_init', s.warmupLr],
          ['warmup_prefix', false],
          ['t_in_epochs', true],
        ];
        break;
      case 'tanh':
        own = [
          ['lb', TANH_LB],
          ['ub', TANH_UB],
          ['t_initial', s.epochs],
          ['t_mul', 1.0],
          ['lr_min', s.minLr],
          ['decay_rate', 1.0],
          ['cycle_limit', 1],
          ['warmup_t', s.warmupEpochs],
          ['warmup_lr_init', s.warmupLr],
          ['warmup_prefix', false],
          ['t_in_epochs', true],
        ];
        break;
      case 'step':
        own = [
          ['decay_t', s.decayEpochs[0]],
          ['decay_rate', s.decayRate],
          ['warmup_t', s.warmupEpochs],
          ['warmup_lr_init', s.warmupLr],
          ['t_in_epochs', true],
        ];
        break;
      case 'multistep':
        own = [
          ['decay_t', [...s.decayEpochs]],
          ['decay_rate', s.decayRate],
          ['warmup_t', s.warmupEpochs],
          ['warmup_lr_init', s.warmupLr],
          ['t_in_epochs', true],
        ];
        break;
      case 'poly':
        own = [
          ['t_initial', s.epochs],
          ['power', s.decayRate],
          ['lr_min', s.minLr],
          ['cycle_mul', 1.0],
          ['cycle_decay', POLY_CYCLE_DECAY],
          ['cycle_limit', 1],
          ['warmup_t', s.warmupEpochs],
          ['warmup_lr_init', s.warmupLr],
          ['warmup_prefix', false],
          ['t_in_epochs', true],
          ['k_decay', 1.0],
        ];
        break;
      case 'plateau':
        own = [];
    }
    return new Map<string, PyValue>([...common, ...own, ['warmup_steps', warmupSteps]]);
  }

  /** lape's own record of the plateau internals timm's state dict leaves out (for exact resume). */
  plateauState(): PlateauState | null {
    return this.plateau
      ? { ...this.plateau, restore: this.plateau.restore ? [...this.plateau.restore] : null }
      : null;
  }

  restorePlateau(state: Partial<PlateauState>): void {
    if (!this.plateau) return;
    Object.assign(this.plateau, state);
  }
}

/**
 * The base values a checkpoint's `lr_scheduler` records, read both ways: timm's list (one per group),
 * and lape's earlier single value (then the same for every group). Null when absent.
 */
export function storedBaseValues(state: PyValue | undefined, groups: number): number[] | null {
  if (!(state instanceof Map)) return null;
  const v = state.get('base_values');
  const items = Array.isArray(v) ? v : v instanceof PyTuple ? [...v.items] : null;
  if (!items || items.length === 0) return null;
  const nums = items.map((x) => (typeof x === 'number' ? x : typeof x === 'bigint' ? Number(x) : NaN));
  if (!nums.every(Number.isFinite)) return null;
  if (nums.length === groups) return nums;
  if (nums.length === 1) return Array.from({ length: groups }, () => nums[0]);
  return null;
}

// ---- the plain cosine helpers (DeiT's default schedule) -----------------------------------------

/** The cosine schedule of one group (kept for callers that only need DeiT's default). */
export interface CosineSchedule {
  baseLr: number;
  minLr: number;
  warmupLr: number;
  warmupEpochs: number;
  /** t_initial: the cosine's length in epochs. */
  epochs: number;
}

function cosineSettings(s: CosineSchedule): SchedulerSettings {
  return {
    ...DEIT_SCHEDULE,
    kind: 'cosine',
    epochs: s.epochs,
    warmupEpochs: s.warmupEpochs,
    warmupLr: s.warmupLr,
    minLr: s.minLr,
    noise: null,
  };
}

export function cosineLr(s: CosineSchedule, t: number): number {
  return scheduledLr(cosineSettings(s), s.baseLr, t);
}

/**
 * The lr the reference training loop uses during epoch `e`: it calls `scheduler.step(e)` after epoch
 * e, so epochs 0 and 1 both run at lr(0) and epoch e >= 1 runs at lr(e - 1).
 */
export function lrForEpoch(s: CosineSchedule, epoch: number): number {
  return cosineLr(s, Math.max(0, epoch - 1));
}

/** DeiT's linear scaling rule: lr * batch / 512. */
export function scaledLr(lr: number, batchSize: number): number {
  return (lr * batchSize) / 512;
}
