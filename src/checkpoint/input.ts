/**
 * How a checkpoint's model was fed, so every command feeds it the same way: the normalization
 * statistics (`args.mean`/`args.std`, which lape writes; else the default of the dataset it was
 * trained on, lape's `data.kind` or the reference's `args.data_set`), and the class names when known.
 */
import type { DatasetKind } from '../data/datasets.js';
import {
  datasetStats,
  resolveNormalization,
  type NormalizationOverride,
  type NormalizationStats,
} from '../data/stats.js';
import { argNumbers, argString, argStrings, type CheckpointFacts } from './facts.js';

/** The reference's --data-set values and lape's, to lape's dataset kinds. */
export const DATA_SET_NAMES: Record<string, DatasetKind> = {
  'fashion-mnist': 'fashion-mnist',
  mnist: 'mnist',
  cifar10: 'cifar10',
  cifar100: 'cifar100',
  'image-folder': 'image-folder',
  inat2018: 'inat2018',
  inat2019: 'inat2019',
  FASHION: 'fashion-mnist',
  'FASHION-MNIST': 'fashion-mnist',
  MNIST: 'mnist',
  CIFAR: 'cifar100',
  CIFAR10: 'cifar10',
  CIFAR100: 'cifar100',
  IMNET: 'image-folder',
  INAT: 'inat2018',
  INAT19: 'inat2019',
};

export function datasetKindOf(name: string): DatasetKind | undefined {
  return DATA_SET_NAMES[name] ?? DATA_SET_NAMES[name.toUpperCase()];
}

/** The dataset the checkpoint was trained on, when it says. */
export function storedDataset(facts: CheckpointFacts): DatasetKind | undefined {
  const lapeKind = facts.lapeConfig?.data?.kind;
  if (lapeKind && datasetKindOf(lapeKind)) return datasetKindOf(lapeKind);
  const ref = argString(facts.args, 'data_set');
  return ref ? datasetKindOf(ref) : undefined;
}

/** The statistics recorded in the checkpoint, when it recorded them. */
export function storedNormalization(facts: CheckpointFacts): NormalizationStats | undefined {
  const mean = argNumbers(facts.args, 'mean') ?? facts.lapeConfig?.data?.normalize?.mean;
  const std = argNumbers(facts.args, 'std') ?? facts.lapeConfig?.data?.normalize?.std;
  return mean && std ? { mean, std } : undefined;
}

/** Class names recorded by `lape train` (`args.class_names`). */
export function storedClassNames(facts: CheckpointFacts): string[] | undefined {
  return argStrings(facts.args, 'class_names');
}

/**
 * The statistics to feed a checkpoint's model with: --mean/--std, else what the checkpoint recorded
 * (the model is always fed the way it was trained), else the default of `dataset` (the --data-set
 * flag, else the checkpoint's dataset, else ImageNet's).
 */
export function inputNormalization(
  override: NormalizationOverride,
  facts: CheckpointFacts,
  channels: 1 | 3,
  dataset: DatasetKind | undefined,
  label: string,
): NormalizationStats {
  const stored = storedNormalization(facts);
  if (stored) return resolveNormalization(override, stored, channels, label);
  const kind = dataset ?? storedDataset(facts) ?? 'image-folder';
  return resolveNormalization(
    override,
    datasetStats(kind, channels),
    channels,
    `--data-set ${kind}'s default`,
  );
}
