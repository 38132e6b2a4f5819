import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Rng } from '../tensor/random.js';
import { dispatch } from '../backend/dispatch.js';
import { assertClose, describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { ones } from './creation.js';
import { backward } from '../autograd/tape.js';
import type { Tensor } from '../tensor/tensor.js';
import { add, mul } from './binary.js';
import { addDropPath, dropout, dropPath } from './dropout.js';
import { sum } from './reduce.js';

describeBackends('dropout and dropPath', () => {
  it('drops about p of the elements and scales the rest by 1/(1-p)', () => {
    const y = dropout(ones([100000]), 0.25, true, new Rng(1)).toArray();
    const kept = y.filter((v) => v !== 0);
    assert.ok(Math.abs(kept.length / y.length - 0.75) < 0.01, `kept fraction ${kept.length / y.length}`);
    assert.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6));
  });

  it('is the identity in eval mode and reproducible from the seed', () => {
    const x = ones([64]);
    assert.equal(dropout(x, 0.5, false, new Rng(1)), x);
    assert.deepEqual(
      dropout(x, 0.5, true, new Rng(3)).toArray(),
      dropout(x, 0.5, true, new Rng(3)).toArray(),
    );
  });

  it('drop-path drops whole samples', () => {
    const y = dropPath(ones([2000, 3, 4]), 0.3, true, new Rng(2)).toArray();
    for (let s = 0; s < 2000; s++) {
      const row = y.slice(s * 12, (s + 1) * 12);
      assert.ok(
        row.every((v) => v === row[0]),
        `sample ${s} is partly dropped`,
      );
    }
    const keptFraction = y.filter((v) => v !== 0).length / y.length;
    assert.ok(Math.abs(keptFraction - 0.7) < 0.03, `kept fraction ${keptFraction}`);
  });

  it('a mask drawn at an offset is that slice of the larger mask', () => {
    const whole = new Float32Array(1000);
    dispatch.dropoutMask({ seed: 77, p: 0.3, mask: whole });
    const part = new Float32Array(300);
    dispatch.dropoutMask({ seed: 77, p: 0.3, mask: part, offset: 450 });
    assert.deepEqual(part, whole.subarray(450, 750));
    assert.throws(
      () => dispatch.dropoutMask({ seed: 1, p: 0.5, mask: part, offset: 2 ** 32 - 10 }),
      /32-bit counter/,
    );
  });

  it('gradients match finite differences (same mask each call)', () => {
    const rng = new Rng(4);
    const x = param(randTensor([3, 4, 5], rng));
    gradcheck((t) => dropout(t, 0.3, true, new Rng(11)), [x]);
    gradcheck((t) => dropPath(t, 0.5, true, new Rng(12)), [x]);
    const r = param(randTensor([3, 4, 5], rng));
    gradcheck((a, b) => addDropPath(a, b, 0.5, true, new Rng(13)), [r, x]);
  });

  it('the fused residual add equals x + dropPath(branch) with the same mask, both ways', () => {
    const rng = new Rng(5);
    const run = (fused: boolean): number[][] => {
      const x = param(randTensor([6, 5, 8], new Rng(6)));
      const b = param(randTensor([6, 5, 8], new Rng(7)));
      const w = randTensor([6, 5, 8], new Rng(8));
      const y = fused ? addDropPath(x, b, 0.4, true, new Rng(9)) : add(x, dropPath(b, 0.4, true, new Rng(9)));
      backward(sum(mul(y, w)));
      return [y.toArray(), (x.grad as Tensor).toArray(), (b.grad as Tensor).toArray()];
    };
    const [fused, plain] = [run(true), run(false)];
    fused.forEach((v, i) => assertClose(v, plain[i], 1e-6, 1e-6, ['y', 'dx', 'dbranch'][i]));
    assert.ok(
      fused[2].some((v) => v === 0) && fused[2].some((v) => v !== 0),
      'some samples dropped, some kept',
    );
    const x = randTensor([2, 3], rng);
    assert.deepEqual(
      addDropPath(x, x, 0.4, false, new Rng(1)).toArray(),
      add(x, x).toArray(),
      'eval: plain add',
    );
  });
});
