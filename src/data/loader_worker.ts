/**
 * Entry point of a loader worker thread: rebuilds the source from its descriptor, then produces the
 * batches it is asked for, one at a time and in arrival order, transferring (not copying) their buffers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { sourceFromDescriptor } from './datasets.js';
import { serializeError } from './errors.js';
import { BatchProducer } from './producer.js';
import type { JobMessage, WorkerInit, WorkerMessage } from './worker_protocol.js';

const port = parentPort;
if (port === null) throw new Error('loader_worker must run in a worker thread');

const post = (msg: WorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

let producer: BatchProducer | null = null;
try {
  const init = workerData as WorkerInit;
  const source = sourceFromDescriptor(init.descriptor, (line) => post({ type: 'warning', line }));
  producer = new BatchProducer(source, init.producer);
} catch (err) {
  post({ type: 'error', batchIndex: null, error: serializeError(err) });
}

// Serializing jobs makes the oldest request finish first, which is the one the consumer waits on.
let chain: Promise<void> = Promise.resolve();

port.on('message', (msg: JobMessage) => {
  const run = async (): Promise<void> => {
    if (producer === null) return;
    try {
      const batch = await producer.produce(msg.job);
      const transfer: ArrayBuffer[] = [
        batch.images.buffer as ArrayBuffer,
        batch.labels.buffer as ArrayBuffer,
      ];
      if (batch.targets !== null) transfer.push(batch.targets.buffer as ArrayBuffer);
      post({ type: 'batch', batchIndex: msg.job.batchIndex, batch }, transfer);
    } catch (err) {
      post({ type: 'error', batchIndex: msg.job.batchIndex, error: serializeError(err) });
    }
  };
  chain = chain.then(run);
});
