/**
 * Mixed precision, following PyTorch's CPU autocast policy: inside `autocast(fn)` the GEMM-class ops
 * (linear, matmul, multi-head attention's GEMMs, and conv2d through its GEMM) multiply bfloat16
 * operands with float32 accumulation and return float32; everything else (layer norm, softmax, losses,
 * reductions, element-wise ops, optimizers) stays float32, as do parameters and their gradients. bfloat16
 * has float32's exponent range, so no loss scaling is needed.
 *
 * An op decides its precision when it runs forward; its backward pass (which may run after the scope
 * has closed) multiplies in the same precision. What a GEMM op saves for its backward pass is the
 * bfloat16 copy of its operands, which it needs anyway.
 */
import { dispatch } from '../backend/dispatch.js';
import { bf16Support } from '../backend/registry.js';
import { Tensor } from '../tensor/tensor.js';

/** The lower-precision type autocast computes GEMMs in. */
export type AutocastDType = 'bfloat16';

export interface AutocastOptions {
  /** Default true; false runs `fn` in float32 (handy for a flag). */
  enabled?: boolean;
}

let depth = 0;
let disabled = 0;

/** Runs `fn` with autocast on (nested scopes are fine; `enabled: false` turns it off inside). */
export function autocast<T>(fn: () => T, options: AutocastOptions = {}): T {
  const enabled = options.enabled ?? true;
  if (enabled) depth++;
  else disabled++;
  try {
    return fn();
  } finally {
    if (enabled) depth--;
    else disabled--;
  }
}

/** The type GEMM-class ops multiply in right now. */
export function gemmDType(): 'float32' | AutocastDType {
  return depth > 0 && disabled === 0 ? 'bfloat16' : 'float32';
}

let warned = false;

/** A request for mixed precision resolved without a word: true when the hardware runs bfloat16 GEMMs. */
export function ampEnabled(requested: boolean): boolean {
  return requested && bf16Support().native;
}

/**
 * Resolves a user's request for mixed precision (`--amp`): true when the hardware runs bfloat16
 * GEMMs; otherwise `warn` is called once per process with the reason, and the run is float32 (the
 * same results as without the request).
 */
export function ampAvailable(requested: boolean, warn: (message: string) => void): boolean {
  if (!requested) return false;
  const support = bf16Support();
  if (support.native) return true;
  if (!warned) {
    warned = true;
    warn(`--amp: no bfloat16 hardware (${support.reason}); running in float32`);
  }
  return false;
}

/**
 * Options of ops whose result may be produced in bfloat16 directly when a GEMM is its only consumer:
 * under autocast the GEMM would round it anyway, so writing it in bfloat16 saves a float32 write and
 * a conversion pass (PyTorch's autocast keeps such activations in bfloat16 too).
 */
export interface GemmOperandOptions {
  /**
   * The result is only ever read by a GEMM-class op (linear, attention, matmul), or by an element-wise
   * op on the way to one that reads bfloat16 exactly as PyTorch's autocast hands it over (GELU between
   * an MLP's two linears: fc1's output is bfloat16 there too).
   */
  feedsGemm?: boolean;
}

/** The dtype of a result: bfloat16 when it only feeds GEMMs and autocast is on, else float32. */
export function resultDType(opts: GemmOperandOptions | undefined): 'float32' | AutocastDType {
  return opts?.feedsGemm ? gemmDType() : 'float32';
}

/** An uninitialized result tensor of `resultDType(opts)`. */
export function emptyResult(shape: readonly number[], opts: GemmOperandOptions | undefined): Tensor {
  return resultDType(opts) === 'bfloat16' ? Tensor.emptyBf16(shape) : Tensor.empty(shape);
}

/**
 * An uninitialized tensor for the gradient of `x`, computed by an op whose GEMMs ran in bfloat16
 * (`half`): bfloat16 when x's producer takes a bfloat16 gradient (it feeds a GEMM-class op or a
 * kernel that reads bfloat16 itself, see `GradFn.bf16Grad`), saving a float32 write and a conversion
 * pass; float32 otherwise. PyTorch's autocast passes such gradients in bfloat16 too.
 */
export function emptyGrad(x: Tensor, half: boolean): Tensor {
  return half && x.gradFn?.bf16Grad ? Tensor.emptyBf16(x.shape) : Tensor.empty(x.shape);
}

/**
 * `x` rounded to bfloat16 (a new tensor, not part of the graph; the caller disposes it), or `x` itself
 * when it already is bfloat16.
 */
export function toBf16(x: Tensor): Tensor {
  if (x.dtype === 'bfloat16') return x;
  const out = Tensor.emptyBf16(x.shape);
  dispatch.cast({ x, out });
  return out;
}

/** A float32 copy of a bfloat16 tensor (exact), or `x` itself when it already is float32. */
export function toFloat32Tensor(x: Tensor): Tensor {
  if (x.dtype === 'float32') return x;
  const out = Tensor.empty(x.shape);
  dispatch.cast({ x, out });
  return out;
}
