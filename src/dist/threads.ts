/**
 * Kernel threads per data-parallel rank: the machine's cores shared evenly by the ranks on it, unless
 * the user chose (`--threads N`, LAPE_NUM_THREADS, OMP_NUM_THREADS). The one place that decides it.
 */
import os from 'node:os';
import { setNumThreads } from '../backend/registry.js';

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

export interface RankThreads {
  threads: number;
  from: 'flag' | 'environment' | 'default';
}

/**
 * Sets this rank's kernel threads: `requested` (--threads N, which also reads LAPE_NUM_THREADS),
 * else the environment's LAPE_NUM_THREADS / OMP_NUM_THREADS, else cores / ranks on this machine.
 */
export function applyRankThreads(
  localSize: number,
  requested?: number,
  env: NodeJS.ProcessEnv = process.env,
  apply: (n: number) => void = setNumThreads,
): RankThreads {
  if (requested !== undefined) {
    apply(requested);
    return { threads: requested, from: 'flag' };
  }
  for (const name of ['LAPE_NUM_THREADS', 'OMP_NUM_THREADS']) {
    const v = Number(env[name]);
    if (env[name] !== undefined && Number.isInteger(v) && v >= 1) return { threads: v, from: 'environment' };
  }
  const threads = defaultThreadsPerRank(localSize);
  apply(threads);
  return { threads, from: 'default' };
}
