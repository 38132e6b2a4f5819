/**
 * What a bare state dict says about the model that wrote it: the keys and shapes that give away its
 * structure (`blocks.N.pe_norm.*` mean LaPE, `pos_embed0..N` mean unshare, `pos_embed`'s length gives
 * the patch grid, `dist_token` a distilled model, ...). Every inferred field carries the key it was
 * read from, so a contradicting flag can be reported by name.
 *
 * Not visible in the keys, and so never inferred: basic vs share (same keys: basic is assumed, the
 * reference's default), LaPE vs LaPE-shared (LaPE assumed), the LayerNorm eps, the drop rates, and the
 * head count of a model without a relative position bias (taken from a matching registry variant).
 */
import { toFloat32, type HostTensor, type StateDict } from '../io/host_tensor.js';
import { sinusoid1d, sinusoid2d } from '../models/pos_embed.js';
import type { ModelOverrides } from '../models/registry.js';

export type InferredField = keyof ModelOverrides;

export interface InferredModel {
  /** Every field the state dict determines. */
  values: ModelOverrides;
  /** For each inferred field, the state-dict key(s) it comes from (for messages). */
  evidence: Partial<Record<InferredField, string>>;
}

function blockIndices(sd: StateDict): number[] {
  const seen = new Set<number>();
  for (const k of sd.keys()) {
    const m = /^blocks\.(\d+)\./.exec(k);
    if (m) seen.add(Number(m[1]));
  }
  return [...seen].sort((a, b) => a - b);
}

/** `sample` keys matching `re`, abbreviated: "blocks.0.pe_norm.weight, blocks.1.pe_norm.weight, … (24 keys)". */
export function describeKeys(sd: StateDict, re: RegExp): string {
  const keys = [...sd.keys()].filter((k) => re.test(k));
  if (keys.length <= 3) return keys.join(', ');
  return `${keys.slice(0, 2).join(', ')}, … (${keys.length} keys)`;
}

const shapeOf = (t: HostTensor): string => `[${t.shape.join(', ')}]`;

/** Whether `t` holds (to float32 precision) the values of `expected` ([rows, d]). */
function sameValues(t: HostTensor, expected: Float32Array): boolean {
  const v = toFloat32(t);
  if (v.length !== expected.length) return false;
  for (let i = 0; i < v.length; i++) if (Math.abs(v[i] - expected[i]) > 1e-4) return false;
  return true;
}

function isSquare(n: number): boolean {
  const r = Math.round(Math.sqrt(n));
  return r * r === n;
}

