import type { Tensor } from '../tensor/tensor.js';

/**
 * One recorded op in the autograd graph: its inputs and the function mapping the gradient of its output
 * to the gradients of its inputs (null where an input needs none).
 */
export interface GradFn {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /**
   * With `accumulates`, `into[j]` may hold the gradient input j has received so far (float32, owned by
   * the tape alone): the op may add its own gradient into it in place and return that same tensor,
   * which saves a separate addition pass (a residual stream's gradient meeting a norm's).
   */
  backward(dy: Tensor, into?: readonly (Tensor | null)[]): readonly (Tensor | null)[];
  readonly accumulates?: boolean;
  /**
   * Whether `backward` takes `dy` in bfloat16 (a gradient a bfloat16 GEMM passed back under autocast,
   * kept in bfloat16 because this op feeds it to a GEMM or a kernel that reads bfloat16). Every other
   * op receives its gradient in float32: the tape widens it (exactly) first.
   */
  readonly bf16Grad?: boolean;
}
