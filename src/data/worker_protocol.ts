/** Messages between the loader (main thread) and its worker threads. All plain, cloneable data. */
import type { Batch } from './batch.js';
import type { SerializedError } from './errors.js';
import type { BatchJob, ProducerConfig } from './producer.js';
import type { SourceDescriptor } from './source.js';

/** Passed as workerData: in-memory pixels travel as SharedArrayBuffer views, so nothing is copied. */
export interface WorkerInit {
  readonly descriptor: SourceDescriptor;
  readonly producer: ProducerConfig;
}

export interface JobMessage {
  readonly type: 'job';
  readonly job: BatchJob;
}

export type WorkerMessage =
  | { readonly type: 'batch'; readonly batchIndex: number; readonly batch: Batch }
  | { readonly type: 'warning'; readonly line: string }
  /** batchIndex null: the worker could not start at all. */
  | { readonly type: 'error'; readonly batchIndex: number | null; readonly error: SerializedError };
