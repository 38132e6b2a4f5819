import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { GradFn } from '../autograd/grad_fn.js';
import type { Tensor } from '../tensor/tensor.js';
import { add, mul } from './binary.js';
import { Rng } from '../tensor/random.js';
import { assertClose, describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { tensor } from './creation.js';
import { layerNorm } from './layer_norm.js';

describeBackends('layerNorm', () => {
  it('normalizes with biased variance and eps', () => {
    const y = layerNorm(tensor([1, 2, 3, 4]), null, null, 1e-5);
    const s = Math.sqrt(1.25 + 1e-5);
    assertClose(y.toArray(), [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], 1e-6);
    const z = layerNorm(tensor([1, 2, 3, 4]), tensor([1, 2, 1, 1]), tensor([0, 0, 1, 0]), 1e-5);
    assertClose(z.toArray(), [-1.5 / s, -1 / s, 0.5 / s + 1, 1.5 / s], 1e-6);
  });

  it('fuses an addend tiled over leading rows (LaPE norm1(x) + pe)', () => {
    const x = tensor([1, 2, 3, 4, 5, 6, 7, 9], [2, 2, 2]);
    const pe = tensor([10, 20, 30, 40], [2, 2]);
    const y = layerNorm(x, null, null, 1e-6, pe).toArray();
    const plain = layerNorm(x, null, null, 1e-6).toArray();
    assertClose(
      y,
      plain.map((v, i) => v + [10, 20, 30, 40][i % 4]),
      1e-5,
    );
  });

  it('gradients match finite differences (affine, no affine, addend)', () => {
    const rng = new Rng(5);
    const x = param(randTensor([3, 4, 6], rng, 2));
    gradcheck(
      (a, w, b) => layerNorm(a, w, b, 1e-6),
      [x, param(randTensor([6], rng, 0.5, 1)), param(randTensor([6], rng))],
    );
    gradcheck((a) => layerNorm(a, null, null, 1e-5), [x]);
    gradcheck(
      (a, w, b, pe) => layerNorm(a, w, b, 1e-6, pe),
      [x, param(randTensor([6], rng, 0.5, 1)), param(randTensor([6], rng)), param(randTensor([4, 6], rng))],
    );
  });

  it('adds its input gradient into the residual stream gradient in place, with the right value', () => {
    // x feeds a residual add and the norm; the add's gradient reaches x first and the norm adds into it.
    const rng = new Rng(6);
    const x = param(randTensor([3, 4, 6], rng, 2));
    const w = randTensor([3, 4, 6], rng);
    let offered = 0;
    const f = (a: Tensor): Tensor => {
      const y = mul(add(a, mul(layerNorm(a, null, null, 1e-6), w)), w);
      const ln = y.gradFn?.inputs[0].gradFn?.inputs[1].gradFn?.inputs[0];
      const fn = ln?.gradFn as { backward: GradFn['backward'] };
      const inner = fn.backward;
      fn.backward = (dy, into) => {
        if (into?.[0]) offered++;
        return inner(dy, into);
      };
      return y;
    };
    gradcheck(f, [x]);
    assert.ok(offered > 0, 'the tape offered the residual gradient to the norm');
  });
});
