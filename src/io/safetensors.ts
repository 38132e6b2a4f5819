/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON mapping each tensor name to `{dtype, shape, data_offsets: [begin, end]}`
 * (offsets relative to the data that follows the header) plus an optional `__metadata__` string map,
 * then the tensors' raw little-endian bytes. Nothing in it is executable, and the header is validated
 * the way the reference implementation does: known dtypes, sizes that match the shapes, and data
 * offsets that cover the data exactly, without holes or overlaps.
 */

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

import { writeFileAtomic } from './atomic.js';
import { CheckpointError, withCheckpointErrors } from './errors.js';
import {
  DTYPE_SIZE,
  type HostDType,
  type HostTensor,
  type StateDict,
  emptyTensor,
  isHostTensor,
  numelOf,
  tensorBytes,
} from './host_tensor.js';
import { ReadBudget, type ReadLimits, formatBytes } from './limits.js';
import { escapeText, quote } from './sanitize.js';

const DTYPE_BY_CODE: ReadonlyMap<string, HostDType> = new Map([
  ['F32', 'float32'],
  ['F64', 'float64'],
  ['F16', 'float16'],
  ['BF16', 'bfloat16'],
  ['I64', 'int64'],
  ['I32', 'int32'],
  ['I16', 'int16'],
  ['I8', 'int8'],
  ['U8', 'uint8'],
  ['BOOL', 'bool'],
]);

