/**
 * A fixed set of loader worker threads with per-batch request/response.
 *
 * Workers are ref'd only while they owe a batch: an iteration abandoned without `return()` leaves idle,
 * unref'd workers that never keep the process alive. Every failure (a job's error, a crashed or exited
 * worker) rejects the affected requests with a clear error; `close()` terminates all workers.
 *
 * Every promise this pool hands out settles, in every interleaving of worker messages, errors, exits and
 * `close()`: once closed, late messages are ignored (and never touch a worker's ref count), and `close()`
 * holds the event loop open itself until the workers are gone. (A batch that arrived after close()
 * used to unref a worker that close() was waiting for; with nothing else to wait on, Node ended the
 * process with exit code 13 and no message.)
 */
import { Worker } from 'node:worker_threads';
import type { Batch } from './batch.js';
import { deserializeError } from './errors.js';
import type { BatchJob } from './producer.js';
import type { JobMessage, WorkerInit, WorkerMessage } from './worker_protocol.js';

/** How long close() waits for workers to stop before it lets the process go on without them. */
const TERMINATE_GRACE_MS = 10_000;

interface Pending {
  readonly resolve: (b: Batch) => void;
  readonly reject: (e: Error) => void;
}

interface Slot {
  readonly id: number;
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/**
 * Under tsx (this module is a .ts file) a worker cannot take `--import tsx` in its execArgv: on Node 20
 * the entry module loads before the hooks are in place. So the worker starts from a tiny JS snippet that
 * registers tsx's loader and then imports the .ts entry. Compiled to dist/, the .js entry loads directly.
 */
export function spawnLoaderWorker(init: WorkerInit): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./loader_worker.ts', here).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { eval: true, workerData: init, execArgv: [] });
  }
  return new Worker(new URL('./loader_worker.js', here), { workerData: init });
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private failure: Error | null = null;
  private closed = false;

  constructor(
    count: number,
    init: WorkerInit,
    private readonly onWarning: (line: string) => void,
    /** Starts one worker; tests substitute workers that misbehave on purpose. */
    spawn: (init: WorkerInit) => Worker = spawnLoaderWorker,
  ) {
    for (let id = 0; id < count; id++) {
      const slot: Slot = { id, worker: spawn(init), pending: new Map() };
      slot.worker.unref();
      slot.worker.on('message', (m: WorkerMessage) => this.onMessage(slot, m));
      slot.worker.on('error', (err: Error) =>
        this.fail(new Error(`data loader worker ${id} crashed: ${err.message}`, { cause: err })),
      );
      slot.worker.on('exit', (code: number) => {
        if (!this.closed) this.fail(new Error(`data loader worker ${id} exited unexpectedly (code ${code})`));
      });
      this.slots.push(slot);
    }
  }

  /** Asks the least busy worker for a batch. The returned promise never counts as unhandled. */
  submit(job: BatchJob): Promise<Batch> {
    const promise = new Promise<Batch>((resolve, reject) => {
      if (this.failure !== null) return reject(this.failure);
      if (this.closed) return reject(new Error('data loader is closed'));
      let slot = this.slots[0];
      for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
      slot.pending.set(job.batchIndex, { resolve, reject });
      slot.worker.ref();
      const msg: JobMessage = { type: 'job', job };
      slot.worker.postMessage(msg);
    });
    // Prefetched batches may fail before anyone awaits them; the consumer still sees the rejection.
    promise.catch(() => undefined);
    return promise;
  }

  /**
   * Batches 0 .. count-1, in order, keeping `prefetch` requests in flight ahead of the consumer, then
   * closes the pool (also when the consumer stops early or a batch fails).
   */
  async *inOrder(
    count: number,
    prefetch: number,
    job: (batchIndex: number) => BatchJob,
  ): AsyncGenerator<Batch, void, undefined> {
    try {
      const ahead: Promise<Batch>[] = [];
      let requested = 0;
      const topUp = (upTo: number): void => {
        for (; requested < Math.min(count, upTo); requested++) ahead.push(this.submit(job(requested)));
      };
      topUp(prefetch);
      for (let b = 0; b < count; b++) {
        const next = ahead.shift();
        if (next === undefined) throw new Error('loader: prefetch queue underflow');
        const batch = await next;
        // Keep `prefetch` batches in flight while the consumer works on this one.
        topUp(b + 1 + prefetch);
        yield batch;
      }
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('data loader is closed');
    for (const s of this.slots) this.settleAll(s, err);
    // An unref'd worker's exit does not keep the event loop alive, so a caller awaiting close() at top
    // level could see the process end first (exit code 13). A timer of our own keeps it alive until
    // every worker is gone, or for at most TERMINATE_GRACE_MS if one never stops (stuck in native code).
    let keepAlive: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      keepAlive = setTimeout(resolve, TERMINATE_GRACE_MS);
    });
    try {
      await Promise.race([
        Promise.all(this.slots.map((s) => s.worker.terminate().catch(() => undefined))),
        grace,
      ]);
    } finally {
      clearTimeout(keepAlive);
    }
  }

  private onMessage(slot: Slot, m: WorkerMessage): void {
    // After close() every request is settled already; a late batch, warning or error changes nothing.
    if (this.closed) return;
    switch (m.type) {
      case 'warning':
        this.onWarning(m.line);
        return;
      case 'batch': {
        const p = this.take(slot, m.batchIndex);
        p?.resolve(m.batch);
        return;
      }
      case 'error': {
        if (m.batchIndex === null) {
          this.fail(deserializeError(m.error, `data loader worker ${slot.id} (start-up)`));
          return;
        }
        const p = this.take(slot, m.batchIndex);
        p?.reject(deserializeError(m.error, `data loader worker ${slot.id}, batch ${m.batchIndex}`));
        return;
      }
    }
  }

  private take(slot: Slot, batchIndex: number): Pending | undefined {
    const p = slot.pending.get(batchIndex);
    slot.pending.delete(batchIndex);
    if (slot.pending.size === 0 && !this.closed) slot.worker.unref();
    return p;
  }

  private settleAll(slot: Slot, err: Error): void {
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
    slot.worker.unref();
  }

  private fail(err: Error): void {
    if (this.failure !== null || this.closed) return;
    this.failure = err;
    for (const s of this.slots) this.settleAll(s, err);
  }
}
