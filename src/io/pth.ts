/**
 * PyTorch checkpoints (`.pth`, `.pt`) in the zip format `torch.save` writes since PyTorch 1.6.
 *
 * The archive holds `<name>/data.pkl` (the pickled object, tensors as persistent ids), one record
 * `<name>/data/<key>` per storage with its raw little-endian bytes, and `<name>/version`. Records are
 * stored uncompressed and each record's data starts at a multiple of 64 bytes (padding goes into an
 * extra field), which is what lets PyTorch map storages straight from the file.
 *
 * The zip container is handled here directly rather than through a general zip library, for three
 * reasons: the writer must control the alignment padding, the reader reads records one at a time from
 * the file (a checkpoint can be gigabytes), and every structural problem must become a CheckpointError.
 */

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import * as zlib from 'node:zlib';

import { type ByteSink, writeFileAtomic } from './atomic.js';
import { CheckpointError, withCheckpointErrors } from './errors.js';
import {
  DTYPE_SIZE,
  type HostTensor,
  type StateDict,
  byteSwapInPlace,
  isHostTensor,
  tensorBytes,
} from './host_tensor.js';
import { ReadBudget, type ReadLimits } from './limits.js';
import { type PyValue, pickle, unpickle } from './pickle.js';
import { quote } from './sanitize.js';

// ---------------------------------------------------------------------------------------------------
// CRC-32 (zip's checksum)

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32 in plain JS (polynomial 0xEDB88320), for Node versions before zlib.crc32 (20.15). */
export function crc32Portable(bytes: Uint8Array, crc = 0): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 of `bytes`, continuing from `crc` (0 to start): zlib's native one when Node has it. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  return typeof zlib.crc32 === 'function' ? zlib.crc32(bytes, crc) : crc32Portable(bytes, crc);
}

