/** Ops with a scalar operand. */
import { record } from '../autograd/tape.js';
import { getBackend } from '../backend/registry.js';
import { Tensor } from '../tensor/tensor.js';

/** x * alpha + beta. */
export function affine(x: Tensor, alpha: number, beta = 0): Tensor {
  const out = Tensor.empty(x.shape);
  const backend = getBackend();
  backend.affine(x.data, alpha, beta, out.data);
  return record(out, { name: 'affine', attrs: { alpha, beta } }, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    backend.affine(dy.data, alpha, 0, dx.data);
    return [dx];
  });
}

export const mulScalar = (x: Tensor, s: number): Tensor => affine(x, s, 0);
export const addScalar = (x: Tensor, s: number): Tensor => affine(x, 1, s);

export function powScalar(x: Tensor, p: number): Tensor {
  const out = Tensor.empty(x.shape);
  const backend = getBackend();
  backend.pow(x.data, p, out.data);
  return record(out, { name: 'pow', attrs: { p } }, [x], (dy) => {
    // d/dx x^p = p x^(p-1)
    const t = Tensor.empty(x.shape);
    backend.pow(x.data, p - 1, t.data);
    const dx = Tensor.empty(x.shape);
    backend.binary('mul', { data: t.data, strides: [1] }, { data: dy.data, strides: [1] }, dx.data, [x.size]);
    backend.affine(dx.data, p, 0, dx.data);
    t.dispose();
    return [dx];
  });
}