export function inferFromStateDict(sd: StateDict): InferredModel {
  const values: ModelOverrides = {};
  const evidence: Partial<Record<InferredField, string>> = {};
  const set = <K extends InferredField>(k: K, v: ModelOverrides[K], from: string): void => {
    values[k] = v;
    evidence[k] = from;
  };

  const blocks = blockIndices(sd);
  if (blocks.length > 0) set('depth', blocks[blocks.length - 1] + 1, `blocks.${blocks[blocks.length - 1]}.*`);

  const proj = sd.get('patch_embed.proj.weight');
  let patch: number | null = null;
  let cct = false;
  if (proj && proj.shape.length === 4) {
    const [d, c, k] = proj.shape;
    const from = `patch_embed.proj.weight ${shapeOf(proj)}`;
    set('embedDim', d, from);
    set('inChans', c, from);
    if (!sd.has('patch_embed.proj.bias') && k === 3) {
      cct = true;
      set('tokenizer', 'cct', `${from} without a bias`);
    } else {
      patch = k;
      set('tokenizer', 'patch', from);
      set('patchSize', k, from);
    }
  }

  const hasCls = sd.has('cls_token');
  const hasDist = sd.has('dist_token');
  if (hasDist) set('distilled', true, 'dist_token');
  if (sd.has('attention_pool.weight')) set('pooling', 'seq', 'attention_pool.weight');
  else if (hasCls) set('pooling', 'cls', 'cls_token');
  const prefix = (hasCls ? 1 : 0) + (hasDist ? 1 : 0);

  const qkv = sd.get('blocks.0.attn.qkv.weight');
  if (qkv) set('qkvBias', sd.has('blocks.0.attn.qkv.bias'), 'blocks.0.attn.qkv.bias');
  const fc1 = sd.get('blocks.0.mlp.fc1.weight');
  if (fc1 && fc1.shape.length === 2 && fc1.shape[1] > 0)
    set('mlpRatio', fc1.shape[0] / fc1.shape[1], `blocks.0.mlp.fc1.weight ${shapeOf(fc1)}`);
  const head = sd.get('head.weight');
  if (head && head.shape.length === 2) set('numClasses', head.shape[0], `head.weight ${shapeOf(head)}`);

  // The patch grid: from the absolute PE, else from the relative-position tables.
  const pos = sd.get('pos_embed') ?? sd.get('pos_embed0');
  const posKey = sd.has('pos_embed') ? 'pos_embed' : 'pos_embed0';
  const table = sd.get('blocks.0.attn.relative_position_bias_table');
  let grid: number | null = null;
  let gridFrom = '';
  if (pos && pos.shape.length >= 2) {
    const tokens = pos.shape[pos.shape.length - 2];
    if (isSquare(tokens - prefix)) {
      grid = Math.round(Math.sqrt(tokens - prefix));
      gridFrom = `${posKey} ${shapeOf(pos)}`;
    }
  } else if (table && table.shape.length === 2) {
    const side = Math.round(Math.sqrt(table.shape[0]));
    if (side * side === table.shape[0] && side % 2 === 1) {
      grid = (side + 1) / 2;
      gridFrom = `blocks.0.attn.relative_position_bias_table ${shapeOf(table)}`;
    }
  }
  if (grid !== null) {
    if (patch !== null) set('imgSize', grid * patch, gridFrom);
    else if (cct) set('imgSize', 2 * grid, gridFrom);
  }
  if (table && table.shape.length === 2)
    set('numHeads', table.shape[1], `blocks.0.attn.relative_position_bias_table ${shapeOf(table)}`);

  // Position embedding and join.
  const peNorm = describeKeys(sd, /^blocks\.\d+\.pe_norm\.weight$/);
  const rpeLn = sd.has('blocks.0.attn.pe_norm.weight');
  const unshare = sd.has('pos_embed0');
  if (unshare) {
    set('pe', 'learnable', describeKeys(sd, /^pos_embed\d+$/));
    set('join', 'unshare', describeKeys(sd, /^pos_embed\d+$/));
  } else if (pos) {
    const d = pos.shape[pos.shape.length - 1];
    const tokens = pos.shape[pos.shape.length - 2];
    let pe: ModelOverrides['pe'] = 'learnable';
    const s1 = sinusoid1d(tokens, d);
    try {
      if (sameValues(pos, s1.data)) pe = '1D_sin';
    } finally {
      s1.dispose();
    }
    if (pe === 'learnable' && grid !== null && d % 4 === 0) {
      const s2 = sinusoid2d(grid, grid, d, tokens - grid * grid);
      try {
        if (sameValues(pos, s2.data)) pe = '2D_sin';
      } finally {
        s2.dispose();
      }
    }
    set(
      'pe',
      pe,
      `pos_embed ${shapeOf(pos)}${pe === 'learnable' ? '' : ` (its values are the ${pe} table)`}`,
    );
    set('join', peNorm ? 'LaPE' : 'basic', peNorm || 'no blocks.N.pe_norm keys');
    if (table)
      set(
        'rpe',
        rpeLn ? 'LN' : 'basic',
        rpeLn ? 'blocks.0.attn.pe_norm.weight' : 'blocks.0.attn.relative_position_bias_table',
      );
    else set('rpe', 'none', 'no relative_position_bias_table keys');
  } else if (table) {
    set('pe', '2D_RPE', 'blocks.0.attn.relative_position_bias_table without a pos_embed');
    set(
      'join',
      rpeLn ? 'LN' : 'basic',
      rpeLn ? 'blocks.0.attn.pe_norm.weight' : 'no blocks.0.attn.pe_norm keys',
    );
  } else if (blocks.length > 0) {
    set('pe', 'none', 'no pos_embed and no relative_position_bias_table');
    set('join', 'basic', 'no pos_embed');
  }
  return { values, evidence };
}