// ---------------------------------------------------------------------------------------------------
// Zip reading

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;
/** Sizes and offsets from this value on need zip64 fields (the 32-bit field then holds U32_MAX). */
const ZIP64_FROM = U32_MAX;

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** Reads records of a zip file on demand through a file descriptor. */
class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  /** Where the central directory starts: every record's data must end before it. */
  private readonly dataEnd: number;

  constructor(
    private readonly file: string,
    private readonly fd: number,
    private readonly fileSize: number,
    private readonly budget: ReadBudget,
  ) {
    const { cdOffset, cdSize, count } = this.findCentralDirectory();
    this.dataEnd = cdOffset;
    const cd = this.read(cdOffset, cdSize);
    const view = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || view.getUint32(p, true) !== SIG_CENTRAL) {
        this.corrupt('bad central directory entry');
      }
      const nameLen = view.getUint16(p + 28, true);
      const extraLen = view.getUint16(p + 30, true);
      const commentLen = view.getUint16(p + 32, true);
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) {
        this.corrupt('central directory entry overruns');
      }
      const entry: ZipEntry = {
        name: new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen)),
        flags: view.getUint16(p + 8, true),
        method: view.getUint16(p + 10, true),
        crc32: view.getUint32(p + 16, true),
        compressedSize: view.getUint32(p + 20, true),
        size: view.getUint32(p + 24, true),
        localHeaderOffset: view.getUint32(p + 42, true),
      };
      this.applyZip64Extra(entry, cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen));
      this.entries.set(entry.name, entry);
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  private corrupt(problem: string): never {
    throw new CheckpointError(this.file, `corrupt zip archive: ${problem}`);
  }

  /** Reads `length` bytes at `position` into a fresh (so suitably aligned) buffer. */
  read(position: number, length: number): Uint8Array {
    if (position < 0 || length < 0 || position + length > this.fileSize) {
      throw new CheckpointError(
        this.file,
        `file is truncated or corrupt (needs bytes ${position}..${position + length}, file has ${this.fileSize})`,
      );
    }
    const out = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const n = readSync(this.fd, out, done, length - done, position + done);
      if (n === 0) throw new CheckpointError(this.file, 'file shrank while being read');
      done += n;
    }
    return out;
  }

  private findCentralDirectory(): { cdOffset: number; cdSize: number; count: number } {
    // The end record is 22 bytes plus a comment of up to 65535 bytes, at the very end of the file.
    const tailLen = Math.min(this.fileSize, 22 + 0xffff);
    const tailStart = this.fileSize - tailLen;
    const tail = this.read(tailStart, tailLen);
    const view = new DataView(tail.buffer);
    let at = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (view.getUint32(i, true) === SIG_EOCD && i + 22 + view.getUint16(i + 20, true) === tailLen) {
        at = i;
        break;
      }
    }
    if (at < 0) {
      throw new CheckpointError(
        this.file,
        'file is truncated or not a zip archive (no end-of-central-directory record)',
      );
    }
    let count = view.getUint16(at + 10, true);
    let cdSize = view.getUint32(at + 12, true);
    let cdOffset = view.getUint32(at + 16, true);
    const eocdPos = tailStart + at;
    // Zip64: a locator just before the end record points at the 64-bit end record (torch always writes one).
    if (at >= 20 && view.getUint32(at - 20, true) === SIG_ZIP64_LOCATOR) {
      const z64Offset = Number(view.getBigUint64(at - 20 + 8, true));
      const rec = this.read(z64Offset, 56);
      const z = new DataView(rec.buffer);
      if (z.getUint32(0, true) !== SIG_ZIP64_EOCD) this.corrupt('bad zip64 end record');
      count = Number(z.getBigUint64(32, true));
      cdSize = Number(z.getBigUint64(40, true));
      cdOffset = Number(z.getBigUint64(48, true));
    }
    if (cdOffset + cdSize > eocdPos) this.corrupt('central directory lies outside the file');
    // Each central entry takes at least 46 bytes, which bounds any claimed count.
    if (count * 46 > cdSize) this.corrupt(`central directory too small for ${count} entries`);
    return { cdOffset, cdSize, count };
  }

  /** Sizes and offsets of 0xFFFFFFFF mean "see the zip64 extra field", which lists them in this order. */
  private applyZip64Extra(entry: ZipEntry, extra: Uint8Array): void {
    const fields = (['size', 'compressedSize', 'localHeaderOffset'] as const).filter(
      (f) => entry[f] === U32_MAX,
    );
    if (fields.length === 0) return;
    const view = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
    for (let p = 0; p + 4 <= extra.length;) {
      const id = view.getUint16(p, true);
      const len = view.getUint16(p + 2, true);
      if (id === 0x0001) {
        if (len < 8 * fields.length || p + 4 + len > extra.length) break;
        fields.forEach((f, i) => (entry[f] = Number(view.getBigUint64(p + 4 + 8 * i, true))));
        return;
      }
      p += 4 + len;
    }
    this.corrupt(`record ${quote(entry.name)} lacks its zip64 sizes`);
  }

  /** The (decompressed, checksum-verified) content of a record. */
  content(entry: ZipEntry): Uint8Array {
    if (entry.flags & 1) throw new CheckpointError(this.file, `record ${quote(entry.name)} is encrypted`);
    const header = this.read(entry.localHeaderOffset, 30);
    const h = new DataView(header.buffer);
    const nameLen = h.getUint16(26, true);
    // The local header repeats the name and method (its sizes and CRC may be zero: torch writes them
    // after the data), so a mismatch there means the header is damaged or the offset wrong.
    const localName = this.read(entry.localHeaderOffset + 30, nameLen);
    if (
      h.getUint32(0, true) !== SIG_LOCAL ||
      h.getUint16(8, true) !== entry.method ||
      new TextDecoder().decode(localName) !== entry.name
    ) {
      this.corrupt(`bad local header for record ${quote(entry.name)}`);
    }
    const dataStart = entry.localHeaderOffset + 30 + nameLen + h.getUint16(28, true);
    if (dataStart + entry.compressedSize > this.dataEnd) {
      throw new CheckpointError(
        this.file,
        `record ${quote(entry.name)} extends past the end of the data (file truncated?)`,
      );
    }
    const what = `record ${quote(entry.name)}`;
    this.budget.allocate(entry.compressedSize, what);
    if (entry.method === 8) this.budget.inflate(entry.size, what);
    let data = this.read(dataStart, entry.compressedSize);
    if (entry.method === 8) {
      // Torch never compresses, but a checkpoint re-zipped by another tool may be deflated.
      try {
        const out = zlib.inflateRawSync(data, { maxOutputLength: Math.max(entry.size, 1) });
        data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      } catch (err) {
        throw new CheckpointError(this.file, `record ${quote(entry.name)} does not decompress`, {
          cause: err,
        });
      }
    } else if (entry.method !== 0) {
      throw new CheckpointError(
        this.file,
        `record ${quote(entry.name)} uses zip compression method ${entry.method}`,
      );
    }
    if (data.length !== entry.size || crc32(data) !== entry.crc32) {
      throw new CheckpointError(
        this.file,
        `record ${quote(entry.name)} is corrupt (size or CRC-32 mismatch)`,
      );
    }
    return data;
  }
}

