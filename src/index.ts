/**
 * lape's public API: `import { createModel, train, ... } from 'lape'`.
 *
 * Everything the `lape` command does is reachable from here: build a model (`createModel`,
 * `listModels`), train it (`train`), evaluate it (`evaluate`), run it (`predict`, `classifyImages`),
 * move weights to and from PyTorch (`loadCheckpoint`, `saveCheckpoint`), look at its position
 * embeddings layer by layer (`positionSimilarity`, `writeVisualization`, `writeComparison`), run a study
 * (`runStudy`) and export it (`exportOnnx`, `saveOnnx`, `saveSafetensors`). Only what this file exports
 * is the API; the package's other modules are not importable (its `exports` map names only this one).
 *
 * Library calls print nothing unless asked: `train` and `runStudy` take a `log` callback and a
 * `progress` flag (both off by default), `evaluate` a `progress` flag or an `onBatch` callback. The one
 * exception is a single warning on stderr the first time a kernel runs without the native backend
 * (lape then falls back to its much slower portable backend); choosing the backend yourself with
 * `setBackend('js')` (or `LAPE_BACKEND=js`) silences it.
 *
 * Memory: tensors are freed explicitly, not by the garbage collector. Wrap tensor work in `tidy(fn)`
 * (frees every tensor made inside except what `fn` returns), run inference inside `noGrad`, and call
 * `model.dispose()` when a model is no longer needed. Functions that return plain arrays (`predict`,
 * `evaluate`, `positionSimilarity`, ...) manage their own tensors.
 */

export { LAPE_VERSION as version } from './version.js';

// Models: a registry of named variants, a typed config, the model class.
export {
  createModel,
  resolveConfig,
  configFromFlat,
  modelNames,
  type ModelOverrides,
} from './models/registry.js';
export { listModels, type ModelInfo } from './models/list.js';
export {
  VisionTransformer,
  type ModelOutput,
  type Intermediates,
  type ModelOptions,
} from './models/vision_transformer.js';
export {
  JOIN_KINDS,
  PE_KINDS,
  type VitConfig,
  type JoinKind,
  type PeKind,
  type PositionEmbedding,
  type RelativePositionBias,
  type Tokenizer,
  type Head,
  type BlockStyle,
} from './models/config.js';

// Checkpoints (PyTorch .pth in the reference's layout, either direction).
export {
  loadCheckpoint,
  saveCheckpoint,
  type LoadCheckpointOptions,
  type SaveCheckpointOptions,
} from './models/checkpoint.js';
export { loadWeights, exportWeights, type LoadReport } from './models/weights.js';

// Tensors, memory and backends.
export { Tensor, type DType } from './tensor/tensor.js';
export { tensor, zeros } from './ops/creation.js';
export { tidy, memoryInfo, type MemoryInfo } from './tensor/memory.js';
export { noGrad } from './autograd/tape.js';
// Mixed precision: bfloat16 autocast (PyTorch's CPU policy), and whether this machine runs it natively.
export { autocast, ampAvailable, type AutocastOptions } from './ops/autocast.js';
export {
  setBackend,
  availableBackends,
  setNumThreads,
  numThreads,
  describeEngine,
  bf16Support,
  type BackendName,
} from './backend/registry.js';

// Training and evaluation (DeiT's recipe; defaults are the reference's main.py flags).
export {
  train,
  DivergedError,
  type TrainHooks,
  type TrainResult,
  type TrainOutcome,
  type EpochLog,
} from './train/train.js';
export {
  defaultTrainConfig,
  type TrainConfig,
  type OptimizerConfig,
  type AugmentConfig,
  type MixupSettings,
  type TeacherConfig,
} from './train/config.js';
export type { Criterion, Distillation } from './train/losses.js';
// Data-parallel training over MPI: a script started by `mpirun -n N node script.js` calls
// `trainRank` on every rank; the ranks average gradients every step and rank 0 alone writes.
export { trainRank, type RankOptions, type RankOutcome } from './dist/run.js';
export { mpiJobRank, mpiJobSize } from './dist/world.js';
export type { EvalResult } from './train/evaluate.js';
export { evaluate, type EvalData, type EvaluateOptions } from './infer/evaluate.js';

// Inference.
export {
  predict,
  loadImages,
  topClasses,
  classifyImages,
  type PredictOptions,
  type LoadImagesOptions,
  type ClassScore,
} from './infer/predict.js';

// Data.
export {
  openDataset,
  FASHION_MNIST_CLASSES,
  MNIST_CLASSES,
  type DatasetSpec,
  type DatasetKind,
} from './data/datasets.js';
export { createLoader, type DataLoader, type LoaderOptions } from './data/loader.js';
export type { Batch } from './data/batch.js';
export { datasetStats, type NormalizationStats } from './data/stats.js';

// Position-embedding visualization.
export { positionSimilarity, type PositionSimilarityOptions } from './viz/from_model.js';
export type { ReportData, LayerSimilarity, RpeLayer, RpeHead, LogEntry } from './viz/data.js';
export { parseLog } from './viz/data.js';
export { writeVisualization, type WriteOptions } from './viz/write.js';
export { writeComparison, type ComparisonWriteOptions } from './viz/compare.js';
export { renderHeatmap, type HeatmapSpec } from './viz/heatmap.js';
export type { ColormapSpec } from './viz/colormap.js';

// Studies: a grid of trainings with statistics.
export { runStudy, type RunStudyOptions, type StudyReport, type RunFilter } from './study/run.js';
export { loadStudyConfig, type StudyConfig } from './study/config.js';
export { summarize as summarizeStudy, type StudySummary } from './study/summary.js';

// Export to other runtimes.
export {
  exportOnnx,
  ExportError,
  ONNX_INPUT_NAME,
  ONNX_OUTPUT_NAME,
  ONNX_BATCH_DIM,
  DEFAULT_OPSET,
  MIN_OPSET,
  MAX_OPSET,
  type OnnxExportOptions,
} from './export/onnx.js';
export { saveOnnx, saveSafetensors, EXPORT_FORMATS, type ExportFormat } from './export/save.js';
