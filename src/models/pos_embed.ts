/** Fixed position tables: 1-D and 2-D sinusoids, and the 2-D relative-position index. */
import { Tensor } from '../tensor/tensor.js';

/** [tokens, dim]: pe[p, i] = sin/cos(p / 10000^(2*(i//2)/dim)), sin on even i. */
export function sinusoid1d(tokens: number, dim: number): Tensor {
  const t = Tensor.empty([tokens, dim]);
  for (let p = 0; p < tokens; p++) {
    for (let i = 0; i < dim; i++) {
      const angle = p / Math.pow(10000, (2 * Math.floor(i / 2)) / dim);
      t.data[p * dim + i] = i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return t;
}

/**
 * [prefix + h*w, dim]: the first half of the channels encodes the column, the second half the row
 * (sin on even, cos on odd channels of each half); prefix-token slots are zero.
 */
export function sinusoid2d(h: number, w: number, dim: number, prefix: number): Tensor {
  const half = dim / 2;
  const t = Tensor.empty([prefix + h * w, dim]);
  t.data.fill(0);
  const freqs: number[] = [];
  for (let i = 0; i < half; i += 2) freqs.push(Math.exp(i * -(Math.log(10000) / half)));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const row = (prefix + y * w + x) * dim;
      freqs.forEach((f, j) => {
        t.data[row + 2 * j] = Math.sin(x * f);
        t.data[row + 2 * j + 1] = Math.cos(x * f);
        t.data[row + half + 2 * j] = Math.sin(y * f);
        t.data[row + half + 2 * j + 1] = Math.cos(y * f);
      });
    }
  }
  return t;
}

/** [h*w, h*w] int32: index of (Δrow, Δcol) in a (2h-1)(2w-1) table, as Swin/the reference. */
export function relativePositionIndex(h: number, w: number): Tensor {
  const n = h * w;
  const t = Tensor.emptyInt([n, n]);
  for (let i = 0; i < n; i++) {
    const yi = Math.floor(i / w);
    const xi = i % w;
    for (let j = 0; j < n; j++) {
      const yj = Math.floor(j / w);
      const xj = j % w;
      t.ints[i * n + j] = (yi - yj + h - 1) * (2 * w - 1) + (xi - xj + w - 1);
    }
  }
  return t;
}
