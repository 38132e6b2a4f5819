import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Rng } from '../tensor/random.js';
import { assertClose, describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { bceWithLogits } from './bce_with_logits.js';
import { intTensor, tensor } from './creation.js';
import { crossEntropy } from './cross_entropy.js';

describeBackends('losses', () => {
  it('cross-entropy with and without label smoothing', () => {
    const logits = tensor([1, 2, 3, 1, 1, 1], [2, 3]);
    const labels = intTensor([2, 0]).keep();
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    const plain = (lse - 3 + Math.log(3)) / 2;
    assertClose([crossEntropy(logits, { kind: 'labels', labels }).item()], [plain], 1e-6);
    // ε = 0.1: (1-ε) nll + ε mean_c(-log p)
    const smooth0 = 0.9 * (lse - 3) + 0.1 * (lse - 2);
    const smooth1 = Math.log(3);
    assertClose(
      [crossEntropy(logits, { kind: 'labels', labels, smoothing: 0.1 }).item()],
      [(smooth0 + smooth1) / 2],
      1e-6,
    );
    assert.throws(
      () => crossEntropy(logits, { kind: 'labels', labels: intTensor([3, 0]) }),
      /label 3 at position 0 is outside \[0, 3\)/,
    );
  });

  it('binary cross-entropy with logits matches the closed form', () => {
    const x = [2, -1, 0.5];
    const t = [1, 0, 0.3];
    const want =
      x.reduce(
        (s, v, i) =>
          s - (t[i] * Math.log(1 / (1 + Math.exp(-v))) + (1 - t[i]) * Math.log(1 - 1 / (1 + Math.exp(-v)))),
        0,
      ) / 3;
    assertClose([bceWithLogits(tensor(x), tensor(t)).item()], [want], 1e-6);
  });

  it('gradients match finite differences', () => {
    const rng = new Rng(9);
    const labels = intTensor([1, 0, 3]).keep();
    gradcheck(
      (z) => crossEntropy(z, { kind: 'labels', labels, smoothing: 0.1 }),
      [param(randTensor([3, 4], rng, 2))],
    );
    const soft = tensor([0.7, 0.1, 0.1, 0.1, 0, 0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25], [3, 4]).keep();
    gradcheck((z) => crossEntropy(z, { kind: 'soft', targets: soft }), [param(randTensor([3, 4], rng, 2))]);
    gradcheck((z) => bceWithLogits(z, soft), [param(randTensor([3, 4], rng, 2))]);
  });
});
