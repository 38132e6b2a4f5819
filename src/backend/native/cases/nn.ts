/** Kernel comparison cases: Softmax, layer norm, dropout mask, convolution windows, pooling and row gather/scatter cases. */
import { jsBackend } from '../../js/index.js';
import { type KernelCase, bf16, rand, tol } from './common.js';

export const SOFTMAX_SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [1000, 65],
  [33, 1000],
  [4, 10],
];

/** Every (log, bfloat16 y) combination, and dropout (softmax only) with either output type. */
export const SOFTMAX_VARIANTS = [
  ...[false, true].flatMap((log) => [false, true].map((half) => ({ log, half, drop: false }))),
  { log: false, half: false, drop: true },
  { log: false, half: true, drop: true },
];

/** A dropout mask (0 or 1 / (1 - p)) drawn as attention's dropout draws it. */
function dropMask(n: number, seed: number): Float32Array {
  const mask = new Float32Array(n);
  jsBackend.dropoutMask({ seed, p: 0.25, mask, offset: 0 });
  return mask;
}

const outBuf = (half: boolean, n: number): Float32Array | Uint16Array =>
  half ? new Uint16Array(n) : new Float32Array(n);

export function softmaxCases(): KernelCase<'softmax'>[] {
  return SOFTMAX_SHAPES.flatMap(([rows, cols], i) =>
    SOFTMAX_VARIANTS.map(({ log, half, drop }) => ({
      what: `softmax log=${log} bf16=${half} dropout=${drop} ${rows}x${cols}`,
      args: () => ({
        x: rand(rows * cols, i + 1, -8, 8),
        y: outBuf(half, rows * cols),
        rows,
        cols,
        log,
        mask: drop ? dropMask(rows * cols, i + 7) : null,
        dropped: drop ? outBuf(half, rows * cols) : null,
      }),
      outputs: drop ? (['y', 'dropped'] as const) : (['y'] as const),
      // A bfloat16 output may round one step apart where the float32 values differ in the last bits.
      tol: half ? tol(8e-3, 1e-6) : tol(1e-5, 1e-6),
    })),
  );
}

export function softmaxBackwardCases(): KernelCase<'softmaxBackward'>[] {
  return SOFTMAX_SHAPES.flatMap(([rows, cols], i) =>
    SOFTMAX_VARIANTS.map(({ log, half, drop }) => ({
      what: `softmaxBackward log=${log} bf16 y=${half} dropout=${drop} (bf16 dx) ${rows}x${cols}`,
      args: () => {
        const y = new Float32Array(rows * cols);
        jsBackend.softmax({
          x: rand(rows * cols, i + 1, -8, 8),
          y,
          rows,
          cols,
          log,
          mask: null,
          dropped: null,
        });
        const dy = rand(rows * cols, i + 50);
        return {
          y: half ? bf16(y) : y,
          dy,
          dx: outBuf(drop && half, rows * cols),
          rows,
          cols,
          log,
          mask: drop ? dropMask(rows * cols, i + 7) : null,
        };
      },
      outputs: ['dx'] as const,
      tol: drop && half ? tol(8e-3, 1e-5) : tol(1e-5, 1e-5),
    })),
  );
}

export const LN_SHAPES: [number, number][] = [
  [1, 1],
  [3, 7],
  [65, 256],
  [1040, 256],
  [7, 1000],
  [130, 65],
];

export function layerNormCases(): KernelCase<'layerNorm'>[] {
  const out: KernelCase<'layerNorm'>[] = [];
  let seed = 1;
  for (const [rows, cols] of LN_SHAPES)
    for (const [gamma, beta] of [
      [true, true],
      [false, false],
      [true, false],
      [false, true],
    ])
      for (const withAddend of [false, true]) {
        const s = seed;
        seed += 4;
        const addendRows = withAddend ? Math.min(rows, 65) : 0;
        out.push({
          what: `layerNorm ${rows}x${cols} gamma=${gamma} beta=${beta} addend=${withAddend}`,
          args: () => ({
            x: rand(rows * cols, s, -2, 3),
            gamma: gamma ? rand(cols, s + 1, 0.5, 1.5) : null,
            beta: beta ? rand(cols, s + 2) : null,
            y: new Float32Array(rows * cols),
            mean: new Float32Array(rows),
            rstd: new Float32Array(rows),
            rows,
            cols,
            eps: 1e-6,
            addend: withAddend ? rand(addendRows * cols, s + 3) : null,
            addendRows,
          }),
          outputs: ['y', 'mean', 'rstd'],
          tol: tol(1e-5, 1e-5),
        });
      }
  return out;
}

