/**
 * The portable backend: every kernel in plain TypeScript. It is the reference the native backend is
 * tested against, and what lape runs on where oneDNN is not installed (`LAPE_BACKEND=js`).
 */
import type { Backend } from '../backend.js';
import { cast } from './cast.js';
import { col2im, im2col, maxPool2d } from './conv.js';
import { gatherRows, scatterAddRows, stridedCopy } from './copy.js';
import { addScaledRows, dropoutMask } from './dropout.js';
import { affine, binary, pow, unary, unaryBackward } from './elementwise.js';
import { layerNorm, layerNormBackward } from './layer_norm.js';
import { matmul, matmulStrided } from './matmul.js';
import { adamw, sgd } from './optim.js';
import { reduceMax, reduceSum, sumSquares } from './reduce.js';
import { softmax, softmaxBackward } from './softmax.js';

export const jsBackend: Backend = {
  name: 'js',
  matmul,
  matmulStrided,
  cast,
  unary,
  unaryBackward,
  affine,
  pow,
  binary,
  reduceSum,
  reduceMax,
  stridedCopy,
  softmax,
  softmaxBackward,
  layerNorm,
  layerNormBackward,
  dropoutMask,
  addScaledRows,
  im2col,
  col2im,
  maxPool2d,
  gatherRows,
  scatterAddRows,
  adamw,
  sgd,
  sumSquares,
};
