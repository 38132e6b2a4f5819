/**
 * Adapting a checkpoint to a model of another image size or class count (DeiT's `--finetune`):
 * position embeddings and relative-position tables are resized over their grid with bicubic
 * interpolation (PyTorch's `F.interpolate(mode='bicubic', align_corners=False)`), fixed tables are
 * rebuilt by the model, and a classifier of another size is dropped.
 */
import { fromFloat32, toFloat32, type HostTensor, type StateDict } from '../io/host_tensor.js';
import type { VisionTransformer } from './vision_transformer.js';

/** PyTorch's cubic convolution kernel, a = -0.75. */
function cubic(x: number): number {
  const a = -0.75;
  const t = Math.abs(x);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/** Resizes `channels` planes of h x w to nh x nw (channels-first), bicubic, align_corners=False. */
export function resizeBicubic(
  src: Float32Array,
  channels: number,
  h: number,
  w: number,
  nh: number,
  nw: number,
): Float32Array {
  const out = new Float32Array(channels * nh * nw);
  const sy = h / nh;
  const sx = w / nw;
  const clampY = (v: number): number => Math.min(h - 1, Math.max(0, v));
  const clampX = (v: number): number => Math.min(w - 1, Math.max(0, v));
  for (let oy = 0; oy < nh; oy++) {
    const fy = (oy + 0.5) * sy - 0.5;
    const y0 = Math.floor(fy);
    const ty = fy - y0;
    const wy = [cubic(1 + ty), cubic(ty), cubic(1 - ty), cubic(2 - ty)];
    for (let ox = 0; ox < nw; ox++) {
      const fx = (ox + 0.5) * sx - 0.5;
      const x0 = Math.floor(fx);
      const tx = fx - x0;
      const wx = [cubic(1 + tx), cubic(tx), cubic(1 - tx), cubic(2 - tx)];
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let i = 0; i < 4; i++) {
          const row = c * h * w + clampY(y0 - 1 + i) * w;
          for (let j = 0; j < 4; j++) acc += wy[i] * wx[j] * src[row + clampX(x0 - 1 + j)];
        }
        out[(c * nh + oy) * nw + ox] = acc;
      }
    }
  }
  return out;
}

/** [prefix + g*g, D] table -> [prefix + ng*ng, D], the prefix rows copied. */
function resizeTokenTable(
  data: Float32Array,
  prefix: number,
  g: number,
  ng: number,
  d: number,
): Float32Array {
  const planes = new Float32Array(d * g * g); // [D, g, g]
  for (let p = 0; p < g * g; p++)
    for (let c = 0; c < d; c++) planes[c * g * g + p] = data[(prefix + p) * d + c];
  const resized = resizeBicubic(planes, d, g, g, ng, ng);
  const out = new Float32Array((prefix + ng * ng) * d);
  out.set(data.subarray(0, prefix * d));
  for (let p = 0; p < ng * ng; p++)
    for (let c = 0; c < d; c++) out[(prefix + p) * d + c] = resized[c * ng * ng + p];
  return out;
}

/** Returns a copy of `sd` adapted to `model`; `log` hears each change. */
export function adaptForFinetune(
  model: VisionTransformer,
  sd: StateDict,
  log: (line: string) => void,
): StateDict {
  const own = model.stateDict();
  const out: StateDict = new Map(sd);
  const prefix = model.prefix;
  const ng = model.grid;
  for (const [key, t] of sd) {
    const target = own.get(key);
    if (!target) continue;
    if (t.shape.join() === target.shape.join()) continue;
    const leaf = key.split('.').pop() as string;
    const data = toFloat32(t as HostTensor);
    if (/^(head|head_dist)\./.test(key)) {
      out.delete(key);
      log(
        `finetune: dropped ${key} (${t.shape.join('x')} -> model ${target.shape.join('x')}): new classifier`,
      );
    } else if (/^pos_embed\d*$/.test(key) && target.requiresGrad) {
      const d = t.shape[t.shape.length - 1];
      const g = Math.round(Math.sqrt(data.length / d - prefix));
      if (g * g + prefix !== data.length / d)
        throw new Error(
          `finetune: ${key} of shape ${t.shape.join('x')} is not a square grid plus ${prefix} prefix tokens`,
        );
      out.set(key, fromFloat32([...target.shape], resizeTokenTable(data, prefix, g, ng, d)));
      log(`finetune: resized ${key} from a ${g}x${g} to a ${ng}x${ng} grid (bicubic)`);
    } else if (leaf === 'relative_position_bias_table') {
      const heads = t.shape[1];
      const side = Math.round(Math.sqrt(t.shape[0]));
      const nside = 2 * ng - 1;
      const planes = new Float32Array(heads * side * side);
      for (let i = 0; i < side * side; i++)
        for (let hh = 0; hh < heads; hh++) planes[hh * side * side + i] = data[i * heads + hh];
      const r = resizeBicubic(planes, heads, side, side, nside, nside);
      const table = new Float32Array(nside * nside * heads);
      for (let i = 0; i < nside * nside; i++)
        for (let hh = 0; hh < heads; hh++) table[i * heads + hh] = r[hh * nside * nside + i];
      out.set(key, fromFloat32([nside * nside, heads], table));
      log(`finetune: resized ${key} from ${side}x${side} to ${nside}x${nside} offsets (bicubic)`);
    } else if (key.endsWith('.attn.pe_norm.weight') || key.endsWith('.attn.pe_norm.bias')) {
      const g = Math.round(Math.sqrt(data.length));
      out.set(key, fromFloat32([ng * ng], resizeBicubic(data, 1, g, g, ng, ng)));
      log(`finetune: resized ${key} from a ${g}x${g} to a ${ng}x${ng} grid (bicubic)`);
    } else if (!target.requiresGrad) {
      out.delete(key); // fixed tables (sinusoids, RPE index) are rebuilt by the model for its own grid
    }
  }
  return out;
}
