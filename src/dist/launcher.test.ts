import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mpirunArgs, summarizeFailure } from './launcher.js';
import { defaultThreadsPerRank, applyRankThreads } from './threads.js';
import { mpiJobRank, mpiJobSize } from './world.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe('the mpirun launcher', () => {
  it('runs N ranks on this machine unbound, allowed to run as root when it is root', () => {
    const args = mpirunArgs({ nprocPerNode: 3, hosts: null, command: ['node', 'lape.js', 'train'] }, {});
    assert.deepEqual(args.slice(0, 6), ['-np', '3', '--host', 'localhost:3', '--bind-to', 'none']);
    assert.equal(args.includes('--allow-run-as-root'), isRoot);
    assert.deepEqual(args.slice(-3), ['node', 'lape.js', 'train']);
    // Open MPI's own variables already allow it.
    const allowed = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
    assert.ok(
      !mpirunArgs({ nprocPerNode: 2, hosts: null, command: [] }, allowed).includes('--allow-run-as-root'),
    );
  });

  it('spreads N ranks over each host, fails fast on ssh and forwards LAPE_/OMP_ variables', () => {
    const env = { LAPE_DEBUG: '1', OMP_NUM_THREADS: '4', HOME: '/root' };
    const args = mpirunArgs({ nprocPerNode: 2, hosts: ['a', 'b'], command: ['x'] }, env);
    assert.deepEqual(args.slice(0, 4), ['-np', '4', '--host', 'a:2,b:2']);
    assert.ok(args.join(' ').includes('--mca plm_rsh_args -o BatchMode=yes -o ConnectTimeout=10'));
    assert.ok(args.join(' ').includes('-x LAPE_DEBUG -x OMP_NUM_THREADS'));
    assert.ok(!args.includes('HOME'));
  });

  it("turns mpirun's notices into one line naming the rank or host", () => {
    const died = summarizeFailure(
      ['mpirun noticed that process rank 1 with PID 0 on node vm exited on signal 9 (Killed).'],
      [],
    );
    assert.equal(died, 'rank 1 on vm died (signal 9, Killed); mpirun stopped the other ranks');
    const unreachable = summarizeFailure(
      ['ORTE was unable to reliably start one or more daemons.\nThis usually is caused by:'],
      ['ssh: Could not resolve hostname b: Name or service not known'],
    );
    assert.match(
      unreachable ?? '',
      /^could not start ranks on every host \(ssh: Could not resolve hostname b/,
    );
    assert.equal(summarizeFailure(['MPI_ABORT was invoked on rank 0'], []), null);
  });
});

describe('ranks and threads', () => {
  it('shares the cores among the ranks on a machine, or uses the cores MPI bound a rank to', () => {
    assert.equal(defaultThreadsPerRank(2, 16, 16), 8);
    assert.equal(defaultThreadsPerRank(3, 16, 16), 5);
    assert.equal(defaultThreadsPerRank(4, 2, 2), 1);
    assert.equal(defaultThreadsPerRank(2, 16, 4), 4); // bound to 4 cores
  });

  it('a --threads flag or a thread variable wins, else the default per rank is applied', () => {
    const applied: number[] = [];
    const apply = (n: number): void => void applied.push(n);
    assert.deepEqual(applyRankThreads(2, 6, {}, apply), { threads: 6, from: 'flag' });
    assert.deepEqual(applyRankThreads(2, undefined, { OMP_NUM_THREADS: '3' }, apply), {
      threads: 3,
      from: 'environment',
    });
    assert.deepEqual(applyRankThreads(2, undefined, { LAPE_NUM_THREADS: '5' }, apply), {
      threads: 5,
      from: 'environment',
    });
    const r = applyRankThreads(1, undefined, {}, apply);
    assert.equal(r.from, 'default');
    assert.deepEqual(applied, [6, r.threads]);
  });

  it('recognizes an MPI job from the launchers environment', () => {
    assert.equal(mpiJobSize({}), null);
    assert.equal(mpiJobSize({ OMPI_COMM_WORLD_SIZE: '4' }), 4);
    assert.equal(mpiJobSize({ SLURM_STEP_NUM_TASKS: '8' }), 8);
    assert.equal(mpiJobRank({ OMPI_COMM_WORLD_RANK: '2' }), 2);
    assert.equal(mpiJobRank({}), null);
  });
});
