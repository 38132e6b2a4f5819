/**
 * The native backend against the portable reference, kernel by kernel: every kernel the declarations
 * list has cases in `cases/` (test-only modules, left out of the build; the `CASES` table is typed over
 * every kernel name, so a new kernel does not compile without them), run on both backends with random
 * inputs over many shapes (odd sizes, one element, broadcasting, batched and broadcast matmul, all
 * transposes, bias, beta = 1, strided views); outputs within float tolerance, or bit-exact where the
 * kernels promise it. Also: the addon is checked against the declarations at load, its primitive caches
 * are bounded, and bad calls are clean errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { Tensor } from '../../tensor/tensor.js';
import type { Backend } from '../backend.js';
import { dispatch } from '../dispatch.js';
import { jsBackend } from '../js/index.js';
import { KERNEL_NAMES, KERNELS } from '../kernels.js';
import { CASES, compare } from './cases/index.js';
import { matmulCase, matmulStridedCases } from './cases/gemm.js';
import { addonMismatch, createNativeBackend, loadNativeAddon, nativeInfo } from './native_backend.js';

const info = nativeInfo();
const skip = info.available ? false : `native addon unavailable: ${info.reason}`;
const native = createNativeBackend();

// ---- tests ------------------------------------------------------------------------------------------

describe('native backend', { skip }, () => {
  const nb = native as Backend;

  it('reports itself', () => {
    assert.equal(nb.name, 'native');
    assert.ok(info.available && info.info.threads >= 1);
    assert.match(info.available ? info.info.dnnlVersion : '', /^\d+\.\d+/);
  });

  it('implements every declared kernel natively (no portable stand-ins)', () => {
    const addon = loadNativeAddon();
    assert.ok(addon);
    assert.equal(addonMismatch(addon), null);
    for (const name of KERNEL_NAMES) {
      assert.equal(nb[name], addon[name], `${name} is the addon's own function`);
      assert.notEqual(nb[name], jsBackend[name], `${name} is not the portable kernel`);
    }
  });

  it('has comparison cases for every kernel', () => {
    for (const name of KERNEL_NAMES) assert.ok(CASES[name]().length > 0, `${name} has no cases`);
  });

  for (const name of KERNEL_NAMES) {
    it(`${name} matches the portable kernel`, () => {
      for (const cs of CASES[name]()) compare(name, cs as never, nb);
    });
  }

  it('keeps each primitive cache within its capacity, least recently used evicted first', () => {
    const addon = loadNativeAddon();
    assert.ok(addon);
    const before = addon.primitiveCache().capacity;
    try {
      addon.setPrimitiveCacheCapacity(3);
      assert.ok(addon.primitiveCache().matmul <= 3);
      for (let i = 1; i <= 8; i++)
        compare(
          'matmul',
          matmulCase(
            { m: 3 + i, n: 5, k: 7, transA: false, transB: false, batch: 1, alpha: 1, beta: 0, bias: false },
            i,
          ),
          nb,
        );
      assert.equal(addon.primitiveCache().matmul, 3);
      // Repeating a cached problem does not grow the cache.
      compare(
        'matmul',
        matmulCase(
          { m: 11, n: 5, k: 7, transA: false, transB: false, batch: 1, alpha: 1, beta: 0, bias: false },
          99,
        ),
        nb,
      );
      assert.equal(addon.primitiveCache().matmul, 3);
      for (const c of matmulStridedCases().slice(0, 6)) compare('matmulStrided', c, nb);
      assert.ok(addon.primitiveCache().matmulStrided <= 3);
    } finally {
      addon.setPrimitiveCacheCapacity(before);
    }
  });

  describe('bad input', () => {
    it('the addon itself throws (does not crash) on short buffers, wrong types and bad values', () => {
      const addon = loadNativeAddon() as unknown as Record<string, (args: unknown) => unknown>;
      const f = new Float32Array(4);
      const mm = {
        a: f,
        b: f,
        c: f,
        m: 4,
        n: 4,
        k: 4,
        transA: false,
        transB: false,
        batch: 1,
        strideA: 0,
        strideB: 0,
        strideC: 0,
        alpha: 1,
        beta: 0,
        bias: null,
      };
      assert.throws(() => addon.matmul(mm), /needs at least/);
      assert.throws(
        () => addon.matmul({ ...mm, m: 2, n: 2, k: 2, batch: 3, strideA: 4, strideB: 4, strideC: 4 }),
        /needs at least/,
      );
      assert.throws(() => addon.matmul({ ...mm, m: -1 }), /non-negative integer/);
      assert.throws(() => addon.matmul({ ...mm, m: 1.5 }), /non-negative integer/);
      assert.throws(() => addon.matmul(f), /argument object|must be/);
      assert.throws(() => addon.softmax({ x: f, y: f, rows: 3, cols: 3, log: false }), /needs at least/);
      assert.throws(
        () =>
          addon.layerNorm({
            x: f,
            gamma: null,
            beta: null,
            y: f,
            mean: f,
            rstd: f,
            rows: 1,
            cols: 4,
            eps: 1e-5,
            addend: f,
            addendRows: 2,
          }),
        /needs at least/,
      );
      assert.throws(() => addon.unary({ op: 'exp', x: new Float32Array(2), out: f }), /needs at least/);
      assert.throws(() => addon.unary({ op: 'cosh', x: f, out: f }), /unknown op 'cosh'/);
      assert.throws(
        () => addon.binary({ op: 'add', a: f, aStrides: [2], b: f, bStrides: [1], out: f, shape: [4] }),
        /too short/,
      );
      assert.throws(
        () =>
          addon.stridedCopy({
            src: f,
            srcOffset: 2,
            srcStrides: [1],
            dst: f,
            dstOffset: 0,
            dstStrides: [1],
            shape: [3],
            accumulate: false,
          }),
        /too short/,
      );
      assert.throws(
        () => addon.gatherRows({ x: f, idx: new Int32Array([0, 5]), out: new Float32Array(2), width: 1 }),
        /index out of range/,
      );
      assert.throws(
        () => addon.scatterAddRows({ dy: f, idx: new Int32Array([-1]), dx: f, width: 1 }),
        /index out of range/,
      );
      assert.throws(
        () =>
          addon.im2col({
            x: f,
            cols: f,
            channels: 1,
            height: 2,
            width: 2,
            kernelH: 3,
            kernelW: 3,
            stride: 1,
            pad: 1,
            outH: 2,
            outW: 2,
          }),
        /needs at least/,
      );
      assert.throws(
        () =>
          addon.adamw({
            param: f,
            grad: new Float32Array(3),
            expAvg: f,
            expAvgSq: f,
            lr: 1,
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weightDecay: 0,
            step: 1,
          }),
        /needs at least/,
      );
      assert.throws(() => addon.dropoutMask({ seed: -1, p: 0.5, mask: f }), /uint32/);
      assert.throws(() => addon.unary({ op: 'exp', x: [1, 2], out: f }), /Float32Array/);
      assert.throws(
        () => addon.gatherRows({ x: f, idx: new Float32Array(1), out: f, width: 1 }),
        /Int32Array/,
      );
      const view = { data: f, offset: 0, strides: [0, 0, 4, 1] };
      assert.throws(
        () =>
          addon.matmulStrided({
            a: view,
            b: view,
            c: view,
            batch: [1, 1],
            m: 3,
            n: 3,
            k: 4,
            alpha: 1,
            beta: 0,
          }),
        /needs at least/,
      );
    });

    it('the dispatcher rejects bad calls in TypeScript, naming the kernel and the argument', () => {
      const f = new Float32Array(4);
      const call = (fn: () => unknown, re: RegExp): void => {
        assert.throws(fn, (e: Error) => e.name === 'KernelArgumentError' && re.test(e.message));
      };
      call(
        () => dispatch.matmul({ a: f, b: f, c: f, m: 4, n: 4, k: 4 }),
        /kernel matmul: argument 'a' has 4 elements, needs at least 16/,
      );
      call(
        () => dispatch.matmul({ a: new Int32Array(16) as never, b: f, c: f, m: 2, n: 2, k: 2 }),
        /kernel matmul: argument 'a' must be f32 \(float32\) or bf16 \(bfloat16\), got a i32 array/,
      );
      call(
        () => dispatch.matmul({ a: f, b: new Uint16Array(4), c: f, m: 2, n: 2, k: 1 }),
        /kernel matmul: 'a' and 'b' must have the same element type/,
      );
      call(
        () => dispatch.unary({ op: 'exp', x: f, out: new Float32Array(5) }),
        /kernel unary: 'x' has 4 elements, 'out' 5/,
      );
      call(
        () => dispatch.unary({ op: 'cosh' as never, x: f, out: f }),
        /kernel unary: argument 'op' must be one of neg, exp/,
      );
      call(
        () => dispatch.softmax({ x: f, y: f, rows: 2, cols: 2.5 }),
        /kernel softmax: argument 'cols' must be an integer/,
      );
      call(
        () => dispatch.layerNorm({ x: f, y: f, mean: f, rstd: f, rows: 2, cols: 4, eps: 1e-5 }),
        /kernel layerNorm: argument 'x' has 4 elements, needs at least 8/,
      );
      call(
        () => dispatch.binary({ op: 'add', a: f, aStrides: [1], b: f, bStrides: [1], out: f, shape: [5] }),
        /kernel binary: a \(4 elements\) is too short/,
      );
      call(
        () =>
          dispatch.stridedCopy({
            src: f,
            srcOffset: 2,
            srcStrides: [1],
            dst: f,
            dstStrides: [1],
            shape: [3],
          }),
        /kernel stridedCopy: src .* too short/,
      );
      call(
        () => dispatch.gatherRows({ x: f, idx: new Int32Array([0, 9]), out: new Float32Array(2), width: 1 }),
        /kernel gatherRows: 'idx\[1\]' is 9, outside \[0, 4\)/,
      );
      call(
        () => dispatch.dropoutMask({ seed: 2 ** 33, p: 0.5, mask: f }),
        /kernel dropoutMask: 'seed' must be a 32-bit/,
      );
      call(
        () =>
          dispatch.matmulStrided({
            a: { data: f, offset: 0, strides: [0, 0, 4, 1] },
            b: { data: f, offset: 0, strides: [0, 0, 1, 1] },
            c: { data: f, offset: 0, strides: [0, 0, 1, 1] },
            batch: [1],
            m: 1,
            n: 1,
            k: 1,
          }),
        /'batch' must be two sizes/,
      );
      // A disposed tensor and a tensor of the wrong dtype.
      const t = Tensor.fromData(new Float32Array(4), [4]);
      t.dispose();
      call(
        () => dispatch.unary({ op: 'exp', x: t, out: f }),
        /kernel unary: argument 'x' is a disposed tensor/,
      );
      const ints = Tensor.fromData(new Int32Array(4), [4]);
      call(
        () => dispatch.sumSquares({ x: ints }),
        /kernel sumSquares: argument 'x' must be f32 \(float32\), got a int32 tensor/,
      );
      ints.dispose();
    });
  });
});

describe('native addon loading', () => {
  it('names what an addon built from other sources lacks', () => {
    const kernels = Object.fromEntries(KERNEL_NAMES.map((n) => [n, () => undefined]));
    const signatures = Object.fromEntries(KERNEL_NAMES.map((n) => [n, Object.keys(KERNELS[n].fields)]));
    const enums = {
      unaryOp: [...KERNELS.unary.fields.op.values],
      binaryOp: [...KERNELS.binary.fields.op.values],
    };
    assert.equal(addonMismatch({ ...kernels, signatures, enums } as never), null);
    const partial = Object.fromEntries(Object.entries(kernels).filter(([n]) => n !== 'softmax'));
    assert.match(addonMismatch({ ...partial, signatures, enums } as never) ?? '', /no 'softmax' kernel/);
    const oldFields = { ...signatures, matmul: ['a', 'b', 'c', 'meta'] };
    assert.match(
      addonMismatch({ ...kernels, signatures: oldFields, enums } as never) ?? '',
      /'matmul' kernel reads \[a, b, c, meta\]/,
    );
    assert.match(
      addonMismatch({ ...kernels, signatures, enums: { ...enums, unaryOp: ['neg'] } } as never) ?? '',
      /'unaryOp' table lacks exp/,
    );
  });

  it('refuses a stale addon at load with a message to rebuild, even without LAPE_BACKEND', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lape-stale-addon-'));
    try {
      // An addon of an older lape: positional kernels, no signatures.
      const fake = path.join(dir, 'lape_native.cjs');
      writeFileSync(
        fake,
        `module.exports = { info: () => ({ threads: 1, dnnlVersion: '2.6.0', isa: 'x' }), setThreads() {}, matmul() {}, softmax() {} };\n`,
      );
      const registry = new URL('../registry.ts', import.meta.url).pathname;
      const script = `import(${JSON.stringify(registry)}).then((r) => { try { r.getBackend(); console.log('loaded'); } catch (e) { console.log('ERROR ' + e.message); } });`;
      const env = { ...process.env, LAPE_NATIVE_ADDON: fake, LAPE_BACKEND: '' };
      const res = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', env });
      assert.match(
        res.stdout,
        /^ERROR lape: .*lape_native\.cjs was built from other sources than this lape: its 'matmul' kernel reads \[\]/m,
        res.stdout + res.stderr,
      );
      assert.match(res.stdout, /npm rebuild lape/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
