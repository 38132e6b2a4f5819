/**
 * Synthetic visualisation data for the viz tests: PEs whose similarity maps differ per layer and
 * per token, Gaussian-shaped RPE tables, and a plausible training log.
 */
import type { LogEntry, ReportData, RpeLayer } from '../../src/viz/data.js';
import { cosineSimilarityMatrix } from '../../src/viz/similarity.js';

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Patch PEs of one layer: a 2-D sine-cosine code (as the spec's 2D_sin) whose frequencies shrink
 * with depth, blended with layer-specific noise, so both the overall and the per-token maps change
 * from layer to layer and from token to token.
 */
export function syntheticPe(h: number, w: number, d: number, layer: number, seed = 1): Float32Array {
  const r = rng(seed * 1000 + layer);
  const n = h * w;
  const pe = new Float32Array(n * d);
  const quarter = d / 4;
  const noise = Math.min(0.8, 0.15 * layer);
  for (let i = 0; i < n; i++) {
    const y = Math.floor(i / w);
    const x = i % w;
    for (let k = 0; k < quarter; k++) {
      const f = Math.exp(-k * (0.6 + 0.3 * layer)) * 1.3;
      const code = [Math.sin(x * f), Math.cos(x * f), Math.sin(y * f), Math.cos(y * f)];
      for (let c = 0; c < 4; c++) pe[i * d + 4 * k + c] = (1 - noise) * code[c] + noise * (r() * 2 - 1);
    }
  }
  return pe;
}

export function syntheticRpe(h: number, w: number, layers: number, heads: number): RpeLayer[] {
  const out: RpeLayer[] = [];
  for (let l = 0; l < layers; l++) {
    const hs = [];
    for (let hd = 0; hd < heads; hd++) {
      const table = new Float32Array((2 * h - 1) * (2 * w - 1));
      const sigma = 0.8 + hd * 0.9 + l * 0.3;
      for (let r = 0; r < 2 * h - 1; r++) {
        for (let c = 0; c < 2 * w - 1; c++) {
          const dy = r - (h - 1);
          const dx = c - (w - 1) + (hd % 2 ? 1 : 0); // odd heads look one column to the side
          table[r * (2 * w - 1) + c] = (Math.exp(-(dy * dy + dx * dx) / (2 * sigma * sigma)) - 0.3) / (l + 1);
        }
      }
      hs.push({ table });
    }
    out.push({ layer: l, heads: hs });
  }
  return out;
}

export function syntheticLog(epochs: number, seed = 1): LogEntry[] {
  const log: LogEntry[] = [];
  // Different seeds learn at different speeds, so compared runs' curves are distinguishable.
  const speed = 1 + 0.25 * (seed - 1);
  for (let e = 0; e < epochs; e++) {
    const p = 1 - Math.exp(-(e * speed) / (epochs / 4));
    log.push({
      epoch: e,
      train_lr:
        e < 5 ? 5e-4 * ((e + 1) / 5) : 5e-4 * 0.5 * (1 + Math.cos((Math.PI * (e - 5)) / (epochs - 5))),
      train_loss: 6.9 - 3.4 * p,
      test_loss: 6.8 - 4.2 * p,
      test_acc1: 0.1 + 71 * p,
      test_acc5: 0.5 + 90 * p,
    });
  }
  return log;
}

export interface SyntheticOptions {
  h?: number;
  w?: number;
  layers?: number;
  d?: number;
  heads?: number;
  rpe?: boolean;
  logEpochs?: number;
  seed?: number;
  title?: string;
  join?: string;
}

export function syntheticReport(o: SyntheticOptions = {}): ReportData {
  const h = o.h ?? 5;
  const w = o.w ?? 5;
  const L = o.layers ?? 3;
  const d = o.d ?? 32;
  const n = h * w;
  const data: ReportData = {
    title: o.title ?? 'synthetic LaPE run',
    model: 'deit_tiny_patch16_224',
    pe: 'learnable',
    join: o.join ?? 'LaPE',
    grid: { h, w },
    token: Math.floor(n / 2),
    layers: Array.from({ length: L }, (_, l) => ({
      index: l,
      similarity: cosineSimilarityMatrix(syntheticPe(h, w, d, l, o.seed ?? 1), n, d),
    })),
  };
  if (o.rpe) data.rpe = syntheticRpe(h, w, L, o.heads ?? 3);
  if (o.logEpochs) data.log = syntheticLog(o.logEpochs, o.seed ?? 1);
  return data;
}
