/**
 * The fuzz harness's child process: reads one file per request with lape's readers and reports what
 * happened, the message, the time and the peak memory of that read (VmHWM, reset before each case).
 * For a file that is accepted it also checks the result (see `checkAccepted`): a corrupted file that
 * still decodes must decode to what the file really says.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { CheckpointError } from '../../src/io/errors.js';
import {
  DTYPE_SIZE,
  type HostTensor,
  byteSwapInPlace,
  isHostTensor,
  tensorBytes,
} from '../../src/io/host_tensor.js';
import { readNpy } from '../../src/io/npy.js';
import { type PyValue, pickle, unpickle } from '../../src/io/pickle.js';
import { readPth } from '../../src/io/pth.js';
import { readSafetensors } from '../../src/io/safetensors.js';

export interface FuzzRequest {
  id: number;
  path: string;
  format: 'pth' | 'safetensors' | 'npy';
  /** The unmutated file, when an accepted result must equal what it decodes to. */
  sameAs: string | null;
}

export interface FuzzReply {
  id: number;
  outcome: 'accepted' | 'rejected' | 'crashed';
  /** The error message (rejected), the exception (crashed), or why an accepted result is wrong. */
  message: string;
  /** Set when an accepted file decoded to something it does not say. */
  wrong: string | null;
  peakRss: number;
  ms: number;
}

function vmHwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

type Decoded = PyValue | { tensors: Map<string, HostTensor>; metadata: Record<string, string> } | HostTensor;

function read(format: FuzzRequest['format'], path: string): Decoded {
  switch (format) {
    case 'pth':
      return readPth(path);
    case 'safetensors':
      return readSafetensors(path);
    case 'npy':
      return readNpy(path);
  }
}

/** Deep equality in which tensors compare by dtype, shape and bytes. */
function same(a: unknown, b: unknown): boolean {
  if (isHostTensor(a) || isHostTensor(b)) {
    return (
      isHostTensor(a) &&
      isHostTensor(b) &&
      a.dtype === b.dtype &&
      isDeepStrictEqual(a.shape, b.shape) &&
      Buffer.from(tensorBytes(a)).equals(Buffer.from(tensorBytes(b)))
    );
  }
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    const ka = [...a.keys()];
    const kb = [...b.keys()];
    return ka.every((k, i) => same(k, kb[i]) && same(a.get(k), b.get(kb[i])));
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    if (a instanceof Uint8Array) return Buffer.from(a).equals(Buffer.from(b as Uint8Array));
    const ea = Object.entries(a);
    const eb = Object.entries(b);
    return ea.length === eb.length && ea.every(([k, v], i) => k === eb[i][0] && same(v, eb[i][1]));
  }
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

const originals = new Map<string, Decoded>();

/**
 * What an accepted file must satisfy. Raw damage to a .pth (its records are checksummed): the value
 * is the original's. Any .pth: it writes and reads back to the same value. An .npy: the tensor's bytes
 * are the file's last bytes (byte-swapped for a big-endian dtype). A safetensors file: each tensor's
 * bytes are the file's bytes at the header's offsets, with the header's dtype and shape.
 */
function checkAccepted(req: FuzzRequest, value: Decoded): string | null {
  const file = readFileSync(req.path);
  if (req.format === 'pth') {
    if (req.sameAs !== null) {
      let original = originals.get(req.sameAs);
      if (original === undefined) {
        original = readPth(req.sameAs);
        originals.set(req.sameAs, original);
      }
      if (!same(value, original)) return 'decoded to a value other than the undamaged file';
    }
    const tensors: HostTensor[] = [];
    let written: Uint8Array;
    try {
      written = pickle(value as PyValue, {
        file: 'roundtrip',
        assignStorage: (t) => {
          tensors.push(t);
          return { key: String(tensors.length - 1) };
        },
      });
    } catch {
      return null; // something the writer does not write (an integer over 255 bytes): not a reading problem
    }
    const again = unpickle(written, {
      file: 'roundtrip',
      loadStorage: ({ key }) => tensorBytes(tensors[Number(key)]).slice(),
    });
    return same(again, value) ? null : 'does not survive writing and reading back';
  }
  if (req.format === 'npy') {
    const t = value as HostTensor;
    const expect = Uint8Array.from(file.subarray(file.length - t.data.byteLength));
    const header = new TextDecoder('latin1').decode(file.subarray(0, Math.min(file.length, 4096)));
    if (/'descr':\s*'>/.test(header)) byteSwapInPlace(expect, DTYPE_SIZE[t.dtype]);
    return Buffer.from(tensorBytes(t)).equals(Buffer.from(expect))
      ? null
      : 'tensor bytes differ from the file';
  }
  const { tensors } = value as { tensors: Map<string, HostTensor> };
  const n = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const codes: Record<string, string> = {
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
  for (const [name, t] of tensors) {
    const e = header[name];
    if (!e) return `tensor '${name}' is not in the header`;
    if (codes[t.dtype] !== e.dtype || !isDeepStrictEqual(t.shape, e.shape))
      return `tensor '${name}' dtype/shape`;
    const bytes = file.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]);
    if (!Buffer.from(tensorBytes(t)).equals(bytes)) return `tensor '${name}' bytes differ from the file`;
  }
  if (tensors.size !== Object.keys(header).filter((k) => k !== '__metadata__').length) return 'tensor count';
  return null;
}

function handle(req: FuzzRequest): FuzzReply {
  (globalThis as { gc?: () => void }).gc?.();
  writeFileSync('/proc/self/clear_refs', '5');
  const t0 = performance.now();
  let outcome: FuzzReply['outcome'];
  let message = '';
  let wrong: string | null = null;
  try {
    const value = read(req.format, req.path);
    outcome = 'accepted';
    wrong = checkAccepted(req, value);
  } catch (err) {
    if (err instanceof CheckpointError) {
      outcome = 'rejected';
      message = err.message;
      if (!message.startsWith(`${basename(req.path)}: `))
        wrong = 'the message does not start with the file name';
    } else {
      outcome = 'crashed';
      message = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
    }
  }
  return { id: req.id, outcome, message, wrong, peakRss: vmHwm(), ms: performance.now() - t0 };
}

process.on('message', (req: FuzzRequest) => {
  process.send?.(handle(req));
});
process.send?.({ ready: true });