export function layerNormBackwardCases(): KernelCase<'layerNormBackward'>[] {
  const out: KernelCase<'layerNormBackward'>[] = [];
  let seed = 100;
  for (const [rows, cols] of LN_SHAPES)
    for (const affine of [true, false])
      for (const [wantParams, halfDy, accumulate] of [
        [true, false, false],
        [false, false, false],
        [true, true, false],
        [true, true, true],
      ]) {
        const s = seed;
        seed += 3;
        out.push({
          what: `layerNormBackward ${rows}x${cols} affine=${affine} params=${wantParams} bf16 dy=${halfDy} accumulate=${accumulate}`,
          args: () => {
            const x = rand(rows * cols, s, -2, 3);
            const gamma = affine ? rand(cols, s + 1, 0.5, 1.5) : null;
            const [mean, rstd] = [new Float32Array(rows), new Float32Array(rows)];
            const y = new Float32Array(rows * cols);
            jsBackend.layerNorm({
              x,
              gamma,
              beta: null,
              y,
              mean,
              rstd,
              rows,
              cols,
              eps: 1e-5,
              addend: null,
              addendRows: 0,
            });
            const params = (): Float32Array | null => (wantParams ? new Float32Array(cols).fill(9) : null);
            return {
              x,
              gamma,
              mean,
              rstd,
              dy: halfDy ? bf16(rand(rows * cols, s + 2)) : rand(rows * cols, s + 2),
              dx: accumulate ? rand(rows * cols, s + 5) : new Float32Array(rows * cols),
              dgamma: params(),
              dbeta: params(),
              rows,
              cols,
              accumulate,
            };
          },
          outputs: ['dx', 'dgamma', 'dbeta'],
          tol: tol(1e-4, 1e-4),
        });
      }
  return out;
}

export function dropoutMaskCases(): KernelCase<'dropoutMask'>[] {
  const out: KernelCase<'dropoutMask'>[] = [];
  for (const seed of [0, 1, 12345, 0x7fffffff, 0xffffffff])
    for (const p of [0, 0.1, 0.5, 1 / 3, 0.999, 1, 1e-9])
      for (const n of [1, 17, 100003])
        for (const offset of [0, 5, 2 ** 32 - 100003])
          out.push({
            what: `dropoutMask seed=${seed} p=${p} n=${n} offset=${offset}`,
            args: () => ({ seed, p, mask: new Float32Array(n).fill(3), offset }),
            outputs: ['mask'],
            tol: 'exact',
          });
  return out;
}

export function addScaledRowsCases(): KernelCase<'addScaledRows'>[] {
  const out: KernelCase<'addScaledRows'>[] = [];
  let seed = 900;
  for (const [rows, cols] of [
    [1, 1],
    [3, 17],
    [128, 16640],
    [2, 40000],
  ])
    for (const residual of [true, false])
      for (const half of [false, true]) {
        const s = seed++;
        out.push({
          what: `addScaledRows ${rows}x${cols} residual=${residual} bf16 out=${half}`,
          args: () => {
            const scale = rand(rows, s, 0, 2);
            if (rows > 2) scale[1] = 0; // a dropped sample
            return {
              x: residual ? rand(rows * cols, s + 1) : null,
              y: rand(rows * cols, s + 2),
              scale,
              out: outBuf(half, rows * cols),
              rows,
              cols,
            };
          },
          outputs: ['out'],
          // float32 may differ by the fused multiply-add's single rounding; bfloat16 by one step where that lands.
          tol: half ? tol(8e-3, 1e-6) : tol(1e-6, 1e-6),
        });
      }
  return out;
}

