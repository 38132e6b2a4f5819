import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * Rows of x selected by an int32 index tensor: out[i..., :] = x[idx[i...], :] (torch.index_select on
 * axis 0 followed by a view). Used for relative-position bias tables. Gradients scatter-add back.
 */
export function indexSelect(x: Tensor, idx: Tensor): Tensor {
  if (idx.dtype !== 'int32') throw new Error(`indexSelect: index ${idx.describe()} must be int32`);
  if (x.rank < 1) throw new Error(`indexSelect: ${x.describe()} needs at least one axis`);
  const rows = x.shape[0];
  const width = x.size / Math.max(rows, 1);
  const ids = idx.ints;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= rows) {
      throw new Error(
        `indexSelect: index ${ids[i]} at position ${i} is outside [0, ${rows}) of ${x.describe()}`,
      );
    }
  }
  const out = Tensor.empty([...idx.shape, ...x.shape.slice(1)]);
  dispatch.gatherRows({ x, idx, out, width });
  return record(out, { name: 'indexSelect', attrs: { index: idx } }, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dx.data.fill(0);
    dispatch.scatterAddRows({ dy, idx, dx, width });
    return [dx];
  });
}
