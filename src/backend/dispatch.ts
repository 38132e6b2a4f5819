/**
 * How ops call kernels: `dispatch.matmul({ a: x, b: w, c: out, m, n, k, transB: true })`. Each call is
 * checked against the kernel's declaration (element types, disposed tensors, sizes, buffer extents;
 * errors name the kernel and the argument) and then runs on the active backend.
 */
import { resolveArgs } from './kernel.js';
import { KERNEL_NAMES, KERNELS, type KernelCall, type KernelName, type KernelResult } from './kernels.js';
import { getBackend } from './registry.js';

export type Dispatch = { readonly [K in KernelName]: (args: KernelCall<K>) => KernelResult<K> };

function dispatcher<K extends KernelName>(name: K): (args: KernelCall<K>) => KernelResult<K> {
  const spec = KERNELS[name];
  return (input) => {
    const args = resolveArgs(name, spec as never, input as never);
    const impl = getBackend()[name] as (a: unknown) => KernelResult<K>;
    return impl(args);
  };
}

export const dispatch: Dispatch = Object.freeze(
  Object.fromEntries(KERNEL_NAMES.map((name) => [name, dispatcher(name)])) as unknown as Dispatch,
);
