/**
 * Mutations of valid files for the fuzz harness: byte-level damage (bit flips, interesting values,
 * truncation, insertion, deletion, duplication) anywhere in a file, and structure-aware damage that
 * gets past the outer checks: a .pth's pickle or storage record damaged and the archive re-zipped with
 * correct CRCs (so the pickle interpreter itself is fuzzed), a safetensors header's JSON edited, an
 * .npy header's dictionary edited. Everything is driven by a seeded generator, so a run is repeatable.
 */
import { unzipSync, zipSync } from 'fflate';

/** mulberry32: small, fast, seeded; enough for choosing mutations. */
export class FuzzRng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** Values that tend to break length and offset arithmetic. */
const INTERESTING_U32 = [
  0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe,
  0xffffffff,
];
const INTERESTING_U8 = [0, 1, 0x7f, 0x80, 0xfe, 0xff, 0x0a, 0x1b, 0x27, 0x2e];

export interface Mutation {
  bytes: Uint8Array;
  /** What was done, for the report. */
  what: string;
  /** Whether the mutation kept the file's checksummed content (raw damage only): then an accepted file must decode as the original did. */
  raw: boolean;
}

/** One byte-level mutation of `input`. */
export function mutateBytes(input: Uint8Array, rng: FuzzRng): { bytes: Uint8Array; what: string } {
  const b = input.slice();
  const at = (): number => rng.int(Math.max(1, b.length));
  switch (rng.int(8)) {
    case 0: {
      const n = 1 + rng.int(8);
      const where: number[] = [];
      for (let i = 0; i < n; i++) {
        const p = at();
        b[p] ^= 1 << rng.int(8);
        where.push(p);
      }
      return { bytes: b, what: `flipped bits at ${where.join(',')}` };
    }
    case 1: {
      const p = at();
      b[p] = rng.pick(INTERESTING_U8);
      return { bytes: b, what: `byte ${p} = ${b[p]}` };
    }
    case 2: {
      const p = rng.int(Math.max(1, b.length - 4));
      const v = rng.pick(INTERESTING_U32);
      new DataView(b.buffer).setUint32(p, v, rng.int(2) === 0);
      return { bytes: b, what: `u32 at ${p} = 0x${v.toString(16)}` };
    }
    case 3: {
      const p = rng.int(Math.max(1, b.length - 8));
      const v = rng.pick([0n, 1n << 31n, 1n << 32n, 1n << 40n, 1n << 62n, (1n << 64n) - 1n]);
      new DataView(b.buffer).setBigUint64(p, v, true);
      return { bytes: b, what: `u64 at ${p} = ${v}` };
    }
    case 4: {
      const n = rng.int(b.length);
      return { bytes: b.slice(0, n), what: `truncated to ${n}` };
    }
    case 5: {
      const p = at();
      const n = 1 + rng.int(16);
      const ins = Uint8Array.from({ length: n }, () => rng.int(256));
      const out = new Uint8Array(b.length + n);
      out.set(b.subarray(0, p));
      out.set(ins, p);
      out.set(b.subarray(p), p + n);
      return { bytes: out, what: `inserted ${n} bytes at ${p}` };
    }
    case 6: {
      const p = at();
      const n = Math.min(1 + rng.int(16), b.length - p);
      const out = new Uint8Array(b.length - n);
      out.set(b.subarray(0, p));
      out.set(b.subarray(p + n), p);
      return { bytes: out, what: `deleted ${n} bytes at ${p}` };
    }
    default: {
      const p = at();
      const n = 1 + rng.int(64);
      const chunk = b.slice(p, p + n);
      const times = 1 + rng.int(8);
      const parts = [b.subarray(0, p), ...Array.from({ length: times }, () => chunk), b.subarray(p)];
      const out = new Uint8Array(parts.reduce((s, x) => s + x.length, 0));
      let o = 0;
      for (const x of parts) {
        out.set(x, o);
        o += x.length;
      }
      return { bytes: out, what: `repeated ${chunk.length} bytes at ${p} ${times} times` };
    }
  }
}

/** A .pth with its pickle (or a storage record) damaged, re-zipped with correct CRCs. */
function mutatePth(input: Uint8Array, rng: FuzzRng): { bytes: Uint8Array; what: string } {
  const records = unzipSync(input);
  const names = Object.keys(records);
  const pkl = names.find((n) => n.endsWith('/data.pkl'));
  const storages = names.filter((n) => /\/data\/[^/]+$/.test(n));
  let target = pkl ?? rng.pick(names);
  if (storages.length > 0 && rng.int(5) === 0) target = rng.pick(storages);
  const m = mutateBytes(records[target], rng);
  const mutated: Record<string, Uint8Array> = { ...records, [target]: m.bytes };
  const zipped = zipSync(Object.fromEntries(Object.entries(mutated).map(([k, d]) => [k, [d, { level: 0 }]])));
  return { bytes: zipped, what: `${target}: ${m.what} (re-zipped)` };
}

