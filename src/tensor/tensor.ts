/**
 * N-d tensors: float32 values, int32 indices or bfloat16 values (mixed precision, stored as the upper
 * 16 bits of a float32 in a Uint16Array), always contiguous in row-major order.
 *
 * Keeping every tensor contiguous keeps each kernel simple and fast; views such as transpose are
 * materialized by a strided copy (the attention reshapes need one in PyTorch too), and matmul takes
 * transposed operands directly so the common cases copy nothing.
 */
import type { GradFn } from '../autograd/grad_fn.js';
import { fromBf16Bits } from './bf16.js';
import {
  allocF32,
  allocI32,
  allocU16,
  release,
  trackAlloc,
  trackFree,
  trackInScope,
  untrack,
} from './memory.js';
import { fmtShape, sizeOf, assertShape, type Shape } from './shape.js';

export type DType = 'float32' | 'int32' | 'bfloat16';
type Buffer = Float32Array | Int32Array | Uint16Array;

let nextId = 1;

/** A buffer shared by a tensor and its reshaped views; released to the pool when the last one goes. */
interface Storage {
  readonly buf: Buffer;
  refs: number;
  /** Whether the buffer came from the pool and goes back to it; wrapped user arrays do not. */
  readonly pooled: boolean;
}

function newStorage(buf: Buffer, pooled: boolean): Storage {
  trackAlloc(buf.byteLength);
  return { buf, refs: 0, pooled };
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** Whether gradients flow to this tensor (parameters, and results of ops on them). */
  requiresGrad = false;
  /** Accumulated gradient of a leaf after `backward()`. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it is part of a recorded graph. */
  gradFn: GradFn | null = null;
  /** A human name (parameters carry their state-dict key) used in error messages. */
  name: string | undefined;
  private storage: Storage | null;
  private keptFlag = false;

  private constructor(shape: Shape, dtype: DType, storage: Storage) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = storage.buf.length;
    this.storage = storage;
    storage.refs++;
    trackInScope(this);
  }

  /** A float32 tensor whose contents are unspecified (pooled memory); kernels overwrite it. */
  static empty(shape: Shape): Tensor {
    assertShape('empty', shape);
    return new Tensor(shape, 'float32', newStorage(allocF32(sizeOf(shape)), true));
  }

  /** A bfloat16 tensor whose contents are unspecified (pooled memory). */
  static emptyBf16(shape: Shape): Tensor {
    assertShape('emptyBf16', shape);
    return new Tensor(shape, 'bfloat16', newStorage(allocU16(sizeOf(shape)), true));
  }

  static emptyInt(shape: Shape): Tensor {
    assertShape('emptyInt', shape);
    return new Tensor(shape, 'int32', newStorage(allocI32(sizeOf(shape)), true));
  }

  /** Wraps (does not copy) a typed array; its length must match the shape. */
  static fromData(data: Float32Array | Int32Array, shape: Shape): Tensor {
    assertShape('fromData', shape);
    if (data.length !== sizeOf(shape)) {
      throw new Error(`fromData: ${data.length} values do not fill shape ${fmtShape(shape)}`);
    }
    return new Tensor(shape, data instanceof Float32Array ? 'float32' : 'int32', newStorage(data, false));
  }

  /**
   * A new tensor object sharing this one's storage under another shape of the same size (reshape is
   * free on contiguous data). Storage is reference-counted, so either may be disposed first.
   */
  view(shape: Shape): Tensor {
    assertShape('view', shape);
    const storage = this.liveStorage();
    if (sizeOf(shape) !== this.size) {
      throw new Error(
        `reshape: cannot view ${this.describe()} (${this.size} elements) as ${fmtShape(shape)}`,
      );
    }
    return new Tensor(shape, this.dtype, storage);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  get kept(): boolean {
    return this.keptFlag;
  }

  /** The float32 values (throws for other dtypes or disposed tensors). */
  get data(): Float32Array {
    const b = this.liveStorage().buf;
    if (!(b instanceof Float32Array))
      throw new Error(`tensor ${this.describe()} is ${this.dtype}, expected float32`);
    return b;
  }

  /** The int32 values (throws for other dtypes or disposed tensors). */
  get ints(): Int32Array {
    const b = this.liveStorage().buf;
    if (!(b instanceof Int32Array))
      throw new Error(`tensor ${this.describe()} is ${this.dtype}, expected int32`);
    return b;
  }

  /** The bfloat16 values as raw 16-bit patterns (throws for other dtypes or disposed tensors). */
  get bf16(): Uint16Array {
    const b = this.liveStorage().buf;
    if (!(b instanceof Uint16Array))
      throw new Error(`tensor ${this.describe()} is ${this.dtype}, expected bfloat16`);
    return b;
  }

  /** The values' array whatever the dtype (kernels check the element type themselves). */
  get storageArray(): Buffer {
    return this.liveStorage().buf;
  }

  /** Marks the tensor as outliving every `tidy` scope (parameters, optimizer state). */
  keep(): this {
    this.keptFlag = true;
    untrack(this);
    return this;
  }

  /** Whether no other live tensor shares this one's storage (so writing into it affects only it). */
  get ownsStorage(): boolean {
    return this.storage !== null && this.storage.refs === 1;
  }

  dispose(): void {
    const st = this.storage;
    if (st === null) return;
    this.storage = null;
    this.gradFn = null;
    if (--st.refs === 0) {
      trackFree(st.buf.byteLength);
      if (st.pooled) release(st.buf);
    }
  }

  private liveStorage(): Storage {
    if (this.storage === null) throw new Error(`tensor ${this.describe()} was used after dispose()`);
    return this.storage;
  }

  /** A copy of the values as a plain array (flat, row-major). */
  toArray(): number[] {
    const b = this.liveStorage().buf;
    return b instanceof Uint16Array ? Array.from(b, fromBf16Bits) : Array.from(b);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new Error(`item(): tensor ${this.describe()} has ${this.size} elements, expected 1`);
    return this.toArray()[0];
  }

  describe(): string {
    return `${this.name ? `'${this.name}' ` : ''}${this.dtype}${fmtShape(this.shape)}`;
  }
}
