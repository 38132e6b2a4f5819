import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Rng } from '../tensor/random.js';
import { describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { concat } from './concat.js';
import { arange, intTensor, tensor } from './creation.js';
import { indexSelect } from './gather.js';
import { expandTo, permute, reshape, transpose } from './shape.js';
import { slice } from './slice.js';

describeBackends('layout ops', () => {
  it('reshape infers -1 and rejects a wrong size', () => {
    assert.deepEqual(reshape(arange(6), [2, -1]).shape, [2, 3]);
    assert.throws(() => reshape(arange(6), [4, -1]), /reshape: cannot reshape float32\[6\]/);
  });

  it('permute and transpose reorder values', () => {
    const x = reshape(arange(6), [1, 2, 3]);
    assert.deepEqual(permute(x, [2, 0, 1]).toArray(), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(transpose(reshape(arange(6), [2, 3])).toArray(), [0, 3, 1, 4, 2, 5]);
    assert.throws(() => permute(x, [0, 0, 1]), /repeats an axis/);
  });

  it('concat, slice, expand and indexSelect', () => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const b = tensor([5, 6], [2, 1]);
    assert.deepEqual(concat([a, b], 1).toArray(), [1, 2, 5, 3, 4, 6]);
    assert.deepEqual(slice(reshape(arange(12), [3, 4]), 1, 1, 3).toArray(), [1, 2, 5, 6, 9, 10]);
    assert.deepEqual(expandTo(tensor([1, 2], [2, 1]), [2, 3]).toArray(), [1, 1, 1, 2, 2, 2]);
    const table = reshape(arange(6), [3, 2]);
    assert.deepEqual(indexSelect(table, intTensor([2, 0, 2, 1], [2, 2])).toArray(), [4, 5, 0, 1, 4, 5, 2, 3]);
    assert.throws(() => indexSelect(table, intTensor([3])), /index 3 at position 0 is outside \[0, 3\)/);
    assert.throws(() => slice(a, 0, 1, 3), /slice: range 1:3 is outside axis 0/);
  });

  it('gradients match finite differences', () => {
    const rng = new Rng(6);
    const x = param(randTensor([2, 3, 4], rng));
    gradcheck((t) => permute(t, [2, 0, 1]), [x]);
    gradcheck((t) => reshape(t, [6, 4]), [x]);
    gradcheck((t) => slice(t, 2, 1, 3), [x]);
    gradcheck((t, u) => concat([t, u], 1), [x, param(randTensor([2, 2, 4], rng))]);
    gradcheck((t) => expandTo(t, [3, 2, 4]), [param(randTensor([2, 1], rng))]);
    const idx = intTensor([1, 1, 0, 2]).keep();
    gradcheck((t) => indexSelect(t, idx), [param(randTensor([3, 2], rng))]);
  });
});
