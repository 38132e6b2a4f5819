/**
 * Which backend runs the kernels: native (oneDNN) when its addon is built, else the portable one.
 * `LAPE_BACKEND=js` forces the portable backend; `LAPE_BACKEND=native` makes a missing addon an error.
 */
import type { Backend } from './backend.js';
import { jsBackend } from './js/index.js';
import { createNativeBackend, nativeInfo } from './native/native_backend.js';

export type BackendName = Backend['name'];

let current: Backend | null = null;
let native: Backend | null | undefined;

function loadNative(): Backend | null {
  if (native === undefined) native = createNativeBackend(jsBackend);
  return native ?? null;
}

function fromEnv(): Backend {
  const want = process.env.LAPE_BACKEND;
  if (want === 'js') return jsBackend;
  const nb = loadNative();
  if (nb) return nb;
  if (want === 'native') {
    throw new Error(
      `LAPE_BACKEND=native but the native backend is unavailable: ${nativeInfo().reason ?? 'unknown'}`,
    );
  }
  if (want !== undefined && want !== '') {
    throw new Error(`LAPE_BACKEND must be 'js' or 'native', got '${want}'`);
  }
  process.stderr.write(
    `lape: native backend unavailable (${nativeInfo().reason ?? 'unknown'}); using the portable backend, which is much slower: apt-get install libdnnl-dev, then npm rebuild\n`,
  );
  return jsBackend;
}

export function getBackend(): Backend {
  if (current === null) current = fromEnv();
  return current;
}

export function setBackend(name: BackendName): void {
  switch (name) {
    case 'js':
      current = jsBackend;
      return;
    case 'native': {
      const nb = loadNative();
      if (!nb) throw new Error(`native backend unavailable: ${nativeInfo().reason ?? 'unknown'}`);
      current = nb;
      return;
    }
  }
}

/** The backends this process can run: always 'js', and 'native' when its addon loads. */
export function availableBackends(): BackendName[] {
  return loadNative() ? ['js', 'native'] : ['js'];
}

/** Runs fn with the given backend selected, restoring the previous one afterwards. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const prev = getBackend();
  setBackend(name);
  try {
    return fn();
  } finally {
    current = prev;
  }
}
