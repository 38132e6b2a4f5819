/**
 * `result.json`, the record one finished run leaves in its folder. The summary is computed from these
 * files alone, so a study's tables can be rebuilt (or audited) from the run folders at any time.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { getBackend } from '../backend/registry.js';
import type { StudyJoin, StudyPe } from './config.js';

export const RESULT_FILE = 'result.json';

/** Where a run trained: enough to tell whether two studies' images/s are comparable. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memory_bytes: number;
  os: string;
  node: string;
  backend: string;
}

export function machineInfo(): MachineInfo {
  const cpuList = cpus();
  return {
    cpu: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    memory_bytes: totalmem(),
    os: `${platform()} ${release()}`,
    node: process.version,
    backend: getBackend().name,
  };
}

interface RunRecordBase {
  pe: StudyPe;
  join: StudyJoin;
  seed: number;
  /** Epochs completed (for a failed run: before it diverged). */
  epochs: number;
  /** Trainable parameters (null when a run failed before its first epoch was logged). */
  params: number | null;
  /** Training throughput over all its epochs: images trained / seconds training (null: no epoch). */
  images_per_s: number | null;
  /** Wall-clock seconds of the run, across resumes (setup and evaluation included). */
  wall_s: number;
  /** True when the run was continued from a checkpoint at least once. */
  resumed: boolean;
  finished_at: string;
  machine: MachineInfo;
}

export type RunRecord =
  | (RunRecordBase & {
      status: 'completed';
      /** Final top-1 / top-5 (percent) and loss on the validation split, after the last epoch. */
      acc1: number;
      acc5: number;
      loss: number;
      /** Validation images evaluated. */
      images: number;
      /** Best top-1 over the epochs (what best_checkpoint.pth holds). */
      max_acc1: number;
    })
  | (RunRecordBase & { status: 'failed'; error: string });

/** Writes result.json atomically: a crash mid-write must not leave a half file that looks finished. */
export function writeRunRecord(dir: string, record: RunRecord): void {
  const tmp = join(dir, `${RESULT_FILE}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(tmp, join(dir, RESULT_FILE));
}

function fail(file: string, msg: string): never {
  throw new Error(`${file}: ${msg} (delete the file to redo the run)`);
}

function num(file: string, o: Record<string, unknown>, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v))
    fail(file, `'${key}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function numOrNull(file: string, o: Record<string, unknown>, key: string): number | null {
  return o[key] === null ? null : num(file, o, key);
}

/** Reads a run's result.json, or null when the run has not finished; a malformed file is an error. */
export function readRunRecord(dir: string): RunRecord | null {
  const file = join(dir, RESULT_FILE);
  if (!existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return fail(file, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return fail(file, 'expected a JSON object');
  const o = raw as Record<string, unknown>;
  const machine = o.machine;
  if (typeof machine !== 'object' || machine === null) return fail(file, "'machine' must be an object");
  if (typeof o.pe !== 'string' || typeof o.join !== 'string')
    return fail(file, "'pe' and 'join' must be strings");
  const base: RunRecordBase = {
    pe: o.pe as StudyPe,
    join: o.join as StudyJoin,
    seed: num(file, o, 'seed'),
    epochs: num(file, o, 'epochs'),
    params: numOrNull(file, o, 'params'),
    images_per_s: numOrNull(file, o, 'images_per_s'),
    wall_s: num(file, o, 'wall_s'),
    resumed: o.resumed === true,
    finished_at: typeof o.finished_at === 'string' ? o.finished_at : '',
    machine: machine as MachineInfo,
  };
  switch (o.status) {
    case 'completed':
      return {
        ...base,
        status: 'completed',
        acc1: num(file, o, 'acc1'),
        acc5: num(file, o, 'acc5'),
        loss: num(file, o, 'loss'),
        images: num(file, o, 'images'),
        max_acc1: num(file, o, 'max_acc1'),
      };
    case 'failed':
      return { ...base, status: 'failed', error: typeof o.error === 'string' ? o.error : 'unknown error' };
    default:
      return fail(file, `'status' must be 'completed' or 'failed', got ${JSON.stringify(o.status)}`);
  }
}
