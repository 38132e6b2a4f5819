/**
 * Which backend runs the kernels: native (oneDNN) when its addon is built, else the portable one.
 * `LAPE_BACKEND=js` forces the portable backend; `LAPE_BACKEND=native` makes a missing addon an error.
 * An addon that is present but built from other sources is always an error (never silently replaced).
 */
import os from 'node:os';

import type { Backend, BackendName } from './backend.js';
import { jsBackend } from './js/index.js';
import { createNativeBackend, loadNativeAddon, nativeInfo } from './native/native_backend.js';

export type { BackendName } from './backend.js';

let current: Backend | null = null;
let native: Backend | null | undefined;

function loadNative(): Backend | null {
  if (native === undefined) native = createNativeBackend();
  return native;
}

function unavailable(): string {
  const info = nativeInfo();
  return info.available ? '' : info.reason;
}

function fromEnv(): Backend {
  const want = process.env.LAPE_BACKEND;
  if (want === 'js') return jsBackend;
  if (want !== undefined && want !== '' && want !== 'native') {
    throw new Error(`LAPE_BACKEND must be 'js' or 'native', got '${want}'`);
  }
  const nb = loadNative();
  if (nb) return nb;
  const reason = unavailable();
  if (want === 'native')
    throw new Error(`LAPE_BACKEND=native but the native backend is unavailable: ${reason}`);
  if (/built from other sources/.test(reason)) throw new Error(`lape: ${reason}`);
  process.stderr.write(
    `lape: native backend unavailable (${reason}); using the portable backend, which is much slower\n`,
  );
  return jsBackend;
}

export function getBackend(): Backend {
  if (current === null) {
    current = fromEnv();
    applyThreads();
  }
  return current;
}

export function setBackend(name: BackendName): void {
  switch (name) {
    case 'js':
      current = jsBackend;
      return;
    case 'native': {
      const nb = loadNative();
      if (!nb) throw new Error(`native backend unavailable: ${unavailable()}`);
      current = nb;
      applyThreads();
      return;
    }
  }
}

/** The backends this process can run: always 'js', and 'native' when its addon loads. */
export function availableBackends(): BackendName[] {
  return loadNative() ? ['js', 'native'] : ['js'];
}

// ---- threads ---------------------------------------------------------------------------------------

let requestedThreads: number | null = null;

function envThreads(name: string): number | null {
  const v = process.env[name];
  if (v === undefined || v === '') return null;
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) {
    throw new Error(`${name} must be a positive integer, got '${v}'`);
  }
  return Number(v);
}

/**
 * Threads the kernels use: `setNumThreads`, else LAPE_NUM_THREADS, else OMP_NUM_THREADS, else the
 * machine's cores. (The portable backend always runs on the calling thread.)
 */
export function numThreads(): number {
  return (
    requestedThreads ??
    envThreads('LAPE_NUM_THREADS') ??
    envThreads('OMP_NUM_THREADS') ??
    os.availableParallelism?.() ??
    os.cpus().length
  );
}

/** Sets the kernels' thread count (oneDNN and lape's own kernels share one OpenMP pool). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`threads must be a positive integer, got ${n}`);
  requestedThreads = n;
  applyThreads();
}

/**
 * Whether this process can run bfloat16 GEMMs in hardware: the native backend on a CPU with
 * AVX512_BF16 or AMX (as oneDNN reports it; ONEDNN_MAX_CPU_ISA can hide them). A reason when not.
 */
export function bf16Support(): { native: true } | { native: false; reason: string } {
  const backend = getBackend();
  if (backend.name === 'js')
    return { native: false, reason: 'the portable backend has no bfloat16 hardware path' };
  const info = nativeInfo();
  if (!info.available) return { native: false, reason: info.reason };
  if (/bf16|amx/.test(info.info.isa)) return { native: true };
  return { native: false, reason: `oneDNN runs at ${info.info.isa} here, without AVX512_BF16 or AMX` };
}

/** One line naming the engine that runs the kernels, e.g. `native (oneDNN 2.6.3, avx512_core_bf16), 2 threads`. */
export function describeEngine(): string {
  const backend = getBackend();
  if (backend.name === 'js') return 'js (portable TypeScript kernels), 1 thread';
  const info = nativeInfo();
  const detail = info.available ? `oneDNN ${info.info.dnnlVersion}, ${info.info.isa}` : 'oneDNN';
  const n = numThreads();
  return `native (${detail}), ${n} thread${n === 1 ? '' : 's'}`;
}

function applyThreads(): void {
  if (current?.name === 'native') loadNativeAddon()?.setThreads(numThreads());
}
