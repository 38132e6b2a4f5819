/**
 * `lape train --nproc-per-node N [--hosts a,b]`: the torch launcher's role, on Open MPI. It runs
 * `mpirun` with N ranks per host, each rank the same `lape train` command, and stays in front of it:
 *
 * - Open MPI refuses to start as root unless told; as root (CI, containers) the launcher tells it.
 * - Ctrl-C: the first one asks every rank to stop after the same step (SIGUSR2, which mpirun forwards
 *   to every rank), and rank 0 saves a resumable checkpoint; a second one ends the job at once.
 * - mpirun's multi-line notices about a rank that died, an unreachable host or ranks that failed are
 *   turned into one line naming the rank or host (a rank that failed has printed its own line).
 *   LAPE_DEBUG=1 shows them in full.
 *
 * mpirun runs in its own process group, so Ctrl-C reaches the launcher only and never kills the
 * ranks before they could save.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { requireMpi, MPI_INSTALL_HINT } from './mpi.js';

export interface LaunchOptions {
  /** Ranks per host (>= 1). */
  nprocPerNode: number;
  /** Hosts to run on (each gets nprocPerNode ranks); null for this machine only. */
  hosts: string[] | null;
  /** The command every rank runs: node, its flags, the lape entry script and the user's arguments. */
  command: string[];
  /** Where status lines go (default stderr). */
  log?: (line: string) => void;
}

const BANNER_RULE = /^-{20,}$/;

/**
 * mpirun's options for `nprocPerNode` ranks on each host (this machine when `hosts` is null), without
 * the process count and command (see `mpirunArgs`).
 */
export function mpirunOptions(
  opts: Pick<LaunchOptions, 'nprocPerNode' | 'hosts'>,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const { nprocPerNode: n, hosts } = opts;
  const args = ['--host', (hosts ?? ['localhost']).map((h) => `${h}:${n}`).join(',')];
  // The ranks size their own OpenMP thread pools (cores / ranks per host): no core binding.
  args.push('--bind-to', 'none');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && !(env.OMPI_ALLOW_RUN_AS_ROOT === '1' && env.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM === '1'))
    args.push('--allow-run-as-root');
  if (hosts !== null) {
    // Fail fast on an unreachable host instead of waiting for ssh to time out or ask for a password.
    if (env.OMPI_MCA_plm_rsh_args === undefined)
      args.push('--mca', 'plm_rsh_args', '-o BatchMode=yes -o ConnectTimeout=10');
    args.push('--wdir', process.cwd());
    for (const name of Object.keys(env).sort()) if (/^(LAPE|OMP)_/.test(name)) args.push('-x', name);
  }
  return args;
}

/** The whole mpirun command line of a launch (after `mpirun`). */
export function mpirunArgs(opts: LaunchOptions, env: NodeJS.ProcessEnv = process.env): string[] {
  const ranks = opts.nprocPerNode * (opts.hosts?.length ?? 1);
  return ['-np', String(ranks), ...mpirunOptions(opts, env), ...opts.command];
}

/** What mpirun's notices, collected during the run, mean for the user, as one line (or null). */
export function summarizeFailure(notices: string[], sshLines: string[]): string | null {
  const all = notices.join('\n');
  const died = /process rank (\d+) with PID \d+ on node (\S+) exited on signal (\d+) \(([^)]+)\)/.exec(all);
  if (died) {
    return `rank ${died[1]} on ${died[2]} died (signal ${died[3]}, ${died[4]}); mpirun stopped the other ranks`;
  }
  if (/plm_rsh_agent/.test(all))
    return 'other hosts are reached over ssh, and no ssh client is installed (apt-get install openssh-client)';
  if (/unable to reliably start one or more daemons/.test(all) || sshLines.length > 0) {
    const why = sshLines[0] ?? 'a host did not answer';
    return `could not start ranks on every host (${why}); each host must accept ssh without a password and have lape at the same path`;
  }
  return null;
}

