/**
 * The MPI binding (native/mpi, built by scripts/build-mpi.mjs only when Open MPI is installed): loads
 * `lape_mpi.node` on first use and types it. Every call must come from the main thread.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MpiWorldInfo {
  rank: number;
  size: number;
  /** Rank among the processes on this machine, and how many there are. */
  localRank: number;
  localSize: number;
  host: string;
  /** The MPI library, e.g. `Open MPI v4.1.4`. */
  library: string;
}

export type Reduction = 'sum' | 'max' | 'min';
type Numeric = Float32Array | Float64Array | Int32Array;

/** The functions of lape_mpi.node (see native/src/mpi/lape_mpi.cc). */
export interface MpiAddon {
  init(): MpiWorldInfo;
  allreduce(data: Numeric, op?: Reduction): void;
  broadcast(data: Numeric | Uint8Array, root: number): void;
  allgather(bytes: Uint8Array): Uint8Array;
  barrier(): void;
  abort(code: number): void;
  finalize(): void;
}

/** What to do when the binding is missing (for error messages). */
export const MPI_INSTALL_HINT = 'apt-get install libopenmpi-dev openmpi-bin, then npm rebuild lape';

const ADDON_RELATIVE = path.join('native', 'mpi', 'build', 'Release', 'lape_mpi.node');

let loaded: { addon: MpiAddon | null; reason?: string } | null = null;

function findAddon(): string | null {
  const override = process.env.LAPE_MPI_ADDON;
  if (override) return override;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'native', 'mpi', 'binding.gyp'))) {
      const file = path.join(dir, ADDON_RELATIVE);
      return existsSync(file) ? file : null;
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** The binding, or null with the reason (not built, or does not load). */
export function loadMpi(): { addon: MpiAddon | null; reason?: string } {
  if (loaded) return loaded;
  const file = findAddon();
  if (!file) {
    loaded = { addon: null, reason: `lape's MPI binding is not built: ${MPI_INSTALL_HINT}` };
    return loaded;
  }
  try {
    const require = createRequire(import.meta.url);
    loaded = { addon: require(file) as MpiAddon };
  } catch (e) {
    loaded = {
      addon: null,
      reason: `lape's MPI binding does not load (${(e as Error).message.split('\n')[0]}): ${MPI_INSTALL_HINT}`,
    };
  }
  return loaded;
}

/** The binding, or an error whose message says what to install. */
export function requireMpi(what: string): MpiAddon {
  const { addon, reason } = loadMpi();
  if (!addon) throw new Error(`${what} needs Open MPI, and ${reason ?? MPI_INSTALL_HINT}`);
  return addon;
}
