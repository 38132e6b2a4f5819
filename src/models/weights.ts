/**
 * Moving weights between a model and a state dict of host tensors (what `.pth` and `.safetensors`
 * files hold), with the reference's names, shapes and dtypes, and a report of every mismatch by name.
 */
import { fromFloat32, toFloat32, type HostTensor, type StateDict } from '../io/host_tensor.js';
import { escapeText } from '../io/sanitize.js';
import type { Module } from '../nn/module.js';
import { fmtShape, sizeOf } from '../tensor/shape.js';

export interface LoadReport {
  /** Keys the model has and the checkpoint lacks. */
  missing: string[];
  /** Keys the checkpoint has and the model lacks. */
  unexpected: string[];
  /** Keys present on both sides with different shapes. */
  mismatched: { key: string; expected: number[]; got: number[] }[];
}

export function describeReport(r: LoadReport): string {
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing keys: ${listKeys(r.missing)}`);
  if (r.unexpected.length) parts.push(`unexpected keys: ${listKeys(r.unexpected)}`);
  for (const m of r.mismatched.slice(0, 8))
    parts.push(
      `shape mismatch for ${escapeText(m.key, 80)}: checkpoint ${fmtShape(m.got)}, model ${fmtShape(m.expected)}`,
    );
  if (r.mismatched.length > 8) parts.push(`${r.mismatched.length - 8} more shape mismatches`);
  return parts.join('; ');
}

/** Keys for a message: they come from a file, so escaped, and at most 8 of them (then how many more). */
function listKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, 8).map((k) => escapeText(k, 80));
  return keys.length > 8 ? `${shown.join(', ')} and ${keys.length - 8} more` : shown.join(', ');
}

/** Same values in the same order, allowing a leading axis of 1 on either side (the 1D_sin quirk). */
function compatibleShapes(a: readonly number[], b: readonly number[]): boolean {
  const strip = (s: readonly number[]): number[] => (s.length > 0 && s[0] === 1 ? s.slice(1) : [...s]);
  return sizeOf(a) === sizeOf(b) && (a.join() === b.join() || strip(a).join() === strip(b).join());
}

/**
 * Copies a state dict into the model. With `strict`, any missing, unexpected or mismatched key throws
 * naming them all (nothing is copied then); otherwise matching keys are loaded and the report returned.
 */
export function loadWeights(
  model: Module,
  sd: StateDict,
  opts: { strict: boolean; source?: string },
): LoadReport {
  const own = model.stateDict();
  const report: LoadReport = { missing: [], unexpected: [], mismatched: [] };
  for (const key of own.keys()) if (!sd.has(key)) report.missing.push(key);
  for (const [key, t] of sd) {
    const target = own.get(key);
    if (!target) report.unexpected.push(key);
    else if (!compatibleShapes(target.shape, t.shape))
      report.mismatched.push({ key, expected: [...target.shape], got: [...t.shape] });
  }
  const bad = report.missing.length + report.unexpected.length + report.mismatched.length > 0;
  if (opts.strict && bad) {
    throw new Error(`${opts.source ?? 'checkpoint'} does not match the model: ${describeReport(report)}`);
  }
  for (const [key, t] of sd) {
    const target = own.get(key);
    if (!target || !compatibleShapes(target.shape, t.shape)) continue;
    if (target.dtype === 'int32') {
      const src = t.data;
      const dst = target.ints;
      for (let i = 0; i < dst.length; i++) dst[i] = Number(src[i]);
    } else {
      target.data.set(toFloat32(t));
    }
  }
  return report;
}

/** The model's state dict as host tensors: float32 values, int64 index buffers (as PyTorch). */
export function exportWeights(model: Module): StateDict {
  const out: StateDict = new Map();
  for (const [key, t] of model.stateDict()) {
    if (t.dtype === 'int32') {
      const data = BigInt64Array.from(t.ints, (v) => BigInt(v));
      out.set(key, { dtype: 'int64', shape: [...t.shape], data } as HostTensor);
    } else {
      out.set(key, fromFloat32([...t.shape], Float32Array.from(t.data)));
    }
  }
  return out;
}
