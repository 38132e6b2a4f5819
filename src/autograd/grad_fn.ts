import type { Tensor } from '../tensor/tensor.js';

/**
 * One recorded op in the autograd graph: its inputs and the function mapping the gradient of its output
 * to the gradients of its inputs (null where an input needs none).
 */
export interface GradFn {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  backward(dy: Tensor): readonly (Tensor | null)[];
}