export const CONV_GEOMETRIES: [number, number, number, number, number, number, number][] = [
  // channels, height, width, kernelH, kernelW, stride, pad
  [3, 32, 32, 4, 4, 4, 0],
  [3, 8, 8, 3, 3, 1, 1],
  [2, 7, 5, 3, 2, 2, 1],
  [1, 1, 1, 1, 1, 1, 0],
  [2, 5, 5, 3, 3, 2, 2],
  [4, 6, 9, 1, 1, 1, 0],
];

export function window2d(
  height: number,
  width: number,
  kernelH: number,
  kernelW: number,
  stride: number,
  pad: number,
) {
  const outH = Math.floor((height + 2 * pad - kernelH) / stride) + 1;
  const outW = Math.floor((width + 2 * pad - kernelW) / stride) + 1;
  return { height, width, kernelH, kernelW, stride, pad, outH, outW };
}

export function im2colCases(): KernelCase<'im2col'>[] {
  return CONV_GEOMETRIES.map(([channels, ...g], i) => {
    const w = window2d(...g);
    return {
      what: `im2col ${[channels, ...g]}`,
      args: () => ({
        x: rand(channels * w.height * w.width, i + 1),
        cols: new Float32Array(channels * w.kernelH * w.kernelW * w.outH * w.outW).fill(5),
        channels,
        ...w,
      }),
      outputs: ['cols'],
      tol: 'exact',
    };
  });
}

export function col2imCases(): KernelCase<'col2im'>[] {
  return CONV_GEOMETRIES.map(([channels, ...g], i) => {
    const w = window2d(...g);
    return {
      what: `col2im ${[channels, ...g]}`,
      args: () => ({
        cols: rand(channels * w.kernelH * w.kernelW * w.outH * w.outW, i + 20),
        dx: rand(channels * w.height * w.width, i + 40),
        channels,
        ...w,
      }),
      outputs: ['dx'],
      tol: tol(1e-6, 1e-6),
    };
  });
}

export function maxPool2dCases(): KernelCase<'maxPool2d'>[] {
  const cases: [number, number, number, number, number, number, number][] = [
    // planes, height, width, kernelH, kernelW, stride, pad
    [4, 8, 8, 3, 3, 2, 1],
    [2, 7, 9, 3, 3, 2, 1],
    [1, 1, 1, 1, 1, 1, 0],
    [3, 5, 5, 2, 2, 2, 0],
    [64, 32, 32, 3, 3, 2, 1],
    [2, 6, 7, 2, 3, 1, 1],
  ];
  return cases.map(([planes, ...g], i) => {
    const w = window2d(...g);
    const n = planes * w.outH * w.outW;
    return {
      what: `maxPool2d ${[planes, ...g]}`,
      args: () => {
        const x = rand(planes * w.height * w.width, i + 1);
        for (let t = 0; t < x.length; t += 11) x[t] = 0.25; // ties
        return { x, y: new Float32Array(n), argmax: new Int32Array(n), planes, ...w };
      },
      outputs: ['y', 'argmax'],
      tol: 'exact',
    };
  });
}

export const GATHER_SHAPES = [
  [1, 1, 1],
  [10, 3, 25],
  [225, 4, 4225],
  [100, 256, 5000],
];
export const indices = (rows: number, count: number): Int32Array =>
  Int32Array.from({ length: count }, (_, i) => (i * 7919 + 3) % rows);

export function gatherRowsCases(): KernelCase<'gatherRows'>[] {
  return GATHER_SHAPES.map(([rows, width, count]) => ({
    what: `gatherRows ${[rows, width, count]}`,
    args: () => ({
      x: rand(rows * width, width),
      idx: indices(rows, count),
      out: new Float32Array(count * width),
      width,
    }),
    outputs: ['out'],
    tol: 'exact',
  }));
}

export function scatterAddRowsCases(): KernelCase<'scatterAddRows'>[] {
  return GATHER_SHAPES.map(([rows, width, count]) => ({
    what: `scatterAddRows ${[rows, width, count]}`,
    args: () => ({
      dy: rand(count * width, count),
      idx: indices(rows, count),
      dx: rand(rows * width, 5),
      width,
    }),
    outputs: ['dx'],
    tol: tol(1e-6, 1e-6),
  }));
}
