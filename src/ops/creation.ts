/** Tensor creation: constants, ranges, copies, and seeded random tensors. */
import { defaultRng, type Rng } from '../tensor/random.js';
import { assertShape, fmtShape, sizeOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

export function full(shape: Shape, value: number): Tensor {
  const t = Tensor.empty(shape);
  t.data.fill(value);
  return t;
}

export function zeros(shape: Shape): Tensor {
  return full(shape, 0);
}

export function ones(shape: Shape): Tensor {
  return full(shape, 1);
}

/** Float tensor from values (copied); `shape` defaults to 1-D. */
export function tensor(values: ArrayLike<number>, shape: Shape = [values.length]): Tensor {
  assertShape('tensor', shape);
  if (values.length !== sizeOf(shape)) {
    throw new Error(`tensor: ${values.length} values do not fill shape ${fmtShape(shape)}`);
  }
  const t = Tensor.empty(shape);
  t.data.set(values);
  return t;
}

/** Int32 tensor from values (copied), e.g. labels or gather indices. */
export function intTensor(values: ArrayLike<number>, shape: Shape = [values.length]): Tensor {
  if (values.length !== sizeOf(shape)) {
    throw new Error(`intTensor: ${values.length} values do not fill shape ${fmtShape(shape)}`);
  }
  const t = Tensor.emptyInt(shape);
  t.ints.set(values);
  return t;
}

/** [start, start+step, ...) below `end`, as float32. */
export function arange(start: number, end?: number, step = 1): Tensor {
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  if (step === 0) throw new Error('arange: step must be non-zero');
  const n = Math.max(0, Math.ceil((hi - lo) / step));
  const t = Tensor.empty([n]);
  for (let i = 0; i < n; i++) t.data[i] = lo + i * step;
  return t;
}

/** A detached copy with its own storage (no graph). */
export function clone(x: Tensor): Tensor {
  if (x.dtype === 'int32') {
    const t = Tensor.emptyInt(x.shape);
    t.ints.set(x.ints);
    return t;
  }
  const t = Tensor.empty(x.shape);
  t.data.set(x.data);
  return t;
}

export function randUniform(shape: Shape, low = 0, high = 1, rng: Rng = defaultRng()): Tensor {
  const t = Tensor.empty(shape);
  rng.fillUniform(t.data, low, high);
  return t;
}

export function randNormal(shape: Shape, mean = 0, std = 1, rng: Rng = defaultRng()): Tensor {
  const t = Tensor.empty(shape);
  rng.fillNormal(t.data, mean, std);
  return t;
}

/** timm's trunc_normal_: normal(mean, std) truncated to the absolute bounds [a, b]. */
export function truncNormal(shape: Shape, std = 1, mean = 0, a = -2, b = 2, rng: Rng = defaultRng()): Tensor {
  const t = Tensor.empty(shape);
  rng.fillTruncNormal(t.data, mean, std, a, b);
  return t;
}
