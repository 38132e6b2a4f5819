/**
 * Kernel threads per data-parallel rank: the machine's cores shared evenly by the ranks on it. The one
 * place that decides it; it works through the environment of each rank, which the OpenMP runtime of
 * the kernels reads when it loads.
 */
import os from 'node:os';

/** Variables that already fix the thread count (the user's choice wins). */
const THREAD_VARIABLES = ['LAPE_NUM_THREADS', 'OMP_NUM_THREADS'] as const;

/**
 * Threads for one of `localSize` ranks on this machine: cores / localSize (at least 1). A rank that
 * MPI bound to fewer cores than the machine has (e.g. `mpirun --map-by slot:PE=4`) uses its own set.
 */
export function defaultThreadsPerRank(
  localSize: number,
  cores = os.cpus().length,
  usable = os.availableParallelism(),
): number {
  if (usable < cores) return Math.max(1, usable);
  return Math.max(1, Math.floor(cores / Math.max(1, localSize)));
}

/**
 * Sets this rank's thread count unless the environment already does; returns the count and where it
 * came from. Call it before the native backend loads.
 */
export function applyRankThreads(
  localSize: number,
  env: NodeJS.ProcessEnv = process.env,
): { threads: number; from: 'environment' | 'default' } {
  for (const name of THREAD_VARIABLES) {
    const v = Number(env[name]);
    if (env[name] !== undefined && Number.isInteger(v) && v >= 1) {
      env.OMP_NUM_THREADS ??= String(v);
      return { threads: v, from: 'environment' };
    }
  }
  const threads = defaultThreadsPerRank(localSize);
  env.OMP_NUM_THREADS = String(threads);
  return { threads, from: 'default' };
}
