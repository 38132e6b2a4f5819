/**
 * One rank of a data-parallel `lape train` (started by mpirun, srun or `--nproc-per-node`): joins the
 * MPI job, sizes its kernel threads, trains its shard with the gradients averaged over the ranks, and
 * ends the way the job needs: errors every rank knows are reported once by rank 0 and every rank exits
 * normally; an error only this rank knows is printed with its rank and aborts the whole job at once.
 */
import { sanitizeMessage } from '../io/sanitize.js';
import { DivergedError, train, type TrainHooks, type TrainResult } from '../train/train.js';
import type { TrainConfig } from '../train/config.js';
import { CollectiveError, DataParallel } from './data_parallel.js';
import { applyRankThreads } from './threads.js';
import { World } from './world.js';

/** Signals that ask a rank to stop after the current step: SIGUSR2 is what the launcher sends. */
const STOP_SIGNALS = ['SIGINT', 'SIGUSR2'] as const;

export interface RankOptions {
  progress: boolean;
  /** `--nproc-per-node` as given to this rank: checked against the ranks MPI started on this host. */
  nprocPerNode?: number;
  /** `--threads N` (or LAPE_NUM_THREADS); default: the cores shared by the ranks on this machine. */
  threads?: number;
  /** Rank 0's status lines (default: none). */
  log?: (line: string) => void;
  /** Checkpoints already opened and how URLs are fetched, as `train()` takes them. */
  checkpoints?: Pick<TrainHooks, 'preloaded' | 'download'>;
}

export interface RankOutcome {
  /** The run's result on this rank; null when it failed. */
  result: TrainResult | null;
  exitCode: number;
  /** Whether this is rank 0, which alone prints results. */
  lead: boolean;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Trains `cfg` as one rank of the MPI job this process belongs to. */
export async function trainRank(cfg: TrainConfig, opts: RankOptions): Promise<RankOutcome> {
  const world = World.init('data-parallel training (--nproc-per-node, mpirun)');
  const threads = applyRankThreads(world.localSize, opts.threads);
  const controller = new AbortController();
  const onStop = (): void => controller.abort();
  for (const s of STOP_SIGNALS) process.on(s, onStop);
  const dp = new DataParallel(world, { signal: controller.signal });
  const log = opts.log ?? (() => {});
  try {
    if (opts.nprocPerNode !== undefined && opts.nprocPerNode !== world.localSize) {
      throw new Error(
        `--nproc-per-node ${opts.nprocPerNode} does not match the ${world.localSize} ranks MPI started on ${world.host}`,
      );
    }
    const accum = cfg.accumIter ?? 1;
    if (dp.isLead) {
      log(
        `data-parallel: ${world.size} ranks (${world.localSize} on ${world.host}), ${threads.threads} thread(s) each${threads.from === 'default' ? '' : ` (from ${threads.from === 'flag' ? '--threads' : 'the environment'})`}, ${world.library}; global batch ${world.size} x ${cfg.batchSize}${accum > 1 ? ` x --accum-iter ${accum}` : ''} = ${world.size * cfg.batchSize * accum}`,
      );
    }
    const result = await train(cfg, {
      ...opts.checkpoints,
      dataParallel: dp,
      signal: controller.signal,
      progress: opts.progress,
      log,
    });
    world.finalize();
    return { result, exitCode: result.outcome === 'interrupted' ? 130 : 0, lead: dp.isLead };
  } catch (e) {
    let err = e;
    if (!dp.startupVerified) {
      // Some ranks may have set up fine and wait for the start-up agreement: report this error there.
      try {
        dp.verifyStartup({ error: message(e) });
      } catch (collective) {
        err = collective;
      }
    }
    if (err instanceof CollectiveError || err instanceof DivergedError) {
      if (dp.isLead) process.stderr.write(`${sanitizeMessage(`lape: ${message(err)}`)}\n`);
      world.finalize();
      return { result: null, exitCode: 1, lead: dp.isLead };
    }
    process.stderr.write(`${sanitizeMessage(`lape: ${world.describe()}: ${message(err)}`)}\n`);
    if (process.env.LAPE_DEBUG && err instanceof Error)
      process.stderr.write(`${sanitizeMessage(err.stack ?? '', { maxLines: 60 })}\n`);
    return world.abort(1);
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onStop);
  }
}
