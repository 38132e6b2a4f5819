/**
 * Deterministic memory management for tensors.
 *
 * Training allocates the same buffer sizes step after step. Leaving them to the garbage collector makes
 * the resident set grow until a collection happens to run, so tensors are released explicitly:
 * `dispose()` returns a buffer to a size-keyed pool, and `tidy(fn)` disposes every tensor created inside
 * `fn` except those it returns or that were `keep()`-ed (parameters, optimizer state, gradients).
 */

/** What a scope needs to know about a tensor; implemented by Tensor. */
export interface Disposable {
  readonly isDisposed: boolean;
  readonly kept: boolean;
  dispose(): void;
}

/** Pooled bytes above this are released to the garbage collector instead of kept for reuse. */
const MAX_POOLED_BYTES = 4 * 1024 ** 3;

const f32Pool = new Map<number, Float32Array[]>();
const i32Pool = new Map<number, Int32Array[]>();
const u16Pool = new Map<number, Uint16Array[]>();
let pooledBytes = 0;
let liveTensors = 0;
let liveBytes = 0;

export function allocF32(n: number): Float32Array {
  const free = f32Pool.get(n);
  const buf = free?.pop();
  if (buf) {
    pooledBytes -= n * 4;
    return buf;
  }
  return new Float32Array(n);
}

export function allocI32(n: number): Int32Array {
  const free = i32Pool.get(n);
  const buf = free?.pop();
  if (buf) {
    pooledBytes -= n * 4;
    return buf;
  }
  return new Int32Array(n);
}

/** bfloat16 storage (the upper 16 bits of each float32). */
export function allocU16(n: number): Uint16Array {
  const free = u16Pool.get(n);
  const buf = free?.pop();
  if (buf) {
    pooledBytes -= n * 2;
    return buf;
  }
  return new Uint16Array(n);
}

export function release(buf: Float32Array | Int32Array | Uint16Array): void {
  if (pooledBytes + buf.byteLength > MAX_POOLED_BYTES || buf.length === 0) return;
  // Only buffers that own their whole ArrayBuffer can be reused safely.
  if (buf.byteOffset !== 0 || buf.buffer.byteLength !== buf.byteLength) return;
  if (buf instanceof Float32Array) pushTo(f32Pool, buf);
  else if (buf instanceof Int32Array) pushTo(i32Pool, buf);
  else pushTo(u16Pool, buf);
  pooledBytes += buf.byteLength;
}

function pushTo<T extends Float32Array | Int32Array | Uint16Array>(pool: Map<number, T[]>, buf: T): void {
  const list = pool.get(buf.length);
  if (list) list.push(buf);
  else pool.set(buf.length, [buf]);
}

export function trackAlloc(bytes: number): void {
  liveTensors++;
  liveBytes += bytes;
}

export function trackFree(bytes: number): void {
  liveTensors--;
  liveBytes -= bytes;
}

export interface MemoryInfo {
  /** Live tensor storages (a tensor and its reshaped views share one). */
  tensors: number;
  /** Bytes held by those tensors. */
  bytes: number;
  /** Bytes held in the reuse pool. */
  pooledBytes: number;
}

export function memoryInfo(): MemoryInfo {
  return { tensors: liveTensors, bytes: liveBytes, pooledBytes };
}

const scopes: Set<Disposable>[] = [];

export function trackInScope(t: Disposable): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Removes a tensor from every open scope so that it outlives them. */
export function untrack(t: Disposable): void {
  for (const s of scopes) s.delete(t);
}

/**
 * Runs `fn`, then disposes every tensor created inside it except the ones reachable from its result
 * (a tensor, or arrays/plain objects of tensors) and the ones marked kept.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const escaping = new Set<Disposable>();
  collect(result, escaping, 0);
  for (const t of scope) {
    if (escaping.has(t)) {
      trackInScope(t); // hand it to the enclosing scope
    } else if (!t.kept && !t.isDisposed) {
      t.dispose();
    }
  }
  return result;
}

function isDisposable(v: unknown): v is Disposable {
  return typeof v === 'object' && v !== null && 'dispose' in v && 'isDisposed' in v;
}

function collect(v: unknown, out: Set<Disposable>, depth: number): void {
  if (depth > 4 || v === null || typeof v !== 'object') return;
  if (isDisposable(v)) {
    out.add(v);
    return;
  }
  const values = Array.isArray(v) ? v : v instanceof Map ? [...v.values()] : Object.values(v);
  for (const x of values) collect(x, out, depth + 1);
}
