import type { KernelArgs } from '../kernels.js';

export function adamw(args: KernelArgs<'adamw'>): void {
  const { param: p, grad: g, expAvg: m, expAvgSq: v, lr, beta1, beta2, eps, weightDecay, step } = args;
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  const stepSize = lr / bc1;
  const bc2Sqrt = Math.sqrt(bc2);
  const decay = 1 - lr * weightDecay;
  for (let i = 0; i < p.length; i++) {
    // Same operation order as torch.optim.AdamW (single-tensor path).
    const pi = p[i] * decay;
    const mi = beta1 * m[i] + (1 - beta1) * g[i];
    const vi = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    const denom = Math.fround(Math.sqrt(vi) / bc2Sqrt) + eps;
    p[i] = pi - (stepSize * mi) / denom;
  }
}

export function sgd(args: KernelArgs<'sgd'>): void {
  const {
    param: p,
    grad: g,
    momentumBuffer: buf,
    lr,
    momentum,
    dampening,
    weightDecay,
    nesterov,
    firstStep,
  } = args;
  for (let i = 0; i < p.length; i++) {
    let d = g[i] + weightDecay * p[i];
    if (momentum !== 0) {
      const b = firstStep ? d : momentum * buf[i] + (1 - dampening) * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
  }
}
