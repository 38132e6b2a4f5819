import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Rng } from '../tensor/random.js';
import { assertClose, describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { arange, tensor } from './creation.js';
import { conv2d } from './conv2d.js';
import { maxPool2d } from './max_pool2d.js';
import { linear } from './linear.js';
import { patchify } from './patchify.js';
import { permute, reshape } from './shape.js';

describeBackends('conv2d and maxPool2d', () => {
  it('patch convolution (kernel = stride) sums each patch', () => {
    const x = reshape(arange(16), [1, 1, 4, 4]);
    const w = tensor([1, 1, 1, 1], [1, 1, 2, 2]);
    assert.deepEqual(conv2d(x, w, tensor([0.5]), { stride: 2 }).toArray(), [10.5, 18.5, 42.5, 50.5]);
  });

  it('3x3 padded convolution and 3/2/1 max-pool', () => {
    const x = reshape(arange(9), [1, 1, 3, 3]);
    const w = tensor([0, 0, 0, 0, 1, 0, 0, 0, 0], [1, 1, 3, 3]);
    assert.deepEqual(conv2d(x, w, null, { padding: 1 }).toArray(), x.toArray());
    const box = tensor(new Array(9).fill(1), [1, 1, 3, 3]);
    assert.deepEqual(conv2d(x, box, null, { padding: 1 }).toArray(), [8, 15, 12, 21, 36, 27, 20, 33, 24]);
    assert.deepEqual(maxPool2d(reshape(arange(16), [1, 1, 4, 4]), 3, 2, 1).toArray(), [5, 7, 13, 15]);
  });

  it('names channel mismatches', () => {
    assert.throws(
      () => conv2d(tensor(new Array(8).fill(0), [1, 2, 2, 2]), tensor([1], [1, 1, 1, 1])),
      /has 2 channels, weight .* expects 1/,
    );
  });

  it('gradients match finite differences', () => {
    const rng = new Rng(10);
    gradcheck(
      (x, w, b) => conv2d(x, w, b, { stride: 2 }),
      [
        param(randTensor([2, 3, 4, 4], rng)),
        param(randTensor([5, 3, 2, 2], rng)),
        param(randTensor([5], rng)),
      ],
    );
    gradcheck(
      (x, w) => conv2d(x, w, null, { padding: 1 }),
      [param(randTensor([2, 2, 4, 5], rng)), param(randTensor([3, 2, 3, 3], rng))],
    );
    gradcheck((x) => maxPool2d(x, 3, 2, 1), [param(randTensor([2, 2, 5, 5], rng))]);
  });
});

describeBackends('patchify', () => {
  it('a kernel = stride conv equals patchify + linear', () => {
    const rng = new Rng(30);
    const x = randTensor([2, 3, 8, 8], rng);
    const w = randTensor([5, 3, 4, 4], rng);
    const b = randTensor([5], rng);
    const conv = permute(reshape(conv2d(x, w, b, { stride: 4 }), [2, 5, 4]), [0, 2, 1]);
    assertClose(linear(patchify(x, 4), reshape(w, [5, 48]), b).data, conv.data, 1e-5, 1e-5);
  });

  it('gradients match finite differences', () => {
    gradcheck((x) => patchify(x, 2), [param(randTensor([2, 2, 4, 6], new Rng(31)))]);
  });
});
