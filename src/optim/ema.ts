/**
 * Model EMA, the update rule of timm's ModelEma (DeiT's `--model-ema`) over the whole state dict:
 * every float entry (parameters and float buffers) becomes decay * ema + (1 - decay) * model; integer
 * buffers are copied from the model (as timm's ModelEmaV3; they are constant in lape's models).
 */
import { toFloat32, type StateDict } from '../io/host_tensor.js';
import { clone } from '../ops/creation.js';
import { fmtShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export class ModelEma {
  readonly shadow: Map<string, Tensor>;

  constructor(
    state: Map<string, Tensor>,
    readonly decay: number,
  ) {
    if (!(decay > 0 && decay < 1)) throw new Error(`model EMA decay must be in (0, 1), got ${decay}`);
    this.shadow = new Map([...state].map(([k, t]) => [k, clone(t).keep()]));
  }

  dispose(): void {
    for (const t of this.shadow.values()) t.dispose();
  }

  update(state: Map<string, Tensor>): void {
    const d = this.decay;
    for (const [k, t] of state) {
      const s = this.shadow.get(k);
      if (!s) continue;
      if (t.dtype !== 'float32') {
        s.ints.set(t.ints);
        continue;
      }
      const sv = s.data;
      const tv = t.data;
      // In float64, rounded once to float32 on store.
      for (let i = 0; i < sv.length; i++) sv[i] = d * sv[i] + (1 - d) * tv[i];
    }
  }

  /**
   * Continues from saved EMA weights (a checkpoint's `model_ema`, lape's or the reference's): every
   * float entry must be present with the model's shape; `source` names the file in errors.
   */
  load(sd: StateDict, source: string): void {
    for (const [k, t] of this.shadow) {
      const saved = sd.get(k);
      if (t.dtype !== 'float32') {
        if (saved && saved.data.length === t.size) t.ints.set(Array.from(saved.data, Number));
        continue;
      }
      if (!saved) throw new Error(`${source}: 'model_ema' has no '${k}'`);
      if (saved.data.length !== t.size)
        throw new Error(
          `${source}: 'model_ema' entry '${k}' has shape ${fmtShape(saved.shape)}, the model ${fmtShape(t.shape)}`,
        );
      t.data.set(toFloat32(saved));
    }
  }
}
