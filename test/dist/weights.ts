/** A model's float32 weights (parameters and buffers, state-dict order) as one byte string. */
import type { Module } from '../../src/nn/module.js';

export function weightBytes(model: Module): Uint8Array {
  const parts = [...model.stateDict().values()].filter((t) => t.dtype === 'float32');
  const out = new Float32Array(parts.reduce((n, t) => n + t.size, 0));
  let at = 0;
  for (const t of parts) {
    out.set(t.data, at);
    at += t.size;
  }
  return new Uint8Array(out.buffer);
}
