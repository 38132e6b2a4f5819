import { it } from 'node:test';
import { Rng } from '../tensor/random.js';
import { assertClose, describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { tensor } from './creation.js';
import { abs, erf, exp, gelu, log, neg, relu, rsqrt, sqrt, square, tanh } from './unary.js';
import { affine, powScalar } from './scalar.js';

describeBackends('unary ops', () => {
  it('computes known values', () => {
    const x = tensor([-2, -0.5, 0, 0.5, 2]);
    assertClose(gelu(x).toArray(), [-0.0455003, -0.1542687, 0, 0.3457313, 1.9544997], 1e-6);
    assertClose(erf(x).toArray(), [-0.9953223, -0.5204999, 0, 0.5204999, 0.9953223], 1e-6);
    assertClose(relu(x).toArray(), [0, 0, 0, 0.5, 2]);
    assertClose(tanh(x).toArray(), [-0.9640276, -0.4621172, 0, 0.4621172, 0.9640276], 1e-6);
    assertClose(exp(tensor([0, 1])).toArray(), [1, Math.E], 1e-6);
    assertClose(rsqrt(tensor([4, 0.25])).toArray(), [0.5, 2], 1e-6);
    assertClose(affine(x, 2, 1).toArray(), [-3, 0, 1, 2, 5]);
    assertClose(powScalar(tensor([2, 3]), 3).toArray(), [8, 27], 1e-5);
  });

  it('gradients match finite differences', () => {
    const rng = new Rng(2);
    for (const f of [neg, exp, tanh, erf, gelu, abs, square])
      gradcheck((x) => f(x), [param(randTensor([3, 5], rng, 2))]);
    // relu/abs have a kink at 0: keep inputs away from it.
    gradcheck(relu, [param(randTensor([3, 5], rng, 1, 0.2))], { h: 1e-4 });
    for (const f of [log, sqrt, rsqrt]) gradcheck(f, [param(randTensor([3, 5], rng, 0.5, 1.5))]);
    gradcheck((x) => affine(x, -1.5, 0.25), [param(randTensor([4], rng))]);
    gradcheck((x) => powScalar(x, 2.5), [param(randTensor([4], rng, 0.5, 1.5))]);
  });
});
