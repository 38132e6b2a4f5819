/** Element-wise unary functions; each saves what its derivative needs. */
import { record } from '../autograd/tape.js';
import type { UnaryOp } from '../backend/backend.js';
import { dispatch } from '../backend/dispatch.js';
import { UNARY_OPS_WITH_Y_DERIVATIVE } from '../backend/kernels.js';
import { Tensor } from '../tensor/tensor.js';
import { emptyGrad, emptyResult, gemmDType, type GemmOperandOptions } from './autocast.js';

function unaryOp(op: UnaryOp, x: Tensor, opts?: GemmOperandOptions): Tensor {
  // An op whose derivative reads its output keeps that output in float32, and reads float32 x.
  const needsY = UNARY_OPS_WITH_Y_DERIVATIVE.includes(op);
  if (x.dtype === 'int32' || (needsY && x.dtype !== 'float32'))
    throw new Error(`${op}: ${x.describe()} must be float32${needsY ? '' : ' or bfloat16'}`);
  const out = needsY ? Tensor.empty(x.shape) : emptyResult(x.shape, opts);
  dispatch.unary({ op, x, out });
  // Under autocast the kernel takes its gradient in bfloat16 (from a GEMM it feeds) and passes its own
  // back in bfloat16 where x's producer takes one (an MLP's GELU between fc1 and fc2).
  const half = gemmDType() === 'bfloat16';
  const backward = (dy: Tensor): Tensor[] => {
    const dx = emptyGrad(x, half);
    dispatch.unaryBackward({ op, x, y: needsY ? out : null, dy, dx });
    return [dx];
  };
  return record(out, op, [x], backward, { bf16Grad: half });
}

export const neg = (x: Tensor): Tensor => unaryOp('neg', x);
export const exp = (x: Tensor): Tensor => unaryOp('exp', x);
export const log = (x: Tensor): Tensor => unaryOp('log', x);
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', x);
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x);
export const erf = (x: Tensor): Tensor => unaryOp('erf', x);
/** GELU, exact erf form (PyTorch's default `approximate='none'`). */
export const gelu = (x: Tensor, opts?: GemmOperandOptions): Tensor => unaryOp('gelu', x, opts);
export const relu = (x: Tensor): Tensor => unaryOp('relu', x);
export const abs = (x: Tensor): Tensor => unaryOp('abs', x);
export const square = (x: Tensor): Tensor => unaryOp('square', x);