/** The first bytes of a file, to tell a zip from the formats that are not. */
function sniff(file: string, fd: number, size: number): void {
  const head = new Uint8Array(Math.min(size, 512));
  readSync(fd, head, 0, head.length, 0);
  if (size === 0) throw new CheckpointError(file, 'file is empty');
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return;
  // Before 1.6 torch.save wrote a bare pickle stream (protocol 2 header 0x80 0x02), and earlier a tar.
  const isTar = head.length >= 262 && new TextDecoder().decode(head.subarray(257, 262)) === 'ustar';
  if (head[0] === 0x80 || isTar) {
    throw new CheckpointError(
      file,
      'legacy PyTorch format (pre-1.6, _use_new_zipfile_serialization=False) is not supported; re-save it with torch.save',
    );
  }
  throw new CheckpointError(file, 'not a PyTorch checkpoint (the file is not a zip archive)');
}

// ---------------------------------------------------------------------------------------------------
// Reading checkpoints

export interface ReadPthOptions {
  /** Resource limits of this read (see limits.ts); default: the current default limits. */
  limits?: Partial<ReadLimits>;
}

/**
 * Loads a `torch.save` checkpoint as a PyValue: dicts are Maps, tensors HostTensors (dense and
 * contiguous, so views, offsets and shared storages all come out as plain tensors; identical views of
 * one storage come out as one tensor). Nothing in the file is executed; see pickle.ts for what is
 * accepted, limits.ts for the memory it may take. Throws CheckpointError for any problem.
 */
export function readPth(path: string, options: ReadPthOptions = {}): PyValue {
  return withCheckpointErrors(path, 'cannot read checkpoint', () => {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      sniff(path, fd, size);
      const budget = new ReadBudget(path, options.limits, size);
      const zip = new ZipReader(path, fd, size, budget);
      const names = [...zip.entries.keys()];
      // torch names the top folder after the file (or 'archive'); any name is fine.
      const pkl = names.find((n) => /^[^/]+\/data\.pkl$/.test(n));
      if (pkl === undefined) {
        const isTorchScript = names.some((n) => /^[^/]+\/(constants\.pkl|code\/)/.test(n));
        throw new CheckpointError(
          path,
          isTorchScript
            ? 'this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint'
            : 'zip archive has no data.pkl record, so it is not a torch.save checkpoint',
        );
      }
      const prefix = pkl.slice(0, -'data.pkl'.length);
      const byteorderEntry = zip.entries.get(`${prefix}byteorder`);
      if (byteorderEntry !== undefined && byteorderEntry.size > 16) {
        throw new CheckpointError(
          path,
          `byteorder record of ${byteorderEntry.size} bytes (expected 'little' or 'big')`,
        );
      }
      const byteorder = byteorderEntry
        ? new TextDecoder().decode(zip.content(byteorderEntry)).trim()
        : 'little';
      if (byteorder !== 'little' && byteorder !== 'big') {
        throw new CheckpointError(path, `unknown byteorder record ${quote(byteorder, 20)}`);
      }
      return unpickle(zip.content(zip.entries.get(pkl) as ZipEntry), {
        file: path,
        budget,
        loadStorage: ({ key, dtype }) => {
          const name = `${prefix}data/${key}`;
          const entry = zip.entries.get(name);
          if (!entry) throw new CheckpointError(path, `storage record ${quote(name)} is missing`);
          const bytes = zip.content(entry);
          if (byteorder === 'big') byteSwapInPlace(bytes, DTYPE_SIZE[dtype]);
          return bytes;
        },
      });
    } finally {
      closeSync(fd);
    }
  });
}

export interface ReadStateDictOptions extends ReadPthOptions {
  /** Take the weights from this top-level key instead of searching (e.g. `'model_ema'`). */
  key?: string;
}

/** Up to eight keys for a message, quoted, then how many more there are. */
function describeKeys(keys: readonly string[]): string {
  if (keys.length === 0) return 'none';
  const max = keys.length > 8 ? 5 : 8;
  const shown = keys.slice(0, max).map((k) => quote(k, 40));
  return keys.length > max ? `${shown.join(', ')} and ${keys.length - max} more` : shown.join(', ');
}

