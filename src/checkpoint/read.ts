/**
 * Opening a checkpoint however it is named: a local `.pth` (lape's, the reference's, a bare state
 * dict), a local `.safetensors` file, or an http(s) URL to either (downloaded into the cache once,
 * see download.ts). What comes back is the model's state dict, the whole loaded object, and what the
 * checkpoint records about its run (facts.ts).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { StateDict } from '../io/host_tensor.js';
import type { PyValue } from '../io/pickle.js';
import { readStateDict } from '../io/pth.js';
import { readSafetensors } from '../io/safetensors.js';
import { cachedDownload, isUrl, type DownloadOptions } from './download.js';
import { readFacts, type CheckpointFacts } from './facts.js';

export interface Checkpoint {
  /** What the user named: a path or a URL (for messages). */
  spec: string;
  /** The local file read (the cache file for a URL). */
  path: string;
  format: 'pth' | 'safetensors';
  /** The model weights. */
  stateDict: StateDict;
  /** Where in the file the weights were: 'model', 'state_dict', 'model_ema', 'top-level'. */
  weightsKey: string;
  /** The whole loaded object of a .pth; null for safetensors. */
  raw: PyValue | null;
  facts: CheckpointFacts;
}

/** Whether a file is safetensors: by extension, else by its header (8-byte length, then '{'). */
function isSafetensors(path: string): boolean {
  if (/\.safetensors$/i.test(path)) return true;
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(9);
    if (readSync(fd, head, 0, 9, 0) < 9) return false;
    return head[8] === 0x7b && head.readBigUInt64LE(0) < 100_000_000n && head[0] !== 0x50;
  } catch {
    return false;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Reads a local checkpoint file (.pth or .safetensors). */
export function readCheckpointFile(path: string, spec = path, opts: { key?: string } = {}): Checkpoint {
  if (isSafetensors(path)) {
    const { tensors, metadata } = readSafetensors(path);
    return {
      spec,
      path,
      format: 'safetensors',
      stateDict: tensors,
      weightsKey: 'top-level',
      raw: null,
      facts: readFacts(null, metadata),
    };
  }
  const { stateDict, raw, source } = readStateDict(path, opts);
  return { spec, path, format: 'pth', stateDict, weightsKey: source, raw, facts: readFacts(raw) };
}

export interface OpenOptions extends DownloadOptions {
  /** Take the weights from this top-level key of a .pth (e.g. 'model_ema'). */
  key?: string;
}

/** Opens a checkpoint named by a path or an http(s) URL. */
export async function openCheckpoint(spec: string, opts: OpenOptions = {}): Promise<Checkpoint> {
  const path = isUrl(spec) ? await cachedDownload(spec, opts) : spec;
  return readCheckpointFile(path, spec, { key: opts.key });
}