/** A safetensors file with its header's JSON edited (a shape, an offset, a dtype, an extra entry). */
function mutateSafetensorsHeader(input: Uint8Array, rng: FuzzRng): { bytes: Uint8Array; what: string } {
  const n = Number(new DataView(input.buffer, input.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(input.subarray(8, 8 + n))) as Record<
    string,
    { dtype?: unknown; shape?: unknown; data_offsets?: unknown }
  >;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = rng.pick(names);
  const e = header[name];
  const big = rng.pick([0, 1, 2, 3, 1 << 20, 2 ** 31, 2 ** 40, 2 ** 53, -1]);
  let what: string;
  switch (rng.int(5)) {
    case 0:
      if (Array.isArray(e.shape) && e.shape.length > 0) e.shape[rng.int(e.shape.length)] = big;
      else e.shape = [big];
      what = `${name}.shape = ${JSON.stringify(e.shape)}`;
      break;
    case 1:
      if (Array.isArray(e.data_offsets)) e.data_offsets[rng.int(2)] = big;
      what = `${name}.data_offsets = ${JSON.stringify(e.data_offsets)}`;
      break;
    case 2:
      e.dtype = rng.pick(['F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'C64', '', 7]);
      what = `${name}.dtype = ${JSON.stringify(e.dtype)}`;
      break;
    case 3:
      header[`x${rng.int(100)}`] = { dtype: 'F32', shape: [big], data_offsets: [0, big] };
      what = 'extra entry';
      break;
    default:
      e.shape = Array.from({ length: rng.int(40) }, () => rng.int(4));
      what = `${name}.shape = ${JSON.stringify(e.shape)}`;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + (input.length - 8 - n));
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(input.subarray(8 + n), 8 + json.length);
  return { bytes: out, what: `header: ${what}` };
}

/** An .npy file with its header dictionary edited (the shape, the dtype, the order). */
function mutateNpyHeader(input: Uint8Array, rng: FuzzRng): { bytes: Uint8Array; what: string } {
  const major = input[6];
  const start = major === 1 ? 10 : 12;
  const len =
    major === 1
      ? input[8] | (input[9] << 8)
      : new DataView(input.buffer, input.byteOffset).getUint32(8, true);
  let text = new TextDecoder('latin1').decode(input.subarray(start, start + len));
  const edits: [RegExp, () => string][] = [
    [
      /'shape': \([^)]*\)/,
      () =>
        `'shape': (${Array.from({ length: rng.int(4) }, () => rng.pick([0, 1, 3, 2 ** 31, 2 ** 53, 10 ** 15])).join(', ')},)`,
    ],
    [
      /'descr': '[^']*'/,
      () => `'descr': '${rng.pick(['<f4', '>f4', '|u1', '<i8', '>i2', '<c8', '|O', '<U3', '<f2'])}'`,
    ],
    [/'fortran_order': \w+/, () => `'fortran_order': ${rng.pick(['True', 'False', '1', 'None'])}`],
  ];
  const [re, make] = rng.pick(edits);
  const replacement = make();
  text = text.replace(re, replacement);
  const header = new TextEncoder().encode(text); // latin1 subset: ASCII
  const out = new Uint8Array(start + header.length + (input.length - start - len));
  out.set(input.subarray(0, start));
  if (major === 1) {
    out[8] = header.length & 0xff;
    out[9] = header.length >> 8;
  } else new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, start);
  out.set(input.subarray(start + len), start + header.length);
  return { bytes: out, what: `header: ${replacement}` };
}

/** One mutation of a valid file of the given format. */
export function mutate(input: Uint8Array, format: 'pth' | 'safetensors' | 'npy', rng: FuzzRng): Mutation {
  // Half the cases damage raw bytes; the rest get past the outer checks first.
  if (rng.int(2) === 0) return { ...mutateBytes(input, rng), raw: true };
  try {
    switch (format) {
      case 'pth':
        return { ...mutatePth(input, rng), raw: false };
      case 'safetensors':
        return { ...mutateSafetensorsHeader(input, rng), raw: false };
      case 'npy':
        return { ...mutateNpyHeader(input, rng), raw: false };
    }
  } catch {
    return { ...mutateBytes(input, rng), raw: true };
  }
}
