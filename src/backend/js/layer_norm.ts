import { fromBf16Bits, toBf16Bits } from '../../tensor/bf16.js';
import type { KernelArgs } from '../kernels.js';

export function layerNorm(args: KernelArgs<'layerNorm'>): void {
  const { x, gamma, beta, y, mean, rstd, rows, cols, eps, addend, addendRows } = args;
  const half = y instanceof Uint16Array;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += x[o + j];
    const mu = s / cols;
    let v = 0;
    for (let j = 0; j < cols; j++) {
      const d = x[o + j] - mu;
      v += d * d;
    }
    // Biased variance, as torch.nn.LayerNorm.
    const rs = 1 / Math.sqrt(v / cols + eps);
    mean[r] = mu;
    rstd[r] = rs;
    const ao = addend ? (r % addendRows) * cols : 0;
    for (let j = 0; j < cols; j++) {
      let t = (x[o + j] - mu) * rs;
      if (gamma) t *= gamma[j];
      if (beta) t += beta[j];
      if (addend) t += addend[ao + j];
      y[o + j] = half ? toBf16Bits(t) : t;
    }
  }
}

export function layerNormBackward(args: KernelArgs<'layerNormBackward'>): void {
  const { x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols, accumulate } = args;
  const dy = args.dy instanceof Uint16Array ? Float32Array.from(args.dy, fromBf16Bits) : args.dy;
  const dg = new Float64Array(cols);
  const db = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const mu = mean[r];
    const rs = rstd[r];
    // dxhat = dy * gamma; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    let sumD = 0;
    let sumDX = 0;
    for (let j = 0; j < cols; j++) {
      const xh = (x[o + j] - mu) * rs;
      const d = gamma ? dy[o + j] * gamma[j] : dy[o + j];
      sumD += d;
      sumDX += d * xh;
      dg[j] += dy[o + j] * xh;
      db[j] += dy[o + j];
    }
    const mD = sumD / cols;
    const mDX = sumDX / cols;
    for (let j = 0; j < cols; j++) {
      const xh = (x[o + j] - mu) * rs;
      const d = gamma ? dy[o + j] * gamma[j] : dy[o + j];
      dx[o + j] = (accumulate ? dx[o + j] : 0) + rs * (d - mD - xh * mDX);
    }
  }
  if (dgamma) for (let j = 0; j < cols; j++) dgamma[j] = dg[j];
  if (dbeta) for (let j = 0; j < cols; j++) dbeta[j] = db[j];
}
