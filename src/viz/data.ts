/**
 * The data the visualiser consumes (produced by the model-inspection code), its validation, the
 * training-log parser, and the compact float encoding used inside the HTML reports.
 */
import { rpeBiasMatrix } from './rpe.js';

/** One transformer layer's PE similarity. */
export interface LayerSimilarity {
  /** Layer (block) index as in the state dict (`blocks.<index>`), 0-based. */
  index: number;
  /** P x P cosine similarity of the patch PEs (row-major, P = h*w, prefix tokens excluded). */
  similarity: Float32Array;
}

/** One attention head's 2-D relative position bias. */
export interface RpeHead {
  /** (2h-1) x (2w-1) bias table, row-major: row = dy + h - 1, col = dx + w - 1 (query minus key). */
  table: Float32Array;
  /**
   * P x P bias actually added to the attention logits (row = query token, column = key token).
   * Optional: when absent it is derived from `table` (exact for the `basic` RPE join; pass the
   * model's bias for the `LN` join, which normalises it).
   */
  tokenMap?: Float32Array;
}

export interface RpeLayer {
  /** Layer (block) index, 0-based, as `LayerSimilarity.index`. */
  layer: number;
  heads: RpeHead[];
}

/** One line of a DeiT-style `log.txt`: e.g. epoch, train_lr, train_loss, test_loss, test_acc1, test_acc5. */
export type LogEntry = Record<string, number>;

/** Everything one visualisation (PNG set and HTML report) is made of. */
export interface ReportData {
  title: string;
  /** Model name, e.g. `deit_tiny_patch16_224`. */
  model: string;
  /** Position-embedding type, e.g. `learnable`, `2D_sin`, `2D_RPE`. */
  pe: string;
  /** PE join method, e.g. `LaPE`, `basic`. */
  join: string;
  /** Patch grid; P = h * w. */
  grid: { h: number; w: number };
  /** Initially selected patch (row-major index into the grid, 0 <= token < P). */
  token: number;
  /** Per-layer similarities; may be empty for a pure-RPE model (pe `none`). */
  layers: LayerSimilarity[];
  /** P x P similarity of the raw position embedding, before any layer (the reference's PE_token_sim). */
  peSimilarity?: Float32Array;
  rpe?: RpeLayer[];
  log?: LogEntry[];
}

/** Throw a RangeError describing the first inconsistency of `data`, if any. */
export function validateReportData(data: ReportData): void {
  const { h, w } = data.grid;
  if (!Number.isInteger(h) || h <= 0 || !Number.isInteger(w) || w <= 0) {
    throw new RangeError(`invalid grid ${h}x${w}`);
  }
  const p = h * w;
  if (!Number.isInteger(data.token) || data.token < 0 || data.token >= p) {
    throw new RangeError(`token ${data.token} outside the ${h}x${w} grid`);
  }
  const seen = new Set<number>();
  for (const layer of data.layers) {
    if (!Number.isInteger(layer.index) || layer.index < 0)
      throw new RangeError(`invalid layer index ${layer.index}`);
    if (seen.has(layer.index)) throw new RangeError(`duplicate layer index ${layer.index}`);
    seen.add(layer.index);
    if (layer.similarity.length !== p * p) {
      throw new RangeError(
        `layer ${layer.index}: similarity has ${layer.similarity.length} values, expected P*P = ${p * p}`,
      );
    }
  }
  if (data.peSimilarity && data.peSimilarity.length !== p * p)
    throw new RangeError(`peSimilarity has ${data.peSimilarity.length} values, expected P*P = ${p * p}`);
  const tableSize = (2 * h - 1) * (2 * w - 1);
  const seenRpe = new Set<number>();
  for (const layer of data.rpe ?? []) {
    if (!Number.isInteger(layer.layer) || layer.layer < 0)
      throw new RangeError(`invalid RPE layer index ${layer.layer}`);
    if (seenRpe.has(layer.layer)) throw new RangeError(`duplicate RPE layer index ${layer.layer}`);
    seenRpe.add(layer.layer);
    layer.heads.forEach((head, i) => {
      if (head.table.length !== tableSize) {
        throw new RangeError(
          `RPE layer ${layer.layer} head ${i}: table has ${head.table.length} values, expected (2h-1)(2w-1) = ${tableSize}`,
        );
      }
      if (head.tokenMap && head.tokenMap.length !== p * p) {
        throw new RangeError(
          `RPE layer ${layer.layer} head ${i}: tokenMap has ${head.tokenMap.length} values, expected P*P = ${p * p}`,
        );
      }
    });
  }
}

/** The P x P bias of an RPE head: its own `tokenMap`, or the table gathered by relative offset. */
export function resolveRpeBias(head: RpeHead, grid: { h: number; w: number }): Float32Array {
  return head.tokenMap ?? rpeBiasMatrix(head.table, grid.h, grid.w);
}

/**
 * Parse a `log.txt` (one JSON object per line). Keeps numeric fields only; blank lines and lines
 * that are not JSON objects are skipped, because a log being written by a running job usually ends
 * in a partial line.
 */
export function parseLog(text: string): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const s = line.trim();
    if (!s) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch {
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) continue;
    const entry: LogEntry = {};
    for (const [k, v] of Object.entries(parsed))
      if (typeof v === 'number' && Number.isFinite(v)) entry[k] = v;
    entries.push(entry);
  }
  return entries;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Base64 of the little-endian float32 bytes (what the report's client decodes). */
export function float32ToBase64(a: Float32Array): string {
  if (LITTLE_ENDIAN) return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
  const b = Buffer.alloc(a.length * 4);
  for (let i = 0; i < a.length; i++) b.writeFloatLE(a[i], i * 4);
  return b.toString('base64');
}

/** Inverse of float32ToBase64. */
export function base64ToFloat32(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  if (b.length % 4 !== 0) throw new RangeError(`base64 payload of ${b.length} bytes is not a float32 array`);
  const out = new Float32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = b.readFloatLE(i * 4);
  return out;
}
