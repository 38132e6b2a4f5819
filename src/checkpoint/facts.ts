/**
 * What a checkpoint records about its own run, read without trusting its shape: lape's own training
 * config (`args.lape_config`, a JSON TrainConfig), and the `args` Namespace the reference's main.py
 * stores (`model`, `input_size`, `nb_classes`, `pe`, `join_type`, `drop`, `drop_path`, ...), which
 * lape writes too. A `.safetensors` file may carry the same as `lape_config` / `args` metadata (JSON).
 */
import { PyObject, PyTuple, type PyValue } from '../io/pickle.js';
import type { ModelOverrides } from '../models/registry.js';

/** The parts of lape's stored TrainConfig that describe the model and its input. */
export interface StoredLapeConfig {
  model?: string;
  modelOverrides?: ModelOverrides;
  data?: {
    kind?: string;
    inputSize?: number;
    normalize?: { mean?: number[]; std?: number[] };
  };
}

export interface CheckpointFacts {
  lapeConfig: StoredLapeConfig | null;
  /** Attributes of the `args` Namespace (lape's or the reference's); null when there is none. */
  args: Record<string, PyValue> | null;
}

export const NO_FACTS: CheckpointFacts = { lapeConfig: null, args: null };

function parseLapeConfig(text: string): StoredLapeConfig | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as StoredLapeConfig) : null;
  } catch {
    return null;
  }
}

export function readFacts(raw: PyValue | null, metadata?: Record<string, string>): CheckpointFacts {
  let args: Record<string, PyValue> | null = null;
  if (raw instanceof Map) {
    const a = raw.get('args');
    if (a instanceof PyObject) args = a.attrs;
    else if (a instanceof Map) {
      args = Object.create(null) as Record<string, PyValue>;
      for (const [k, v] of a) if (typeof k === 'string') args[k] = v;
    }
  }
  if (!args && metadata?.args) {
    const parsed = parseLapeConfig(metadata.args);
    if (parsed) args = parsed as Record<string, PyValue>;
  }
  const lapeText = typeof args?.lape_config === 'string' ? args.lape_config : metadata?.lape_config;
  return { lapeConfig: lapeText ? parseLapeConfig(lapeText) : null, args };
}

export function argString(args: Record<string, PyValue> | null, key: string): string | undefined {
  const v = args?.[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function argNumber(args: Record<string, PyValue> | null, key: string): number | undefined {
  const v = args?.[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

export function argNumbers(args: Record<string, PyValue> | null, key: string): number[] | undefined {
  const v = args?.[key];
  const items = Array.isArray(v) ? v : v instanceof PyTuple ? v.items : null;
  if (!items || items.length === 0) return undefined;
  const out = items.map((x) => (typeof x === 'number' ? x : typeof x === 'bigint' ? Number(x) : NaN));
  return out.every(Number.isFinite) ? out : undefined;
}

export function argStrings(args: Record<string, PyValue> | null, key: string): string[] | undefined {
  const v = args?.[key];
  const items = Array.isArray(v) ? v : v instanceof PyTuple ? v.items : null;
  return items && items.length > 0 && items.every((x) => typeof x === 'string')
    ? (items as string[])
    : undefined;
}

const PE_VALUES = ['learnable', '1D_sin', '2D_sin', 'none', '2D_RPE'];
const JOIN_VALUES = ['basic', 'share', 'unshare', 'LaPE', 'LaPE-shared', 'LN'];

/**
 * The model the reference's args describe: main.py creates `create_model(args.model, pe=args.pe,
 * join_type=args.join_type, num_classes=args.nb_classes, drop_rate=args.drop,
 * drop_path_rate=args.drop_path, img_size=args.input_size)`.
 */
export function modelFromArgs(args: Record<string, PyValue> | null): {
  model?: string;
  overrides: ModelOverrides;
} {
  if (!args) return { overrides: {} };
  const pe = argString(args, 'pe');
  const join = argString(args, 'join_type');
  return {
    model: argString(args, 'model'),
    overrides: {
      pe: pe && PE_VALUES.includes(pe) ? (pe as ModelOverrides['pe']) : undefined,
      join: join && JOIN_VALUES.includes(join) ? (join as ModelOverrides['join']) : undefined,
      imgSize: argNumber(args, 'input_size'),
      numClasses: argNumber(args, 'nb_classes'),
      dropRate: argNumber(args, 'drop'),
      dropPathRate: argNumber(args, 'drop_path'),
    },
  };
}
