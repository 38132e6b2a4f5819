/**
 * Helpers to turn a 2-D relative position bias (docs/model-spec.md, "2-D RPE") into the maps the
 * visualiser draws.
 *
 * The model's table is [(2h-1)(2w-1), H]; index[i, j] = (yi - yj + h - 1) * (2w - 1) + (xi - xj + w - 1)
 * for patches i (query) and j (key); bias[head, i, j] = table[index[i, j], head]. So one head's
 * column, read row-major as a (2h-1) x (2w-1) image, has the offset dy = yi - yj on the vertical
 * axis and dx = xi - xj on the horizontal one, zero offset in the centre.
 */

/** The [N, N] relative position index of an h x w grid (N = h*w), as the model builds it. */
export function rpeRelativeIndex(h: number, w: number): Int32Array {
  assertGrid(h, w);
  const n = h * w;
  const tw = 2 * w - 1;
  const index = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    const yi = Math.floor(i / w);
    const xi = i % w;
    for (let j = 0; j < n; j++) {
      const yj = Math.floor(j / w);
      const xj = j % w;
      index[i * n + j] = (yi - yj + h - 1) * tw + (xi - xj + w - 1);
    }
  }
  return index;
}

/**
 * Split a model table [(2h-1)(2w-1), numHeads] (row-major, heads fastest) into one
 * (2h-1)*(2w-1) table per head.
 */
export function splitRpeTable(table: Float32Array, h: number, w: number, numHeads: number): Float32Array[] {
  assertGrid(h, w);
  const size = (2 * h - 1) * (2 * w - 1);
  if (!Number.isInteger(numHeads) || numHeads <= 0) throw new RangeError(`invalid numHeads ${numHeads}`);
  if (table.length !== size * numHeads) {
    throw new RangeError(
      `table has ${table.length} values, expected (2h-1)(2w-1)*heads = ${size}*${numHeads}`,
    );
  }
  const heads: Float32Array[] = [];
  for (let hd = 0; hd < numHeads; hd++) {
    const t = new Float32Array(size);
    for (let r = 0; r < size; r++) t[r] = table[r * numHeads + hd];
    heads.push(t);
  }
  return heads;
}

/**
 * The [N, N] bias of one head from its (2h-1)*(2w-1) table, for the `basic` RPE join (with the
 * `LN` join the model applies a LayerNorm on top, so take the bias from the model instead).
 * Row i is query i's bias over all keys.
 */
export function rpeBiasMatrix(headTable: Float32Array, h: number, w: number): Float32Array {
  assertGrid(h, w);
  const size = (2 * h - 1) * (2 * w - 1);
  if (headTable.length !== size) {
    throw new RangeError(`head table has ${headTable.length} values, expected (2h-1)(2w-1) = ${size}`);
  }
  const index = rpeRelativeIndex(h, w);
  const bias = new Float32Array(index.length);
  for (let k = 0; k < index.length; k++) bias[k] = headTable[index[k]];
  return bias;
}

function assertGrid(h: number, w: number): void {
  if (!Number.isInteger(h) || h <= 0 || !Number.isInteger(w) || w <= 0) {
    throw new RangeError(`invalid grid ${h}x${w}`);
  }
}