const CODE_BY_DTYPE: Readonly<Record<HostDType, string>> = {
  float32: 'F32',
  float64: 'F64',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

/**
 * The reference implementation refuses headers above 100 MB. lape stops at 16 MiB, before allocating:
 * a model with thousands of tensors has a header of a few hundred KiB, and parsing a 100 MB header of
 * tiny entries would take gigabytes.
 */
const MAX_HEADER = 16 * 1024 * 1024;

interface HeaderEntry {
  name: string;
  dtype: HostDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface ReadSafetensorsOptions {
  /** Resource limits of this read (see limits.ts); default: the current default limits. */
  limits?: Partial<ReadLimits>;
}

/** Reads a .safetensors file. Tensors come in the order of their data in the file. */
export function readSafetensors(
  path: string,
  options: ReadSafetensorsOptions = {},
): { tensors: StateDict; metadata: Record<string, string> } {
  return withCheckpointErrors(path, 'cannot read safetensors file', () => {
    const fd = openSync(path, 'r');
    try {
      const fileSize = fstatSync(fd).size;
      const budget = new ReadBudget(path, options.limits, fileSize);
      const read = (position: number, into: Uint8Array): void => {
        for (let done = 0; done < into.byteLength;) {
          const n = readSync(fd, into, done, into.byteLength - done, position + done);
          if (n === 0) throw new CheckpointError(path, 'file shrank while being read');
          done += n;
        }
      };
      if (fileSize < 8) {
        throw new CheckpointError(path, 'file is truncated (shorter than the 8-byte header length)');
      }
      const lenBytes = new Uint8Array(8);
      read(0, lenBytes);
      const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
      if (headerLen > BigInt(fileSize - 8)) {
        throw new CheckpointError(
          path,
          `header length ${headerLen} exceeds the file size ${fileSize} (truncated file, or not safetensors)`,
        );
      }
      if (headerLen > BigInt(MAX_HEADER)) {
        throw new CheckpointError(
          path,
          `header of ${formatBytes(Number(headerLen))} is larger than the ${formatBytes(MAX_HEADER)} lape reads`,
        );
      }
      budget.allocate(Number(headerLen), 'the header');
      const header = new Uint8Array(Number(headerLen));
      read(8, header);
      const dataStart = 8 + header.length;
      const { entries, metadata } = parseHeader(path, header, fileSize - dataStart, budget);
      const tensors: StateDict = new Map();
      for (const e of entries) {
        budget.allocate(e.end - e.begin, `tensor ${quote(e.name)}`);
        const t = emptyTensor(e.dtype, e.shape) as HostTensor;
        read(dataStart + e.begin, tensorBytes(t));
        tensors.set(e.name, t);
      }
      return { tensors, metadata };
    } finally {
      closeSync(fd);
    }
  });
}

function parseHeader(
  path: string,
  header: Uint8Array,
  dataLength: number,
  budget: ReadBudget,
): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  function fail(problem: string): never {
    throw new CheckpointError(path, `invalid safetensors header: ${problem}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(header));
  } catch (err) {
    throw new CheckpointError(
      path,
      `invalid safetensors header: not valid UTF-8 JSON (${escapeText((err as Error).message, 160)})`,
      {
        cause: err,
      },
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('not a JSON object');
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const entries: HeaderEntry[] = [];
  for (const [name, raw] of Object.entries(json) as [string, unknown][]) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        fail('__metadata__ is not an object');
      }
      for (const [k, v] of Object.entries(raw) as [string, unknown][]) {
        if (typeof v !== 'string') fail(`__metadata__ value for ${quote(k)} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    budget.objectsCreated(1, 'safetensors header');
    if (typeof raw !== 'object' || raw === null) fail(`entry ${quote(name)} is not an object`);
    const {
      dtype: code,
      shape,
      data_offsets: offsets,
    } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof code !== 'string') fail(`tensor ${quote(name)} has no dtype`);
    const dtype = DTYPE_BY_CODE.get(code);
    if (dtype === undefined) {
      throw new CheckpointError(
        path,
        `tensor ${quote(name)} has dtype ${quote(code, 80)}, which lape does not support`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor ${quote(name)} has an invalid shape`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(`tensor ${quote(name)} has invalid data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    let numel = 0;
    try {
      numel = numelOf(shape as number[]);
    } catch (err) {
      fail(`tensor ${quote(name)}: ${(err as Error).message}`);
    }
    if (end - begin !== numel * DTYPE_SIZE[dtype]) {
      fail(
        `tensor ${quote(name)} of shape [${shape}] and dtype ${code} needs ${numel * DTYPE_SIZE[dtype]} bytes, its offsets span ${end - begin}`,
      );
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // The data must be covered exactly: sorted by offset, each tensor starts where the previous ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.begin < at) fail(`tensors ${quote(entries[i - 1].name)} and ${quote(e.name)} overlap`);
    if (e.begin > at) fail(`data bytes ${at}..${e.begin} belong to no tensor`);
    at = e.end;
  }
  if (at > dataLength) {
    throw new CheckpointError(
      path,
      `file is truncated: the tensors need ${at} bytes of data, the file has ${dataLength}`,
    );
  }
  if (at < dataLength) fail(`${dataLength - at} bytes of data after the last tensor belong to no tensor`);
  return { entries, metadata };
}

/**
 * Writes tensors (and optional string metadata) as .safetensors, atomically. Tensors are laid out by
 * decreasing element size, then by name (as the reference writer does), and the header is padded with
 * spaces to a multiple of 8 bytes, so every tensor's data is aligned to its element size.
 */
export function writeSafetensors(path: string, tensors: StateDict, metadata?: Record<string, string>): void {
  function fail(problem: string): never {
    throw new CheckpointError(path, problem);
  }
  const ordered = [...tensors].sort(
    ([na, a], [nb, b]) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype] || (na < nb ? -1 : na > nb ? 1 : 0),
  );
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`metadata value for '${k}' is not a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of ordered) {
    if (name === '__metadata__') fail(`'__metadata__' cannot be a tensor name`);
    if (!isHostTensor(t)) fail(`'${name}' is not a tensor`);
    let numel = 0;
    try {
      numel = numelOf(t.shape);
    } catch (err) {
      fail(`tensor '${name}': ${(err as Error).message}`);
    }
    if (t.data.length !== numel) fail(`tensor '${name}' of shape [${t.shape}] has ${t.data.length} elements`);
    const size = t.data.byteLength;
    // Object.defineProperty keeps a tensor named e.g. '__proto__' an ordinary key.
    Object.defineProperty(header, name, {
      value: { dtype: CODE_BY_DTYPE[t.dtype], shape: t.shape, data_offsets: [offset, offset + size] },
      enumerable: true,
    });
    offset += size;
  }
  let json = JSON.stringify(header);
  const jsonLen = new TextEncoder().encode(json).length;
  json += ' '.repeat((8 - (jsonLen % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const lenBytes = new Uint8Array(8);
  new DataView(lenBytes.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  writeFileAtomic(path, (sink) => {
    sink.write(lenBytes);
    sink.write(headerBytes);
    for (const [, t] of ordered) sink.write(tensorBytes(t));
  });
}
