/** Model EMA (timm ModelEma): ema = decay * ema + (1 - decay) * model, over the whole state dict. */
import { clone } from '../ops/creation.js';
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
      if (!s || t.dtype !== 'float32') continue;
      const sv = s.data;
      const tv = t.data;
      for (let i = 0; i < sv.length; i++) sv[i] = d * sv[i] + (1 - d) * tv[i];
    }
  }
}
