/** The registry as data: every variant with its size, cost and input (what `lape models` prints). */
import { forwardFlops, parameterCount } from './flops.js';
import { MODEL_VARIANTS, resolveConfig } from './registry.js';

export interface ModelInfo {
  name: string;
  description: string;
  /** Parameters with the LaPE join and a learnable PE. */
  params: number;
  /** Forward GFLOPs of one image. */
  gflops: number;
  input: { channels: number; size: number };
}

export function listModels(): ModelInfo[] {
  return Object.entries(MODEL_VARIANTS).map(([name, v]) => {
    const cfg = resolveConfig(name, { join: 'LaPE' });
    return {
      name,
      description: v.description,
      params: parameterCount(cfg),
      gflops: forwardFlops(cfg) / 1e9,
      input: { channels: cfg.inChans, size: cfg.imgSize },
    };
  });
}
