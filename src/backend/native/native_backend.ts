/**
 * The native backend: every kernel of `kernels.ts` runs in lape's N-API addon (oneDNN matmul plus own
 * OpenMP C++, see native/), loaded from `native/build/Release/lape_native.node` when `npm install`
 * could build it.
 *
 * Each addon kernel takes the same argument object the portable kernel does (the C++ reads its fields
 * by name, native/src/common.h `Fields`). At load the addon's kernel signatures and op tables are
 * compared with the declarations: an addon built from other sources is refused with a message to
 * rebuild, rather than failing mid-run or being patched up with portable kernels.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Backend, KernelImpls } from '../backend.js';
import { KERNEL_NAMES, KERNELS } from '../kernels.js';

export interface NativeInfo {
  /** OpenMP threads the kernels use. */
  threads: number;
  dnnlVersion: string;
  /** The instruction set oneDNN dispatches to (e.g. avx512_core_bf16). */
  isa: string;
}

/** The addon's exports: the kernels plus a few diagnostics. */
export type NativeAddon = KernelImpls & {
  info(): NativeInfo;
  setThreads(n: number): void;
  /** Field names each kernel reads, by kernel. */
  signatures: Record<string, string[]>;
  /** Op tables (names indexed by op code), by table name. */
  enums: Record<string, string[]>;
  /** Call-overhead probe. */
  noop(args: { x: Float32Array }): void;
  /** The oneDNN implementation a matmul call would run (e.g. brg:avx512_core). */
  matmulImpl(args: unknown): string;
  primitiveCache(): { matmul: number; matmulStrided: number; capacity: number };
  setPrimitiveCacheCapacity(n: number): void;
};

const ADDON_RELATIVE = path.join('native', 'build', 'Release', 'lape_native.node');
const REBUILD = 'rebuild it with `npm rebuild lape` (or `npm run install` in a checkout)';

let loaded: { addon: NativeAddon | null; reason?: string } | null = null;

/** The addon file: LAPE_NATIVE_ADDON, or the build under the nearest ancestor holding native/binding.gyp. */
function findAddon(): string | null {
  const override = process.env.LAPE_NATIVE_ADDON;
  if (override) return override;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'native', 'binding.gyp'))) {
      const file = path.join(dir, ADDON_RELATIVE);
      return existsSync(file) ? file : null;
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/**
 * Why an addon does not implement the declared kernels, or null when it does: a missing kernel, a
 * kernel reading other fields than declared, or an op table without a declared op.
 */
export function addonMismatch(addon: Partial<NativeAddon>): string | null {
  const signatures = addon.signatures ?? {};
  for (const name of KERNEL_NAMES) {
    if (typeof addon[name] !== 'function') return `it has no '${name}' kernel`;
    const declared = Object.keys(KERNELS[name].fields).sort();
    const native = [...(signatures[name] ?? [])].sort();
    if (declared.join() !== native.join())
      return `its '${name}' kernel reads [${native.join(', ')}], the declaration has [${declared.join(', ')}]`;
    for (const field of Object.values(KERNELS[name].fields)) {
      if (field.kind !== 'choice') continue;
      const table = addon.enums?.[field.table];
      const missing = field.values.filter((v: string) => !table?.includes(v));
      if (missing.length > 0) return `its '${field.table}' table lacks ${missing.join(', ')}`;
    }
  }
  return null;
}

/** Loads and checks the addon once; null (with a reason) when it is not built, not loadable or stale. */
export function loadNativeAddon(): NativeAddon | null {
  if (loaded) return loaded.addon;
  const file = findAddon();
  if (!file) {
    loaded = {
      addon: null,
      reason: `${ADDON_RELATIVE} is not built (it needs oneDNN: apt-get install libdnnl-dev, then npm rebuild lape)`,
    };
    return null;
  }
  let addon: NativeAddon;
  try {
    const require = createRequire(import.meta.url);
    addon = require(file) as NativeAddon;
  } catch (e) {
    loaded = { addon: null, reason: `cannot load ${file}: ${(e as Error).message}` };
    return null;
  }
  const mismatch = addonMismatch(addon);
  loaded = mismatch
    ? { addon: null, reason: `${file} was built from other sources than this lape: ${mismatch}; ${REBUILD}` }
    : { addon };
  return loaded.addon;
}

/** Whether the native kernels are available, and how they run. */
export function nativeInfo(): { available: true; info: NativeInfo } | { available: false; reason: string } {
  const addon = loadNativeAddon();
  if (!addon) return { available: false, reason: loaded?.reason ?? 'unknown' };
  return { available: true, info: addon.info() };
}

/** The native backend, or null when the addon is unavailable (see `nativeInfo().reason`). */
export function createNativeBackend(): Backend | null {
  const addon = loadNativeAddon();
  if (!addon) return null;
  const kernels = Object.fromEntries(KERNEL_NAMES.map((name) => [name, addon[name]]));
  return Object.freeze({ name: 'native', ...kernels } as Backend);
}
