/**
 * What a backend is: one implementation of every kernel declared in `kernels.ts`, each taking that
 * kernel's typed argument object (already checked against the declaration by the dispatcher).
 *
 * The portable backend (`src/backend/js`) is the reference in tests and runs everywhere. The native
 * backend (`src/backend/native`) runs every kernel in the oneDNN/OpenMP addon; there is no fallback
 * from one to the other inside a backend.
 */
import type { KernelArgs, KernelName, KernelResult } from './kernels.js';

export type BackendName = 'js' | 'native';

export type KernelImpls = { readonly [K in KernelName]: (args: KernelArgs<K>) => KernelResult<K> };

export type Backend = { readonly name: BackendName } & KernelImpls;

export type { BinaryOp, UnaryOp } from './kernels.js';
export type { MatrixView } from './kernel.js';
