/**
 * PIL's Image.transform(size, AFFINE, (a, b, c, d, e, f)) and Image.rotate, which RandAugment's
 * geometric ops are defined by: output pixel centre (x + 0.5, y + 0.5) samples the input at
 * (a x' + b y' + c, d x' + e y' + f); samples outside the input take the fill colour. Bilinear and
 * bicubic values are truncated to bytes as PIL does; outputs are bit-identical to Pillow 9.4's
 * (pil_parity.test.ts).
 */
import type { ImageU8 } from '../image.js';
import type { Interpolation } from './resize.js';

/** (a, b, c, d, e, f): the output-to-input map, as PIL takes it. */
export type AffineMatrix = readonly [number, number, number, number, number, number];

/** PIL's cubic convolution kernel for geometric transforms (a = -1 in Keys' family, as in Geometry.c). */
function cubic(v1: number, v2: number, v3: number, v4: number, d: number): number {
  const p1 = v2;
  const p2 = -v1 + v3;
  const p3 = 2 * (v1 - v2) + v3 - v4;
  const p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

/** PIL stores interpolated values by C truncation after clipping to [0, 255]. */
function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
}

function clampIndex(i: number, n: number): number {
  return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/**
 * Warps `img` by the output-to-input affine map `m` into an image of the same size.
 * @param fill one value per channel for pixels that map outside the input
 */
export function affine(
  img: ImageU8,
  m: AffineMatrix,
  interp: Interpolation,
  fill: readonly number[],
): ImageU8 {
  const { height: H, width: W, channels: C, data } = img;
  const out = new Uint8Array(H * W * C);
  const [a, b, c0, d, e, f0] = m;
  const rowLen = W * C;
  // Hot loop: no closures here (they cost an allocation per pixel, and more under tsx's keepNames).
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const xin = a * (x + 0.5) + b * (y + 0.5) + c0;
      const yin = d * (x + 0.5) + e * (y + 0.5) + f0;
      const o = (y * W + x) * C;
      if (!(xin >= 0 && xin < W && yin >= 0 && yin < H)) {
        for (let k = 0; k < C; k++) out[o + k] = fill[k];
        continue;
      }
      if (interp === 'nearest') {
        const s = (Math.floor(yin) * W + Math.floor(xin)) * C;
        for (let k = 0; k < C; k++) out[o + k] = data[s + k];
        continue;
      }
      const xs = xin - 0.5;
      const ys = yin - 0.5;
      const x0 = Math.floor(xs);
      const y0 = Math.floor(ys);
      const dx = xs - x0;
      const dy = ys - y0;
      if (interp === 'bilinear') {
        const r0 = clampIndex(y0, H) * rowLen;
        const r1 = clampIndex(y0 + 1, H) * rowLen;
        const c0i = clampIndex(x0, W) * C;
        const c1i = clampIndex(x0 + 1, W) * C;
        for (let k = 0; k < C; k++) {
          const top = data[r0 + c0i + k] + dx * (data[r0 + c1i + k] - data[r0 + c0i + k]);
          const bot = data[r1 + c0i + k] + dx * (data[r1 + c1i + k] - data[r1 + c0i + k]);
          out[o + k] = clampByte(top + dy * (bot - top));
        }
        continue;
      }
      const cx0 = clampIndex(x0 - 1, W) * C;
      const cx1 = clampIndex(x0, W) * C;
      const cx2 = clampIndex(x0 + 1, W) * C;
      const cx3 = clampIndex(x0 + 2, W) * C;
      const r0 = clampIndex(y0 - 1, H) * rowLen;
      const r1 = clampIndex(y0, H) * rowLen;
      const r2 = clampIndex(y0 + 1, H) * rowLen;
      const r3 = clampIndex(y0 + 2, H) * rowLen;
      for (let k = 0; k < C; k++) {
        const v0 = cubic(data[r0 + cx0 + k], data[r0 + cx1 + k], data[r0 + cx2 + k], data[r0 + cx3 + k], dx);
        const v1 = cubic(data[r1 + cx0 + k], data[r1 + cx1 + k], data[r1 + cx2 + k], data[r1 + cx3 + k], dx);
        const v2 = cubic(data[r2 + cx0 + k], data[r2 + cx1 + k], data[r2 + cx2 + k], data[r2 + cx3 + k], dx);
        const v3 = cubic(data[r3 + cx0 + k], data[r3 + cx1 + k], data[r3 + cx2 + k], data[r3 + cx3 + k], dx);
        out[o + k] = clampByte(cubic(v0, v1, v2, v3, dy));
      }
    }
  }
  return { data: out, height: H, width: W, channels: C };
}

/** PIL Image.rotate(degrees) about the image centre, counter-clockwise, same output size. */
export function rotationMatrix(degrees: number, width: number, height: number): AffineMatrix {
  const angle = (-(degrees % 360) * Math.PI) / 180;
  // PIL rounds to 15 decimals so that multiples of 90 degrees are exact.
  const r15 = (v: number): number => Math.round(v * 1e15) / 1e15;
  const cos = r15(Math.cos(angle));
  const sin = r15(Math.sin(angle));
  const cx = width / 2;
  const cy = height / 2;
  // Input = R (output - centre) + centre.
  return [cos, sin, cos * -cx + sin * -cy + cx, -sin, cos, -sin * -cx + cos * -cy + cy];
}
