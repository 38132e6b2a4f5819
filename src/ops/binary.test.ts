import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Rng } from '../tensor/random.js';
import { assertClose, describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { tensor } from './creation.js';
import { add, div, mul, sub } from './binary.js';

describeBackends('binary ops', () => {
  it('broadcasts [2,3] with [3] and [2,1]', () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(add(a, tensor([10, 20, 30])).toArray(), [11, 22, 33, 14, 25, 36]);
    assert.deepEqual(sub(a, tensor([1, 2], [2, 1])).toArray(), [0, 1, 2, 2, 3, 4]);
    assert.deepEqual(mul(a, tensor([2], [1])).toArray(), [2, 4, 6, 8, 10, 12]);
    assertClose(div(a, tensor([2, 4], [2, 1])).toArray(), [0.5, 1, 1.5, 1, 1.25, 1.5]);
  });

  it('names the op and both shapes on a mismatch', () => {
    assert.throws(
      () => add(tensor([1, 2, 3], [3]), tensor([1, 2], [2])),
      /add: shapes \[3\] and \[2\] cannot be broadcast/,
    );
  });

  it('gradients match finite differences, with broadcasting', () => {
    const rng = new Rng(1);
    const shapes: [number[], number[]][] = [
      [
        [2, 3, 4],
        [2, 3, 4],
      ],
      [
        [2, 3, 4],
        [3, 1],
      ],
      [
        [2, 3, 4],
        [1, 4],
      ],
      [
        [1, 4],
        [2, 3, 1],
      ],
    ];
    for (const [sa, sb] of shapes) {
      for (const f of [add, sub, mul]) {
        gradcheck(f, [param(randTensor(sa, rng)), param(randTensor(sb, rng))]);
      }
      gradcheck(div, [param(randTensor(sa, rng)), param(randTensor(sb, rng, 0.5, 2))]);
    }
  });
});
