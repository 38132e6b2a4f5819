/**
 * The processes of one data-parallel job (MPI's COMM_WORLD): who this process is, and the collectives
 * the training loop uses. Started by `mpirun`/`srun` (or `lape train --nproc-per-node`, which runs
 * mpirun itself); `World.init()` joins the job.
 */
import { type MpiAddon, type MpiWorldInfo, type Reduction, requireMpi } from './mpi.js';

/**
 * The number of processes of the MPI job this process was started in, from the launchers'
 * environment (Open MPI's mpirun, a PMI/PMIx launcher such as Slurm's srun); null outside one.
 */
export function mpiJobSize(env: NodeJS.ProcessEnv = process.env): number | null {
  for (const name of ['OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'SLURM_STEP_NUM_TASKS']) {
    const v = Number(env[name]);
    if (env[name] !== undefined && Number.isInteger(v) && v >= 1) return v;
  }
  return null;
}

/** This process's rank in the MPI job it was started in (launcher environment), or null. */
export function mpiJobRank(env: NodeJS.ProcessEnv = process.env): number | null {
  for (const name of ['OMPI_COMM_WORLD_RANK', 'PMI_RANK', 'SLURM_PROCID']) {
    const v = Number(env[name]);
    if (env[name] !== undefined && Number.isInteger(v) && v >= 0) return v;
  }
  return null;
}

export class World implements MpiWorldInfo {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  readonly host: string;
  readonly library: string;
  private finalized = false;

  private constructor(
    private readonly mpi: MpiAddon,
    info: MpiWorldInfo,
  ) {
    this.rank = info.rank;
    this.size = info.size;
    this.localRank = info.localRank;
    this.localSize = info.localSize;
    this.host = info.host;
    this.library = info.library;
  }

  /** Joins the MPI job (MPI_Init); `what` names the feature in the error when MPI is missing. */
  static init(what = 'data-parallel training'): World {
    const mpi = requireMpi(what);
    return new World(mpi, mpi.init());
  }

  /** `rank 1 on host-b`: how messages name a process. */
  describe(rank = this.rank): string {
    return rank === this.rank ? `rank ${rank} on ${this.host}` : `rank ${rank}`;
  }

  /** In place: every rank ends with the element-wise reduction over all ranks. */
  allreduce(data: Float32Array | Float64Array | Int32Array, op: Reduction = 'sum'): void {
    if (data.length > 0) this.mpi.allreduce(data, op);
  }

  /** Rank `root`'s contents replace everyone else's. */
  broadcast(data: Float32Array | Float64Array | Int32Array | Uint8Array, root = 0): void {
    if (data.length > 0) this.mpi.broadcast(data, root);
  }

  /**
   * Every rank's JSON-able `value`, in rank order. Each record travels in `maxBytes` (longer ones are
   * an error: keep records small).
   */
  allgatherJson<T>(value: T, maxBytes = 4096): T[] {
    const text = new TextEncoder().encode(JSON.stringify(value));
    if (text.length + 4 > maxBytes)
      throw new Error(`allgather: a record of ${text.length} bytes exceeds ${maxBytes - 4}`);
    const record = new Uint8Array(maxBytes);
    new DataView(record.buffer).setUint32(0, text.length, true);
    record.set(text, 4);
    const all = this.mpi.allgather(record);
    const out: T[] = [];
    for (let r = 0; r < this.size; r++) {
      const at = r * maxBytes;
      const len = new DataView(all.buffer, all.byteOffset + at, 4).getUint32(0, true);
      out.push(JSON.parse(new TextDecoder().decode(all.subarray(at + 4, at + 4 + len))) as T);
    }
    return out;
  }

  barrier(): void {
    this.mpi.barrier();
  }

  /** Ends every process of the job at once (MPI_Abort); for a failure only this rank knows about. */
  abort(code = 1): never {
    this.mpi.abort(code);
    process.exit(code); // not reached: MPI_Abort does not return
  }

  /** Leaves the job (collective: every rank calls it once, at the end). */
  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    this.mpi.finalize();
  }
}
