import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Rng } from '../tensor/random.js';
import { describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { tensor } from './creation.js';
import { linear } from './linear.js';
import { matmul } from './matmul.js';

describeBackends('matmul and linear', () => {
  it('multiplies with transposed operands', () => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tensor([1, 0, 0, 1, 1, 1], [3, 2]);
    assert.deepEqual(matmul(a, b).toArray(), [4, 5, 10, 11]);
    // aᵀ is [3, 2]; aᵀ @ a = [3, 3]
    assert.deepEqual(matmul(a, a, { transA: true }).toArray(), [17, 22, 27, 22, 29, 36, 27, 36, 45]);
    assert.deepEqual(matmul(a, a, { transB: true }).toArray(), [14, 32, 32, 77]);
  });

  it('rejects mismatched inner dimensions naming both shapes', () => {
    assert.throws(
      () => matmul(tensor([1, 2, 3, 4, 5, 6], [2, 3]), tensor([1, 2], [2, 1])),
      /matmul: inner dimensions differ: \[2, 3\] @ \[2, 1\]/,
    );
  });

  it('linear fuses the bias: y = x Wᵀ + b', () => {
    const x = tensor([1, 2, 3, 4], [2, 2]);
    const w = tensor([1, 1, 0, 2, -1, 0], [3, 2]);
    const b = tensor([0.5, 0, 1]);
    assert.deepEqual(linear(x, w, b).toArray(), [3.5, 4, 0, 7.5, 8, -2]);
  });

  it('gradients match finite differences (batched, transposed, broadcast)', () => {
    const rng = new Rng(3);
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const a = param(randTensor(transA ? [2, 4, 3] : [2, 3, 4], rng));
        const b = param(randTensor(transB ? [2, 5, 4] : [2, 4, 5], rng));
        gradcheck((x, y) => matmul(x, y, { transA, transB }), [a, b]);
        const shared = param(randTensor(transB ? [5, 4] : [4, 5], rng));
        gradcheck((x, y) => matmul(x, y, { transA, transB, alpha: 0.5 }), [a, shared]);
      }
    }
    gradcheck(
      (x, w, b) => linear(x, w, b),
      [param(randTensor([2, 3, 4], rng)), param(randTensor([5, 4], rng)), param(randTensor([5], rng))],
    );
  });
});
