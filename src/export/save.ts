/**
 * Writing a model out for other runtimes: ONNX (onnx.ts) or safetensors with the reference's state-dict
 * names. Both writes are atomic: a temporary file in the same folder, renamed over the target once
 * complete, so a failed write (unwritable folder, full disk) leaves no partial file behind.
 */
import { writeBytesAtomic } from '../io/atomic.js';
import { writeSafetensors } from '../io/safetensors.js';
import type { VisionTransformer } from '../models/vision_transformer.js';
import { exportWeights } from '../models/weights.js';
import { LAPE_VERSION } from '../version.js';
import { exportOnnx, type OnnxExportOptions } from './onnx.js';

export type ExportFormat = 'onnx' | 'safetensors';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['onnx', 'safetensors'];

/** Exports the model to ONNX and writes it to `path` atomically; returns the bytes written. */
export function saveOnnx(path: string, model: VisionTransformer, options: OnnxExportOptions = {}): number {
  const bytes = exportOnnx(model, options);
  writeBytesAtomic(path, bytes);
  return bytes.byteLength;
}

/**
 * Writes the model's state dict as safetensors under the reference's names (`blocks.0.attn.qkv.weight`,
 * float32; RPE index buffers int64), with `format: pt` and lape's model config as metadata.
 */
export function saveSafetensors(path: string, model: VisionTransformer): void {
  writeSafetensors(path, exportWeights(model), {
    format: 'pt',
    'lape.config': JSON.stringify(model.config),
    'lape.version': LAPE_VERSION,
  });
}
