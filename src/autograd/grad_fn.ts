import type { Tensor } from '../tensor/tensor.js';

/**
 * One recorded op in the autograd graph: its inputs and the function mapping the gradient of its output
 * to the gradients of its inputs (null where an input needs none).
 */
export interface GradFn {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  backward(dy: Tensor): readonly (Tensor | null)[];
  /**
   * Whether `backward` takes `dy` in bfloat16 (a gradient a bfloat16 GEMM passed back under autocast,
   * kept in bfloat16 because this op feeds it to a GEMM or a kernel that reads bfloat16). Every other
   * op receives its gradient in float32: the tape widens it (exactly) first.
   */
  readonly bf16Grad?: boolean;
}
