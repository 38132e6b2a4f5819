/**
 * numpy's `.npy` files (format versions 1, 2 and 3): the magic `\x93NUMPY`, a version, a header length,
 * a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded so the data
 * starts on a 64-byte boundary, then the raw elements in C order.
 *
 * Only plain numeric and bool dtypes are read (never `object` arrays, which are pickles). Big-endian
 * data is converted on reading. Fortran-ordered arrays are refused rather than silently transposed.
 */

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

import { writeFileAtomic } from './atomic.js';
import { CheckpointError, withCheckpointErrors } from './errors.js';
import {
  DTYPE_SIZE,
  type HostDType,
  type HostTensor,
  byteSwapInPlace,
  numelOf,
  tensorBytes,
  tensorFromBytes,
} from './host_tensor.js';
import { ReadBudget, type ReadLimits, formatBytes } from './limits.js';
import { quote } from './sanitize.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** numpy type codes (kind + size, without the byte-order character) to dtypes. */
const DTYPE_BY_CODE: ReadonlyMap<string, HostDType> = new Map([
  ['f2', 'float16'],
  ['f4', 'float32'],
  ['f8', 'float64'],
  ['i1', 'int8'],
  ['i2', 'int16'],
  ['i4', 'int32'],
  ['i8', 'int64'],
  ['u1', 'uint8'],
  ['b1', 'bool'],
]);

/** The descr numpy itself writes for each dtype; bfloat16 has none. */
const DESCR_BY_DTYPE: Readonly<Record<HostDType, string | null>> = {
  float16: '<f2',
  float32: '<f4',
  float64: '<f8',
  int8: '|i1',
  int16: '<i2',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  bool: '|b1',
  bfloat16: null,
};

export interface ReadNpyOptions {
  /** Resource limits of this read (see limits.ts); default: the current default limits. */
  limits?: Partial<ReadLimits>;
}

/** Reads a .npy file. */
export function readNpy(path: string, options: ReadNpyOptions = {}): HostTensor {
  return withCheckpointErrors(path, 'cannot read .npy file', () => {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      // The file's bytes, then the tensor copied out of them.
      new ReadBudget(path, options.limits, size).allocate(2 * size, 'the file and its tensor');
      const buf = new Uint8Array(size);
      for (let done = 0; done < size;) {
        const n = readSync(fd, buf, done, size - done, done);
        if (n === 0) throw new CheckpointError(path, 'file shrank while being read');
        done += n;
      }
      return parseNpy(buf, path);
    } finally {
      closeSync(fd);
    }
  });
}

/** numpy itself reads headers of at most 10,000 bytes by default; lape allows a little more. */
const MAX_HEADER = 1024 * 1024;

/** Writes a tensor as a .npy file (version 1 unless the header needs more), atomically. */
export function writeNpy(path: string, t: HostTensor): void {
  const bytes = encodeNpy(t, path);
  writeFileAtomic(path, (sink) => sink.write(bytes));
}

/** Parses the bytes of a .npy file; `file` names it in errors. */
export function parseNpy(buf: Uint8Array, file = '<npy buffer>'): HostTensor {
  function fail(problem: string): never {
    throw new CheckpointError(file, problem);
  }
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) fail('not a .npy file (bad magic)');
  const major = buf[6];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerStart: number;
  let headerLen: number;
  if (major === 1) {
    headerStart = 10;
    headerLen = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) fail('file is truncated');
    headerStart = 12;
    headerLen = view.getUint32(8, true);
  } else {
    fail(`unsupported .npy format version ${major}.${buf[7]}`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > buf.length) fail('file is truncated (inside the header)');
  if (headerLen > MAX_HEADER) {
    fail(`header of ${formatBytes(headerLen)} is larger than the ${formatBytes(MAX_HEADER)} lape reads`);
  }
  const headerBytes = buf.subarray(headerStart, dataStart);
  // Versions 1 and 2 store the header as latin-1, version 3 as UTF-8.
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);
  const header = parseHeaderLiteral(text, fail);
  const { descr, fortran_order: fortran, shape } = header;
  if (typeof descr !== 'string') {
    fail(
      `unsupported dtype ${quote(JSON.stringify(descr) ?? String(descr), 80)} (structured arrays are not supported)`,
    );
  }
  if (typeof fortran !== 'boolean') fail('header has no fortran_order');
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number')) fail('header has no valid shape');
  if (fortran) {
    fail('Fortran-ordered (column-major) arrays are not supported; save np.ascontiguousarray(a) instead');
  }
  const m = /^([<>|=])([a-zA-Z]\d+)$/.exec(descr);
  const dtype = m ? DTYPE_BY_CODE.get(m[2]) : undefined;
  if (!m || dtype === undefined) {
    fail(`dtype ${quote(descr, 40)} is not supported (float16/32/64, int8-64, uint8, bool are)`);
  }
  let numel = 0;
  try {
    numel = numelOf(shape as number[]);
  } catch (err) {
    fail((err as Error).message);
  }
  const need = numel * DTYPE_SIZE[dtype];
  const have = buf.length - dataStart;
  if (have < need) {
    fail(`file is truncated: shape [${shape}] of ${descr} needs ${need} data bytes, found ${have}`);
  }
  if (have > need) fail(`${have - need} unexpected bytes after the data of shape [${shape}]`);
  const t = tensorFromBytes(dtype, shape as number[], buf.subarray(dataStart));
  if (m[1] === '>') byteSwapInPlace(tensorBytes(t), DTYPE_SIZE[dtype]);
  return t;
}

