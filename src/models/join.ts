/**
 * How the absolute position embedding (PE) joins the network: the paper's equations, in one place.
 *
 * With Block(x; p) = x + drop_path(attn(norm1(x) + p)), then the MLP branch (`+ p` only when given):
 *
 *   basic        x_0 = tokens + PE                              x_l = Block(x_{l-1})
 *   share                                                       x_l = Block(x_{l-1} + PE)
 *   unshare      one learnable PE_l per block                   x_l = Block(x_{l-1} + PE_l)
 *   LaPE         pe_0 = PE,  pe_l = LN_l(pe_{l-1})              x_l = Block(x_{l-1}; pe_l)
 *   LaPE-shared  pe_l = LN_l(PE)                                x_l = Block(x_{l-1}; pe_l)
 *
 * LN_l is block l's own LayerNorm (`blocks.l.pe_norm`); under LaPE the PE never enters the residual
 * stream nor the MLP branch. A model builds its `PositionJoin` once (`buildJoin`); `joinTerms` then says,
 * for one forward pass, what the PE adds where. docs/model-spec.md states the same in prose.
 */
import type { LayerNorm } from '../nn/layers.js';
import { reshape } from '../ops/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { JoinKind } from './config.js';

/** A model's join: its PE tables as registered (`pos_embed*`) and the LayerNorms the join owns. */
export type PositionJoin =
  /** No absolute PE (`pe: none`): nothing joins. */
  | { kind: 'none' }
  | { kind: 'basic'; table: Tensor }
  | { kind: 'share'; table: Tensor }
  | { kind: 'unshare'; tables: readonly Tensor[] }
  | { kind: 'LaPE'; table: Tensor; norms: readonly LayerNorm[] }
  | { kind: 'LaPE-shared'; table: Tensor; norms: readonly LayerNorm[] };

type LapeJoin = Extract<PositionJoin, { kind: 'LaPE' | 'LaPE-shared' }>;

/** What the PE adds where in one forward pass (each tensor [T+N, D], broadcast over the batch). */
export interface JoinTerms {
  /** Added to the embedded tokens once, before position dropout. */
  readonly input: Tensor | null;
  /** Added to the residual stream entering block `layer` (the block's x is x + this). */
  stream(layer: number): Tensor | null;
  /** Added to norm1(x) inside block `layer`: seen by attention only. */
  attention(layer: number): Tensor | null;
}

/** State-dict names of the PE tables a join needs: one shared table, or one per block for `unshare`. */
export function tableNames(join: JoinKind, depth: number): string[] {
  return join === 'unshare' ? Array.from({ length: depth }, (_, i) => `pos_embed${i}`) : ['pos_embed'];
}

/**
 * Builds the join from the registered PE tables (none without an absolute PE; `tableNames` order
 * otherwise); `norm()` makes one block's LayerNorm for the LaPE joins (the block registers it).
 */
export function buildJoin(
  kind: JoinKind,
  tables: readonly Tensor[],
  depth: number,
  norm: () => LayerNorm,
): PositionJoin {
  if (tables.length === 0) return { kind: 'none' };
  const expected = tableNames(kind, depth).length;
  if (tables.length !== expected)
    throw new Error(`join '${kind}' needs ${expected} position tables, got ${tables.length}`);
  switch (kind) {
    case 'basic':
    case 'share':
      return { kind, table: tables[0] };
    case 'unshare':
      return { kind, tables };
    case 'LaPE':
    case 'LaPE-shared':
      return { kind, table: tables[0], norms: Array.from({ length: depth }, norm) };
  }
}

/** Block `layer`'s LaPE LayerNorm, or null when the join has none. */
export function blockNorm(join: PositionJoin, layer: number): LayerNorm | null {
  return join.kind === 'LaPE' || join.kind === 'LaPE-shared' ? join.norms[layer] : null;
}

/** A stored table ([1, T+N, D], or [T+N, D] for 1D_sin) as [T+N, D]. */
function rows(table: Tensor): Tensor {
  const [m, d] = table.shape.slice(-2);
  return reshape(table, [m, d]);
}

/** pe_l for every block: progressive (LaPE) or each from the raw PE (LaPE-shared). */
function lapeEmbeddings(join: LapeJoin): Tensor[] {
  const raw = rows(join.table);
  const out: Tensor[] = [];
  let pe = raw;
  for (const norm of join.norms) {
    pe = norm.forward(join.kind === 'LaPE' ? pe : raw);
    out.push(pe);
  }
  return out;
}

/** The equations above for one forward pass; the LaPE chain is computed here, once. */
export function joinTerms(join: PositionJoin): JoinTerms {
  const nothing = (): null => null;
  switch (join.kind) {
    case 'none':
      return { input: null, stream: nothing, attention: nothing };
    case 'basic':
      return { input: rows(join.table), stream: nothing, attention: nothing };
    case 'share':
      return { input: null, stream: () => rows(join.table), attention: nothing };
    case 'unshare':
      return { input: null, stream: (l) => rows(join.tables[l]), attention: nothing };
    case 'LaPE':
    case 'LaPE-shared': {
      const pe = lapeEmbeddings(join);
      return { input: null, stream: nothing, attention: (l) => pe[l] };
    }
  }
}

/**
 * What each block's attention receives of the PE, for the visualizer: `basic`/`share`: that block's
 * norm1 applied to the PE; `unshare`: the block's own PE; `LaPE`/`LaPE-shared`: pe_l. Empty without a PE.
 */
export function attentionEmbeddings(join: PositionJoin, norm1: readonly LayerNorm[]): Tensor[] {
  switch (join.kind) {
    case 'none':
      return [];
    case 'basic':
    case 'share': {
      const pe = rows(join.table);
      return norm1.map((n) => n.forward(pe));
    }
    case 'unshare':
      return join.tables.map(rows);
    case 'LaPE':
    case 'LaPE-shared':
      return lapeEmbeddings(join);
  }
}
