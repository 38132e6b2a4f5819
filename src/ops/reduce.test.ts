import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Rng } from '../tensor/random.js';
import { describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { arange } from './creation.js';
import { max, mean, sum } from './reduce.js';
import { reshape } from './shape.js';

describeBackends('reductions', () => {
  it('sum, mean and max over axes', () => {
    const x = reshape(arange(24), [2, 3, 4]);
    assert.deepEqual(sum(x, 1).toArray(), [12, 15, 18, 21, 48, 51, 54, 57]);
    assert.deepEqual(sum(x, [0, 2]).toArray(), [60, 92, 124]);
    assert.deepEqual(sum(x, [0, 2], true).shape, [1, 3, 1]);
    assert.equal(sum(x).item(), 276);
    assert.deepEqual(mean(x, -1).toArray(), [1.5, 5.5, 9.5, 13.5, 17.5, 21.5]);
    assert.deepEqual(max(x, 1).toArray(), [8, 9, 10, 11, 20, 21, 22, 23]);
    assert.throws(() => sum(x, 3), /sum: axis 3 is out of range for a tensor of rank 3/);
  });

  it('gradients match finite differences', () => {
    const rng = new Rng(8);
    const x = param(randTensor([2, 3, 4], rng));
    gradcheck((t) => sum(t, [0, 2]), [x]);
    gradcheck((t) => sum(t, 1, true), [x]);
    gradcheck((t) => mean(t, [1, 2]), [x]);
    gradcheck((t) => mean(t), [x]);
    gradcheck((t) => max(t, 2), [x]);
  });
});
