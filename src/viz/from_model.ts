/**
 * What `lape visualize` shows, read from the model's own intermediates: the position embedding each
 * layer's attention receives (`attentionPositionEmbeddings`) and each layer's relative position bias
 * (`relativePositionBiases`). Nothing here re-implements model math; the LayerNorm eps is the model's.
 */
import { noGrad } from '../autograd/tape.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { tidy } from '../tensor/memory.js';
import type { LogEntry, ReportData, RpeLayer } from './data.js';
import { cosineSimilarityMatrix, dropPrefixTokens } from './similarity.js';

/** The patch at the centre of an h x w grid, row-major. */
export function centerToken(h: number, w: number): number {
  return Math.floor(h / 2) * w + Math.floor(w / 2);
}

export interface VisualizationOptions {
  title: string;
  modelName: string;
  /** Patch whose maps are drawn; default the centre patch. */
  token?: number;
  log?: LogEntry[];
}

export function visualizationData(model: VisionTransformer, opts: VisualizationOptions): ReportData {
  const g = model.grid;
  const p = g * g;
  const token = opts.token ?? centerToken(g, g);
  if (!(Number.isInteger(token) && token >= 0 && token < p)) {
    throw new Error(`--token ${token} is outside the ${g}x${g} patch grid (valid: 0..${p - 1}, row-major)`);
  }
  const d = model.config.embedDim;
  const { layers, rpe, peSimilarity } = noGrad(() =>
    tidy(() => {
      // The raw table as stored ([1, T+N, D] or [T+N, D]: the same values in the same order).
      const j = model.join;
      const raw = j.kind === 'none' ? null : j.kind === 'unshare' ? j.tables[0] : j.table;
      const peSimilarity = raw
        ? cosineSimilarityMatrix(dropPrefixTokens(raw.data, model.prefix + p, d, model.prefix), p, d)
        : undefined;
      const pes = model.attentionPositionEmbeddings();
      const layers = pes.map((pe, index) => {
        const patches = dropPrefixTokens(pe.data, model.prefix + p, d, model.prefix);
        return { index, similarity: cosineSimilarityMatrix(patches, p, d) };
      });
      const biases = model.relativePositionBiases();
      const rpe: RpeLayer[] = biases.map((bias, layer) => {
        const attn = model.blocks[layer].attn;
        const table = attn.rpeTable?.data ?? new Float32Array();
        const heads = bias.shape[0];
        return {
          layer,
          heads: Array.from({ length: heads }, (_, h) => ({
            table: Float32Array.from({ length: table.length / heads }, (_, i) => table[i * heads + h]),
            tokenMap: Float32Array.from(bias.data.subarray(h * p * p, (h + 1) * p * p)),
          })),
        };
      });
      return { layers, rpe, peSimilarity };
    }),
  );
  if (layers.length === 0 && rpe.length === 0) {
    throw new Error(
      'the model has no position embedding to visualize (pe none and no relative position bias)',
    );
  }
  return {
    title: opts.title,
    model: opts.modelName,
    pe:
      model.config.rpe.kind === '2D'
        ? `${model.config.pe.kind} + 2D_RPE (${model.config.rpe.join})`
        : model.config.pe.kind,
    join: model.config.join,
    grid: { h: g, w: g },
    token,
    layers,
    peSimilarity,
    rpe: rpe.length > 0 ? rpe : undefined,
    log: opts.log,
  };
}

export interface PositionSimilarityOptions {
  /** Patch whose maps are drawn; default the centre patch. */
  token?: number;
  /** Names shown in the figures and report (default 'model'). */
  title?: string;
  modelName?: string;
  /** A training log.txt's entries, charted in the report. */
  log?: LogEntry[];
}

/**
 * The per-layer position-embedding similarity maps `lape visualize` draws: for each layer, the cosine
 * similarity of every pair of patches in the PE that layer's attention receives (`layers[i].similarity`,
 * P x P row-major, P = grid.h * grid.w), and each layer's relative position bias per head for 2-D RPE
 * models. Pass the result to `writeVisualization` for PNGs, `.npy` and the HTML report.
 */
export function positionSimilarity(
  model: VisionTransformer,
  opts: PositionSimilarityOptions = {},
): ReportData {
  return visualizationData(model, {
    title: opts.title ?? 'model',
    modelName: opts.modelName ?? 'model',
    token: opts.token,
    log: opts.log,
  });
}