/** Notices that only repeat what a rank already printed itself. */
const RANK_REPORTED = [
  /MPI_ABORT was invoked on rank/,
  /returned\s+a non-zero exit code/,
  /exited with non-zero status/,
  /exited on signal/,
  /unable to reliably start/,
  /plm_rsh_agent/,
];

/** mpirun's chatter: its note on forwarding our stop signal, and Open MPI 4.1's harmless show_help bug. */
const NOISE = [
  /^mpirun: Forwarding signal/,
  /ORTE_ERROR_LOG: Data unpack would read past end of buffer .*show_help/,
];

/** The mpirun to run (LAPE_MPIRUN overrides), or an error saying what to install. */
function findMpirun(env: NodeJS.ProcessEnv): string {
  const mpirun = env.LAPE_MPIRUN ?? 'mpirun';
  const probe = spawnSync(mpirun, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    throw new Error(`--nproc-per-node needs Open MPI's mpirun, which was not found: ${MPI_INSTALL_HINT}`);
  if (!/Open MPI|OpenRTE/.test(probe.stdout))
    throw new Error(
      `--nproc-per-node needs Open MPI's mpirun; ${mpirun} is another MPI (${probe.stdout.split('\n')[0]})`,
    );
  return mpirun;
}

/** Runs the job and resolves to the exit status `lape train` should end with. */
export async function launch(opts: LaunchOptions): Promise<number> {
  if (!(Number.isInteger(opts.nprocPerNode) && opts.nprocPerNode >= 1))
    throw new Error(`--nproc-per-node expects an integer >= 1, got '${opts.nprocPerNode}'`);
  requireMpi(`--nproc-per-node ${opts.nprocPerNode}`);
  const mpirun = findMpirun(process.env);
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const debug = Boolean(process.env.LAPE_DEBUG);
  const child = spawn(mpirun, mpirunArgs(opts), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });

  const notices: string[] = [];
  const sshLines: string[] = [];
  let interrupts = 0;
  const signalJob = (signal: NodeJS.Signals): void => {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, signal);
      } catch {
        // already gone
      }
    }
  };
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      log(
        '\ninterrupt: every rank finishes the current step, then rank 0 saves a resumable checkpoint (Ctrl-C again to stop now)',
      );
      signalJob('SIGUSR2');
    } else {
      signalJob('SIGTERM');
    }
  };
  const onSigterm = (): void => signalJob('SIGTERM');
  const onExit = (): void => signalJob('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.on('exit', onExit);

  const relay = (stream: NodeJS.ReadableStream, out: NodeJS.WritableStream): Promise<void> =>
    new Promise((resolve) => {
      let banner: string[] | null = null;
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      lines.on('line', (line) => {
        if (banner !== null) {
          if (BANNER_RULE.test(line)) {
            const text = banner.join('\n');
            notices.push(text);
            if (debug || !RANK_REPORTED.some((re) => re.test(text))) out.write(`${text}\n`);
            banner = null;
          } else banner.push(line);
          return;
        }
        if (BANNER_RULE.test(line)) banner = [];
        else if (!debug && NOISE.some((re) => re.test(line))) return;
        else if (/^ssh: /.test(line)) sshLines.push(line.trim());
        else out.write(`${line}\n`);
      });
      lines.on('close', () => {
        if (banner !== null) out.write(`${banner.join('\n')}\n`);
        resolve();
      });
    });

  try {
    const [code] = await Promise.all([
      new Promise<number>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (status, signal) => resolve(status ?? (signal ? 128 : 1)));
      }),
      relay(child.stdout, process.stdout),
      relay(child.stderr, process.stderr),
    ]);
    if (code === 0) return 0;
    if (interrupts > 0) return 130;
    const summary = summarizeFailure(notices, sshLines);
    if (summary) log(`lape: ${summary}`);
    return code;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.off('exit', onExit);
  }
}
