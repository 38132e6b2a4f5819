/**
 * Modules own parameters, buffers and child modules under the names PyTorch's state dict uses, so that
 * `namedParameters()` and `stateDict()` produce the reference's keys (`blocks.3.pe_norm.weight`).
 */
import { Tensor } from '../tensor/tensor.js';

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable parameter (kept out of every `tidy` scope). */
  protected param(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    t.keep();
    this.params.set(name, t);
    return t;
  }

  /** Registers a state tensor that is saved but not trained (RPE index, frozen sinusoidal PE). */
  protected buffer(name: string, t: Tensor): Tensor {
    t.keep();
    this.buffers.set(name, t);
    return t;
  }

  protected module<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Registers a list of modules named 0, 1, 2, ... (nn.ModuleList). */
  protected moduleList<M extends Module>(name: string, ms: M[]): M[] {
    this.children.set(name, new ModuleList(ms));
    return ms;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.params) out.push([prefix + n, t]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.buffers) out.push([prefix + n, t]);
    for (const [n, c] of this.children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Parameters and buffers in registration order, as PyTorch's `state_dict()` lists them. */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.collectState('', out);
    return out;
  }

  private collectState(prefix: string, out: Map<string, Tensor>): void {
    for (const [n, t] of this.params) out.set(prefix + n, t);
    for (const [n, t] of this.buffers) out.set(prefix + n, t);
    for (const [n, c] of this.children) c.collectState(`${prefix}${n}.`, out);
  }

  /** Switches training-only behaviour (dropout, drop-path, distillation outputs) on or off. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.children.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Releases every parameter and buffer. */
  dispose(): void {
    for (const t of this.stateDict().values()) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}

class ModuleList<M extends Module> extends Module {
  constructor(items: M[]) {
    super();
    items.forEach((m, i) => this.module(String(i), m));
  }
}
