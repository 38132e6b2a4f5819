/**
 * Every kernel's comparison cases (typed over every kernel name: a new kernel does not compile without
 * cases) and the comparison of one case on the native and the portable backend.
 */
import assert from 'node:assert/strict';

import { bf16ToFloat32 } from '../../../tensor/bf16.js';
import type { Backend } from '../../backend.js';
import { jsBackend } from '../../js/index.js';
import type { AnyArray } from '../../kernel.js';
import type { KernelArgs, KernelName } from '../../kernels.js';
import { type Cases, type KernelCase, close, exact } from './common.js';
import { matmulCases, matmulStridedCases } from './gemm.js';
import {
  binaryCases,
  elementwiseScalarCases,
  reduceMaxCases,
  reduceSumCases,
  stridedCopyCases,
  unaryBackwardCases,
  unaryCases,
} from './pointwise.js';
import {
  col2imCases,
  addScaledRowsCases,
  dropoutMaskCases,
  gatherRowsCases,
  im2colCases,
  layerNormBackwardCases,
  layerNormCases,
  maxPool2dCases,
  scatterAddRowsCases,
  softmaxBackwardCases,
  softmaxCases,
} from './nn.js';
import { adamwCases, castCases, sgdCases, sumSquaresCases } from './optim.js';

export const CASES: Cases = {
  matmul: matmulCases,
  matmulStrided: matmulStridedCases,
  cast: castCases,
  unary: unaryCases,
  unaryBackward: unaryBackwardCases,
  affine: () => elementwiseScalarCases().affine,
  pow: () => elementwiseScalarCases().pow,
  binary: binaryCases,
  reduceSum: reduceSumCases,
  reduceMax: reduceMaxCases,
  stridedCopy: stridedCopyCases,
  softmax: softmaxCases,
  softmaxBackward: softmaxBackwardCases,
  layerNorm: layerNormCases,
  layerNormBackward: layerNormBackwardCases,
  dropoutMask: dropoutMaskCases,
  addScaledRows: addScaledRowsCases,
  im2col: im2colCases,
  col2im: col2imCases,
  maxPool2d: maxPool2dCases,
  gatherRows: gatherRowsCases,
  scatterAddRows: scatterAddRowsCases,
  adamw: adamwCases,
  sgd: sgdCases,
  sumSquares: sumSquaresCases,
};

/** The numbers a buffer holds (bfloat16 widened). */
export function values(x: AnyArray): ArrayLike<number> {
  if (!(x instanceof Uint16Array)) return x;
  const out = new Float32Array(x.length);
  bf16ToFloat32(x, out);
  return out;
}

/** Runs one case on both backends and compares every output (and the result, if any). */
export function compare<K extends KernelName>(name: K, cs: KernelCase<K>, nb: Backend): void {
  const run = (backend: Backend): { args: KernelArgs<K>; result: unknown } => {
    const args = cs.args();
    const result = (backend[name] as (a: KernelArgs<K>) => unknown)(args);
    return { args, result };
  };
  const j = run(jsBackend);
  const n = run(nb);
  for (const key of cs.outputs) {
    const [a, e] = [n.args[key], j.args[key]] as unknown as [AnyArray | null, AnyArray | null];
    if (e === null || a === null) {
      assert.equal(a, e, `${cs.what}: ${String(key)}`);
      continue;
    }
    if (cs.tol === 'exact') exact(a, e, `${cs.what}: ${String(key)}`);
    else close(values(a), values(e), cs.tol.rtol, cs.tol.atol, `${cs.what}: ${String(key)}`);
  }
  if (typeof j.result === 'number') {
    assert.equal(typeof n.result, 'number');
    const { rtol } = cs.tol === 'exact' ? { rtol: 0 } : cs.tol;
    const [a, e] = [n.result as number, j.result];
    assert.ok(Math.abs(a - e) <= rtol * Math.max(1, Math.abs(e)), `${cs.what}: ${a} vs ${e}`);
  }
}
