import { it } from 'node:test';
import { Rng } from '../tensor/random.js';
import { assertClose, describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { tensor } from './creation.js';
import { logSoftmax, softmax } from './softmax.js';

describeBackends('softmax', () => {
  it('computes known values and is shift-invariant', () => {
    const p = [0.09003057, 0.24472847, 0.66524096];
    assertClose(softmax(tensor([1, 2, 3, 1001, 1002, 1003], [2, 3])).toArray(), [...p, ...p], 1e-6);
    assertClose(logSoftmax(tensor([1, 2, 3])).toArray(), p.map(Math.log), 1e-6);
  });

  it('gradients match finite differences', () => {
    const rng = new Rng(4);
    gradcheck(softmax, [param(randTensor([3, 7], rng, 3))]);
    gradcheck(logSoftmax, [param(randTensor([2, 2, 5], rng, 3))]);
  });
});
