/**
 * ToTensor + Normalize: 8-bit HWC in, float CHW out, written straight into a batch buffer.
 *
 * A 1-channel image feeding a 3-channel model is repeated across channels here, at the very end: every
 * earlier op is channel-wise on grey data, so repeating late gives the same tensor for a third of the work.
 */
import type { Channels, ImageU8 } from '../image.js';

export interface Normalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** Per output channel, the 256 normalized values ((v / 255 - mean) / std) of each byte. */
export function normalizationTables(norm: Normalization, outChannels: Channels): Float32Array[] {
  const pick = (arr: readonly number[], c: number): number => (arr.length === 1 ? arr[0] : arr[c]);
  if (!(norm.mean.length === 1 || norm.mean.length === outChannels) || norm.std.length !== norm.mean.length) {
    throw new RangeError(`normalize: mean/std need 1 or ${outChannels} entries`);
  }
  return Array.from({ length: outChannels }, (_, c) => {
    const t = new Float32Array(256);
    const m = pick(norm.mean, c);
    const s = pick(norm.std, c);
    for (let v = 0; v < 256; v++) t[v] = (v / 255 - m) / s;
    return t;
  });
}

/** Writes `img` normalized as CHW into out[offset .. offset + outChannels*H*W). */
export function toTensorInto(
  img: ImageU8,
  tables: readonly Float32Array[],
  out: Float32Array,
  offset: number,
): void {
  const { data, height, width, channels } = img;
  const plane = height * width;
  const outChannels = tables.length;
  if (channels !== 1 && channels !== outChannels) {
    throw new RangeError(`toTensor: cannot map ${channels} channels to ${outChannels}`);
  }
  for (let c = 0; c < outChannels; c++) {
    const t = tables[c];
    const base = offset + c * plane;
    if (channels === 1) for (let p = 0; p < plane; p++) out[base + p] = t[data[p]];
    else for (let p = 0, i = c; p < plane; p++, i += channels) out[base + p] = t[data[i]];
  }
}
