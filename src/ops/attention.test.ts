import { it } from 'node:test';
import { Rng } from '../tensor/random.js';
import { assertClose, describeBackends, gradcheck, param, randTensor } from '../../test/util.js';
import { add } from './binary.js';
import { attention } from './attention.js';
import { matmul } from './matmul.js';
import { permute, reshape } from './shape.js';
import { slice } from './slice.js';
import { softmax } from './softmax.js';
import type { Tensor } from '../tensor/tensor.js';

/** The textbook composition the fused op replaces (reshape, permute, slice, matmul, softmax). */
function reference(qkv: Tensor, heads: number, scale: number, bias: Tensor | null): Tensor {
  const [b, m, three] = qkv.shape;
  const d = three / 3;
  const hd = d / heads;
  const parts = permute(reshape(qkv, [b, m, 3, heads, hd]), [2, 0, 3, 1, 4]);
  const [q, k, v] = [0, 1, 2].map((i) => reshape(slice(parts, 0, i, i + 1), [b, heads, m, hd]));
  let logits = matmul(q, k, { transB: true, alpha: scale });
  if (bias) logits = add(logits, bias);
  const ctx = matmul(softmax(logits), v);
  return reshape(permute(ctx, [0, 2, 1, 3]), [b, m, d]);
}

describeBackends('attention (fused, from packed qkv)', () => {
  it('equals the composed reference, with and without a bias', () => {
    const rng = new Rng(21);
    const qkv = randTensor([2, 5, 3 * 6], rng, 2);
    const bias = randTensor([2, 5, 5], rng);
    assertClose(attention(qkv, { heads: 2, scale: 0.4 }).data, reference(qkv, 2, 0.4, null).data, 1e-5, 1e-5);
    assertClose(
      attention(qkv, { heads: 2, scale: 0.4, bias }).data,
      reference(qkv, 2, 0.4, bias).data,
      1e-5,
      1e-5,
    );
  });

  it('gradients match finite differences (qkv, bias, dropout)', () => {
    const rng = new Rng(22);
    const qkv = param(randTensor([2, 4, 3 * 4], rng));
    const bias = param(randTensor([2, 4, 4], rng));
    gradcheck((x, bb) => attention(x, { heads: 2, scale: 0.7, bias: bb }), [qkv, bias]);
    gradcheck((x) => attention(x, { heads: 1, scale: 0.5, dropout: { p: 0.3, rng: new Rng(5) } }), [qkv]);
  });
});
