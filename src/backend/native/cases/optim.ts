/** Kernel comparison cases: Optimizer, sum-of-squares and cast cases. */
import { type KernelArgs } from '../../kernels.js';
import { type KernelCase, bf16, rand, tol } from './common.js';

export function adamwCases(): KernelCase<'adamw'>[] {
  const out: KernelCase<'adamw'>[] = [];
  for (const n of [1, 33, 100000])
    for (const [weightDecay, step] of [
      [0, 1],
      [0.05, 1],
      [0.05, 10],
      [0.1, 1000],
    ])
      out.push({
        what: `adamw n=${n} wd=${weightDecay} step=${step}`,
        args: () => ({
          param: rand(n, n + step),
          grad: rand(n, n + step + 1, -0.1, 0.1),
          expAvg: rand(n, 3, -0.01, 0.01),
          expAvgSq: rand(n, 4, 0, 1e-4),
          lr: 1e-3,
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay,
          step,
        }),
        outputs: ['param', 'expAvg', 'expAvgSq'],
        tol: tol(1e-6, 1e-9),
      });
  return out;
}

export function sgdCases(): KernelCase<'sgd'>[] {
  const out: KernelCase<'sgd'>[] = [];
  for (const n of [1, 33, 100000])
    for (const [momentum, dampening, weightDecay, nesterov, firstStep] of [
      [0, 0, 0, false, false],
      [0, 0, 1e-4, false, true],
      [0.9, 0, 0, false, true],
      [0.9, 0, 5e-4, false, false],
      [0.9, 0.1, 5e-4, false, false],
      [0.9, 0, 5e-4, true, false],
      [0.9, 0, 5e-4, true, true],
    ] as [number, number, number, boolean, boolean][])
      out.push({
        what: `sgd ${[n, momentum, dampening, weightDecay, nesterov, firstStep]}`,
        args: () => ({
          param: rand(n, n),
          grad: rand(n, n + 1),
          momentumBuffer: rand(n, n + 2),
          lr: 0.01,
          momentum,
          dampening,
          weightDecay,
          nesterov,
          firstStep,
        }),
        outputs: ['param', 'momentumBuffer'],
        tol: tol(1e-6, 1e-7),
      });
  return out;
}

export function sumSquaresCases(): KernelCase<'sumSquares'>[] {
  return [0, 1, 17, 1000003].map((n) => ({
    what: `sumSquares n=${n}`,
    args: () => ({ x: rand(n, n + 1, -3, 3) }),
    outputs: [],
    tol: tol(1e-12, 1e-12),
  }));
}

export function castCases(): KernelCase<'cast'>[] {
  const special = [
    0,
    -0,
    1,
    -1,
    1.00390625,
    1.01171875,
    3.4e38,
    -3.4e38,
    Infinity,
    -Infinity,
    NaN,
    1e-40,
    65504,
  ];
  const out: KernelCase<'cast'>[] = [];
  for (const n of [1, 13, 1001, 300001]) {
    const x = (): Float32Array => {
      const v = rand(n, n, -1e3, 1e3);
      v.set(special.slice(0, Math.min(n, special.length)));
      return v;
    };
    const exactCase = (what: string, args: () => KernelArgs<'cast'>): KernelCase<'cast'> => ({
      what: `cast ${what} n=${n}`,
      args,
      outputs: ['out'],
      tol: 'exact',
    });
    out.push(exactCase('f32 -> bf16', () => ({ x: x(), out: new Uint16Array(n) })));
    out.push(exactCase('bf16 -> f32', () => ({ x: bf16(x()), out: new Float32Array(n) })));
    out.push(exactCase('f32 -> f32', () => ({ x: x(), out: new Float32Array(n) })));
  }
  return out;
}