/** Encodes a tensor as the bytes of a .npy file; `file` names it in errors. */
export function encodeNpy(t: HostTensor, file = '<npy buffer>'): Uint8Array {
  const descr = DESCR_BY_DTYPE[t.dtype];
  if (descr === null) {
    throw new CheckpointError(file, `${t.dtype} has no numpy dtype; convert it first (e.g. with toFloat32)`);
  }
  let numel = 0;
  try {
    numel = numelOf(t.shape);
  } catch (err) {
    throw new CheckpointError(file, (err as Error).message);
  }
  if (t.data.length !== numel) {
    throw new CheckpointError(file, `tensor of shape [${t.shape}] has ${t.data.length} elements`);
  }
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad with spaces and a final newline so that magic + version + length + header is a multiple of 64.
  const version = dict.length + 1 + 10 > 65535 ? 2 : 1;
  const prefix = version === 1 ? 10 : 12;
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const header = dict + ' '.repeat(total - prefix - dict.length - 1) + '\n';
  const out = new Uint8Array(total + t.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.set(tensorBytes(t), total);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The header: a Python literal of a dict with str keys and str / bool / int / tuple values.

type Literal = string | number | boolean | null | Literal[] | { [key: string]: Literal };

function parseHeaderLiteral(text: string, fail: (problem: string) => never): { [key: string]: Literal } {
  let i = 0;
  function bad(what: string): never {
    return fail(`malformed header (${what} at character ${i}): ${quote(text, 120)}`);
  }
  function skip(): void {
    while (i < text.length && /\s/.test(text[i])) i++;
  }
  function expect(c: string): void {
    skip();
    if (text[i] !== c) bad(`expected '${c}'`);
    i++;
  }
  function value(depth: number): Literal {
    if (depth > 8) bad('nesting too deep');
    skip();
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) bad('unterminated string');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const items: Literal[] = [];
      for (;;) {
        skip();
        if (text[i] === close) {
          i++;
          return items;
        }
        items.push(value(depth + 1));
        skip();
        if (text[i] === ',') i++;
        else if (text[i] !== close) bad(`expected ',' or '${close}'`);
      }
    }
    if (c === '{') {
      i++;
      const dict: { [key: string]: Literal } = Object.create(null) as { [key: string]: Literal };
      for (;;) {
        skip();
        if (text[i] === '}') {
          i++;
          return dict;
        }
        const k = value(depth + 1);
        if (typeof k !== 'string') bad('non-string key');
        expect(':');
        dict[k] = value(depth + 1);
        skip();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') bad("expected ',' or '}'");
      }
    }
    const word = /^(True|False|None|-?\d+L?)/.exec(text.slice(i, i + 32));
    if (!word) bad('unexpected token');
    i += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number(word[0].replace(/L$/, ''));
  }
  const result = value(0);
  skip();
  if (i !== text.length) bad('trailing text');
  if (typeof result !== 'object' || result === null || Array.isArray(result)) bad('header is not a dict');
  return result as { [key: string]: Literal };
}