/**
 * Loads a checkpoint and finds its model weights: the checkpoint itself when it is a dict of tensors
 * (a bare `model.state_dict()`), else its `'model'` entry (the DeiT/LaPE training checkpoint layout,
 * which may also hold `'model_ema'`, `'optimizer'`, `'args'` ...), else `'state_dict'`, else
 * `'model_ema'`. `raw` is the whole loaded checkpoint; `source` says where the weights were found:
 * `'top-level'` or the key.
 */
export function readStateDict(
  path: string,
  options: ReadStateDictOptions = {},
): { stateDict: StateDict; raw: PyValue; source: string } {
  const raw = readPth(path, options);
  const asStateDict = (v: PyValue | undefined): StateDict | null => {
    if (!(v instanceof Map)) return null;
    const out: StateDict = new Map();
    for (const [k, t] of v) {
      if (typeof k !== 'string' || !isHostTensor(t)) return null;
      out.set(k, t);
    }
    return out;
  };
  const topKeys = raw instanceof Map ? [...raw.keys()].map(String) : [];
  if (options.key !== undefined) {
    const found = raw instanceof Map ? asStateDict(raw.get(options.key)) : null;
    if (!found) {
      throw new CheckpointError(
        path,
        `no dict of tensors under key ${quote(options.key)} (top-level keys: ${describeKeys(topKeys)})`,
      );
    }
    return { stateDict: found, raw, source: options.key };
  }
  const top = asStateDict(raw);
  if (top) return { stateDict: top, raw, source: 'top-level' };
  if (raw instanceof Map) {
    for (const key of ['model', 'state_dict', 'model_ema'] as const) {
      const found = asStateDict(raw.get(key));
      if (found) return { stateDict: found, raw, source: key };
    }
  }
  throw new CheckpointError(
    path,
    raw instanceof Map
      ? `no model weights found: expected a dict of tensors or a 'model' entry (top-level keys: ${describeKeys(topKeys)})`
      : 'no model weights found: the checkpoint is not a dict',
  );
}

// ---------------------------------------------------------------------------------------------------
// Writing checkpoints

/** Storage data starts at multiples of this, as in PyTorch (its kFieldAlignment). */
const ALIGNMENT = 64;
/** Top folder of the archive: what torch.save uses when writing to a buffer; any name loads. */
const ARCHIVE = 'archive';

interface ZipRecord {
  name: string;
  data: Uint8Array;
}

/**
 * Saves a value as `torch.save` would, loadable with `torch.load` (and with `weights_only=True` when it
 * holds only dicts, lists, tuples, strings, ints, bools, None and tensors). Each distinct tensor object
 * gets its own storage; passing the same object twice stores it once, as torch does for shared tensors.
 * The write is atomic (temporary file, then rename).
 */
export function writePth(path: string, value: PyValue): void {
  const tensors: HostTensor[] = [];
  const keys = new Map<HostTensor, string>();
  const pkl = pickle(value, {
    file: path,
    assignStorage: (t) => {
      let key = keys.get(t);
      if (key === undefined) {
        key = String(tensors.length);
        keys.set(t, key);
        tensors.push(t);
      }
      return { key };
    },
  });
  const records: ZipRecord[] = [
    { name: `${ARCHIVE}/data.pkl`, data: pkl },
    ...tensors.map((t, i) => ({ name: `${ARCHIVE}/data/${i}`, data: tensorBytes(t) })),
    { name: `${ARCHIVE}/version`, data: new TextEncoder().encode('3\n') },
    { name: `${ARCHIVE}/byteorder`, data: new TextEncoder().encode('little') },
  ];
  writeFileAtomic(path, (sink) => writeZip(sink, records));
}

/** Little-endian field writer for zip headers. */
class Fields {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private p = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u16(v: number): this {
    this.view.setUint16(this.p, v, true);
    this.p += 2;
    return this;
  }
  u32(v: number): this {
    this.view.setUint32(this.p, v, true);
    this.p += 4;
    return this;
  }
  u64(v: number): this {
    this.view.setBigUint64(this.p, BigInt(v), true);
    this.p += 8;
    return this;
  }
  raw(b: Uint8Array): this {
    this.bytes.set(b, this.p);
    this.p += b.length;
    return this;
  }
}

