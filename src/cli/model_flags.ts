/**
 * The model and input flags every command takes (`lape train`, `eval`, `predict`, `visualize`,
 * `compare-pe`): `--model` and the config overrides (options.ts), `--mean`/`--std`, and how a
 * checkpoint's model is resolved from them (src/checkpoint/model_config.ts).
 */
import { Command, InvalidArgumentError } from 'commander';
import type { NormalizationOverride } from '../data/stats.js';
import type { ModelRequest } from '../checkpoint/model_config.js';
import { addModelOptions, modelOverrides, type ModelFlags } from './options.js';

/** Parses `--mean 0.5 0.5 0.5` (repeated values) or `--mean 0.5,0.5,0.5`. */
export function numberList(flag: string): (v: string, prev: number[] | undefined) => number[] {
  return (v, prev) => {
    const parts = v.split(',').filter((s) => s.trim() !== '');
    const out = parts.map((s) => {
      const t = s.trim();
      const n = Number(t);
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) || !Number.isFinite(n))
        throw new InvalidArgumentError(
          `${flag} expects numbers (one per channel, or one for all), got '${v}'`,
        );
      return n;
    });
    return [...(prev ?? []), ...out];
  };
}

export interface InputFlags {
  mean?: number[];
  std?: number[];
}

/** --model, the config overrides, --mean and --std. `defaultModel` is only mentioned in the help. */
export function addModelFlags(cmd: Command, defaultModel?: string): Command {
  return addModelOptions(cmd, defaultModel)
    .option(
      '--mean <values...>',
      "normalization mean, one per channel or one for all (default: the checkpoint's, else the dataset's)",
      numberList('--mean'),
    )
    .option(
      '--std <values...>',
      "normalization std, one per channel or one for all (default: the checkpoint's, else the dataset's)",
      numberList('--std'),
    );
}

export function normalizationOverride(f: InputFlags): NormalizationOverride {
  return { mean: f.mean, std: f.std };
}

/** What the flags ask for (only what was given). */
export function modelRequest(f: ModelFlags & { model_name?: string }): ModelRequest {
  return { model: f.model ?? f.model_name, overrides: modelOverrides(f) };
}
