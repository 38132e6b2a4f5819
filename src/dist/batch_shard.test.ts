/**
 * Dropout masks under data parallelism: a rank holding rows k * N + r of a global batch drops exactly
 * what one process holding the whole batch drops on those rows (dropout, drop-path, attention dropout).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { getBackend } from '../backend/registry.js';
import { attention } from '../ops/attention.js';
import { dropout, dropPath, withBatchShard } from '../ops/dropout.js';
import { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { describeBackends, randTensor } from '../../test/util.js';

/** Rows k * replicas + rank of x (axis 0). */
function rowsOf(x: Tensor, rank: number, replicas: number): Tensor {
  const per = x.size / x.shape[0];
  const rows = x.shape[0] / replicas;
  const out = Tensor.empty([rows, ...x.shape.slice(1)]);
  for (let k = 0; k < rows; k++) {
    const from = (k * replicas + rank) * per;
    out.data.set(x.data.subarray(from, from + per), k * per);
  }
  return out;
}

describeBackends('dropout masks split across data-parallel ranks', (backend) => {
  const cases: [string, (x: Tensor, rng: Rng) => Tensor, number[]][] = [
    ['dropout', (x, rng) => dropout(x, 0.4, true, rng), [12, 5, 7]],
    ['drop-path', (x, rng) => dropPath(x, 0.5, true, rng), [12, 5, 7]],
    [
      'attention dropout',
      (qkv, rng) => attention(qkv, { heads: 2, scale: 0.5, dropout: { p: 0.3, rng } }),
      [12, 5, 3 * 8],
    ],
  ];
  for (const [name, op, shape] of cases) {
    it(`${name}: rank r of N computes rows r, r + N, ... of the global batch's result`, () => {
      assert.equal(getBackend().name, backend);
      const x = randTensor(shape, new Rng(11));
      const whole = op(x, new Rng(5));
      for (const replicas of [2, 3]) {
        for (let rank = 0; rank < replicas; rank++) {
          const mine = withBatchShard({ rank, replicas }, () => op(rowsOf(x, rank, replicas), new Rng(5)));
          assert.deepEqual(
            mine.toArray(),
            rowsOf(whole, rank, replicas).toArray(),
            `rank ${rank} of ${replicas}`,
          );
        }
      }
      // Without the shard a rank would draw the global mask's first rows instead: different values.
      const unsharded = op(rowsOf(x, 1, 2), new Rng(5));
      assert.notDeepEqual(unsharded.toArray(), rowsOf(whole, 1, 2).toArray());
    });
  }
});