/** DOS date of 1980-01-01 and time 00:00: fixed, so the same content gives the same file. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/**
 * Writes an uncompressed zip with each record's data aligned to ALIGNMENT, through `sink`. Sizes are
 * known up front, so local headers carry them (no data descriptors). Zip64 fields are added where a
 * size or offset needs them, and the zip64 end record is always written, as PyTorch's writer does.
 */
function writeZip(sink: ByteSink, records: readonly ZipRecord[]): void {
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const { name, data } of records) {
    const nameBytes = new TextEncoder().encode(name);
    const crc = crc32(data);
    const big = data.length >= ZIP64_FROM;
    const zip64Local = big
      ? new Fields(20).u16(0x0001).u16(16).u64(data.length).u64(data.length).bytes
      : null;
    const headerLen = 30 + nameBytes.length + (zip64Local?.length ?? 0);
    // Pad with an extra field (id 'FB', like PyTorch) so the data starts on an aligned offset.
    let pad = (ALIGNMENT - ((offset + headerLen) % ALIGNMENT)) % ALIGNMENT;
    if (pad > 0 && pad < 4) pad += ALIGNMENT; // an extra field needs at least its 4-byte header
    const padField = pad > 0 ? new Fields(pad).u16(0x4246).u16(pad - 4).bytes : new Uint8Array(0);
    const extraLen = (zip64Local?.length ?? 0) + padField.length;
    const version = big || offset >= ZIP64_FROM ? 45 : 20;
    const local = new Fields(30 + nameBytes.length + extraLen)
      .u32(SIG_LOCAL)
      .u16(version)
      .u16(0) // flags
      .u16(0) // method: stored
      .u16(0) // time
      .u16(DOS_DATE)
      .u32(crc)
      .u32(big ? U32_MAX : data.length)
      .u32(big ? U32_MAX : data.length)
      .u16(nameBytes.length)
      .u16(extraLen)
      .raw(nameBytes)
      .raw(zip64Local ?? new Uint8Array(0))
      .raw(padField);
    sink.write(local.bytes);
    sink.write(data);

    // Central directory entry; its zip64 extra lists only the overflowing fields, in the fixed order.
    const z64: number[] = [];
    if (big) z64.push(data.length, data.length);
    if (offset >= ZIP64_FROM) z64.push(offset);
    const cdExtra = z64.length ? new Fields(4 + 8 * z64.length).u16(0x0001).u16(8 * z64.length) : null;
    for (const v of z64) cdExtra?.u64(v);
    const cdExtraBytes = cdExtra?.bytes ?? new Uint8Array(0);
    central.push(
      new Fields(46 + nameBytes.length + cdExtraBytes.length)
        .u32(SIG_CENTRAL)
        .u16(version) // made by
        .u16(version) // needed
        .u16(0)
        .u16(0)
        .u16(0)
        .u16(DOS_DATE)
        .u32(crc)
        .u32(big ? U32_MAX : data.length)
        .u32(big ? U32_MAX : data.length)
        .u16(nameBytes.length)
        .u16(cdExtraBytes.length)
        .u16(0) // comment length
        .u16(0) // disk number
        .u16(0) // internal attributes
        .u32(0) // external attributes
        .u32(offset >= ZIP64_FROM ? U32_MAX : offset)
        .raw(nameBytes)
        .raw(cdExtraBytes).bytes,
    );
    offset += local.bytes.length + data.length;
  }
  const cdOffset = offset;
  let cdSize = 0;
  for (const c of central) {
    sink.write(c);
    cdSize += c.length;
  }
  const zip64EocdOffset = cdOffset + cdSize;
  sink.write(
    new Fields(56)
      .u32(SIG_ZIP64_EOCD)
      .u64(44) // size of the rest of this record
      .u16(45)
      .u16(45)
      .u32(0)
      .u32(0)
      .u64(records.length)
      .u64(records.length)
      .u64(cdSize)
      .u64(cdOffset).bytes,
  );
  sink.write(new Fields(20).u32(SIG_ZIP64_LOCATOR).u32(0).u64(zip64EocdOffset).u32(1).bytes);
  sink.write(
    new Fields(22)
      .u32(SIG_EOCD)
      .u16(0)
      .u16(0)
      .u16(Math.min(records.length, 0xffff))
      .u16(Math.min(records.length, 0xffff))
      .u32(Math.min(cdSize, U32_MAX))
      .u32(Math.min(cdOffset, U32_MAX))
      .u16(0).bytes,
  );
}
