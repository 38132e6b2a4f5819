/** Ops with a scalar operand. */
import { record } from '../autograd/tape.js';
import { dispatch } from '../backend/dispatch.js';
import { Tensor } from '../tensor/tensor.js';

/** x * alpha + beta. */
export function affine(x: Tensor, alpha: number, beta = 0): Tensor {
  const out = Tensor.empty(x.shape);
  dispatch.affine({ x, out, alpha, beta });
  return record(out, { name: 'affine', attrs: { alpha, beta } }, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    dispatch.affine({ x: dy, out: dx, alpha });
    return [dx];
  });
}

export const mulScalar = (x: Tensor, s: number): Tensor => affine(x, s, 0);
export const addScalar = (x: Tensor, s: number): Tensor => affine(x, 1, s);

export function powScalar(x: Tensor, p: number): Tensor {
  const out = Tensor.empty(x.shape);
  dispatch.pow({ x, out, p });
  return record(out, { name: 'pow', attrs: { p } }, [x], (dy) => {
    // d/dx x^p = p x^(p-1)
    const t = Tensor.empty(x.shape);
    dispatch.pow({ x, out: t, p: p - 1 });
    const dx = Tensor.empty(x.shape);
    dispatch.binary({ op: 'mul', a: t, aStrides: [1], b: dy, bStrides: [1], out: dx, shape: [x.size] });
    dispatch.affine({ x: dx, out: dx, alpha: p });
    t.dispose();
    return [dx];
  });
}
