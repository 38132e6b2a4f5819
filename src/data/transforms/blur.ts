/**
 * PIL's ImageFilter.GaussianBlur(radius) on 8-bit images (DeiT III's 3-Augment blurs with it): three
 * passes of an extended box blur per direction whose fractional radius matches the Gaussian's
 * variance (Gwosdek et al., "Theoretical foundations of Gaussian convolution by extended box
 * filtering"), in PIL's fixed-point arithmetic and single-precision radius, so the result is PIL's to
 * the byte (checked against Pillow in pil_parity.test.ts).
 */
import type { ImageU8 } from '../image.js';

const f = Math.fround;

/** The fractional box radius whose `passes` box blurs have the Gaussian's variance (float32, as PIL). */
export function boxRadiusForGaussian(radius: number, passes = 3): number {
  const r = f(radius);
  const sigma2 = f(f(r * r) / passes);
  const L = f(Math.sqrt(12.0 * sigma2 + 1.0));
  const l = f(Math.floor((L - 1.0) / 2.0));
  let a = f(f(2 * l + 1) * f(f(l * f(l + 1)) - f(3 * sigma2)));
  a = f(a / f(6 * f(sigma2 - f(f(l + 1) * f(l + 1)))));
  return f(l + a);
}

/**
 * One box-blur pass along rows: `src` and `dst` are `lines` lines of `n` pixels of `c` channels,
 * each line at offset line * lineStride with pixels `step` apart (so columns blur through the same code).
 */
function boxBlurLines(
  src: Uint8Array,
  dst: Uint8Array,
  lines: number,
  n: number,
  c: number,
  lineStride: number,
  step: number,
  floatRadius: number,
): void {
  const radius = Math.trunc(floatRadius);
  const ww = Math.trunc(f(16777216 / f(f(floatRadius * 2) + 1)));
  const fw = Math.floor((16777216 - (radius * 2 + 1) * ww) / 2);
  const edgeA = Math.min(radius + 1, n);
  const edgeB = Math.max(n - radius - 1, 0);
  const last = n - 1;
  const out = new Uint8Array(n);
  for (let line = 0; line < lines; line++) {
    for (let ch = 0; ch < c; ch++) {
      const base = line * lineStride + ch;
      const at = (x: number): number => src[base + x * step];
      let acc = at(0) * (radius + 1);
      for (let x = 0; x < edgeA - 1; x++) acc += at(x);
      acc += at(last) * (radius - edgeA + 1);
      // PIL computes in UINT32, which wraps for wide boxes over bright pixels: so does this.
      const save = (x: number, left: number, right: number): void => {
        const bulk = (acc * ww + (at(left) + at(right)) * fw) % 4294967296;
        out[x] = Math.floor(((bulk + 8388608) % 4294967296) / 16777216) & 255;
      };
      if (edgeA <= edgeB) {
        for (let x = 0; x < edgeA; x++) {
          acc += at(x + radius) - at(0);
          save(x, 0, x + radius + 1);
        }
        for (let x = edgeA; x < edgeB; x++) {
          acc += at(x + radius) - at(x - radius - 1);
          save(x, x - radius - 1, x + radius + 1);
        }
        for (let x = edgeB; x <= last; x++) {
          acc += at(last) - at(x - radius - 1);
          save(x, x - radius - 1, last);
        }
      } else {
        for (let x = 0; x < edgeB; x++) {
          acc += at(x + radius) - at(0);
          save(x, 0, last);
        }
        for (let x = edgeB; x < edgeA; x++) {
          acc += at(last) - at(0);
          save(x, 0, last);
        }
        for (let x = edgeA; x <= last; x++) {
          acc += at(last) - at(x - radius - 1);
          save(x, x - radius - 1, last);
        }
      }
      for (let x = 0; x < n; x++) dst[base + x * step] = out[x];
    }
  }
}

/** PIL's `img.filter(ImageFilter.GaussianBlur(radius))`. */
export function gaussianBlur(img: ImageU8, radius: number): ImageU8 {
  const { width: w, height: h, channels: c } = img;
  const box = boxRadiusForGaussian(radius);
  const data = Uint8Array.from(img.data);
  if (box !== 0) {
    for (let pass = 0; pass < 3; pass++) boxBlurLines(data, data, h, w, c, w * c, c, box);
    for (let pass = 0; pass < 3; pass++) boxBlurLines(data, data, w, h, c, c, w * c, box);
  }
  return { data, width: w, height: h, channels: c };
}
