import type { KernelArgs } from '../kernels.js';

export function stridedCopy(args: KernelArgs<'stridedCopy'>): void {
  const { src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape, accumulate } = args;
  const rank = shape.length;
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  if (rank === 0) {
    dst[dstOffset] = accumulate ? dst[dstOffset] + src[srcOffset] : src[srcOffset];
    return;
  }
  const last = rank - 1;
  const n = shape[last];
  const ss = srcStrides[last];
  const ds = dstStrides[last];
  const idx = new Array<number>(rank).fill(0);
  let os = srcOffset;
  let od = dstOffset;
  for (let done = 0; done < total; done += n) {
    if (accumulate) {
      for (let j = 0; j < n; j++) dst[od + j * ds] += src[os + j * ss];
    } else {
      for (let j = 0; j < n; j++) dst[od + j * ds] = src[os + j * ss];
    }
    for (let ax = last - 1; ax >= 0; ax--) {
      idx[ax]++;
      os += srcStrides[ax];
      od += dstStrides[ax];
      if (idx[ax] < shape[ax]) break;
      os -= srcStrides[ax] * shape[ax];
      od -= dstStrides[ax] * shape[ax];
      idx[ax] = 0;
    }
  }
}

export function gatherRows({ x, idx, out, width }: KernelArgs<'gatherRows'>): void {
  for (let i = 0; i < idx.length; i++) {
    const from = idx[i] * width;
    out.set(x.subarray(from, from + width), i * width);
  }
}

export function scatterAddRows({ dy, idx, dx, width }: KernelArgs<'scatterAddRows'>): void {
  for (let i = 0; i < idx.length; i++) {
    const to = idx[i] * width;
    const from = i * width;
    for (let j = 0; j < width; j++) dx[to + j] += dy[from + j];
  }
}
