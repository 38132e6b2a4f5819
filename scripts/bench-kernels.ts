/**
 * Micro benchmark of the native kernels, next to PyTorch's CPU kernels for the same work.
 *
 *   npm run bench:kernels -- [--quick] [--no-torch] [--threads N] [--json]
 *
 * Prints sgemm 1024^3 GFLOP/s, the call overhead of tiny kernels through the checked dispatcher
 * (microseconds), and forward/backward times of the ViT-sized element-wise kernels (batch 128, 65
 * tokens, dim 256, 4 heads, MLP 512): layerNorm [8320, 256], softmax [33280, 65], gelu [8320, 512],
 * add [8320, 256] (best of N calls). The PyTorch numbers come from `/usr/bin/python3`
 * (torch.set_num_threads to the same thread count) with the aten kernels a training step calls.
 */
import { spawnSync } from 'node:child_process';

import { dispatch } from '../src/backend/dispatch.js';
import { loadNativeAddon, nativeInfo } from '../src/backend/native/native_backend.js';
import { numThreads, setBackend, setNumThreads } from '../src/backend/registry.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const withTorch = !argv.includes('--no-torch');
const tIdx = argv.indexOf('--threads');

const addon = loadNativeAddon();
const info = nativeInfo();
if (!addon || !info.available) {
  console.error(`native backend unavailable: ${info.available ? '' : info.reason}`);
  process.exit(1);
}
setBackend('native');
if (tIdx >= 0) setNumThreads(Number(argv[tIdx + 1]));
const threads = numThreads();

function rand(n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return a;
}

/** Best (minimum) milliseconds per call of fn over `iters` calls, after `warm` warm-up calls. The
 * minimum rather than the median: on a shared 2-core machine, other processes only ever add time. */
function time(fn: () => void, iters = quick ? 10 : 40, warm = 3): number {
  for (let i = 0; i < warm; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return Math.min(...t);
}

/** Microseconds per call for a tiny op, averaged over many calls. */
function overhead(fn: () => void, calls = 200000): number {
  for (let i = 0; i < 1000; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e3 / calls;
}

const results: Record<string, number> = {};

// ---- sgemm -----------------------------------------------------------------------------------------
{
  const n = 1024;
  const a = rand(n * n);
  const b = rand(n * n);
  const c = new Float32Array(n * n);
  const args = { a, b, c, m: n, n, k: n };
  const fn = (): void => dispatch.matmul(args);
  for (let i = 0; i < 3; i++) fn();
  let best = Infinity;
  for (let i = 0; i < (quick ? 10 : 30); i++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  results.sgemm_gflops = (2 * n * n * n) / best / 1e9;
  console.log(
    `oneDNN ${info.info.dnnlVersion} (${info.info.isa}), ${threads} threads, matmul impl: ${addon.matmulImpl({ ...args, transA: false, transB: false, batch: 1, strideA: 0, strideB: 0, strideC: 0, alpha: 1, beta: 0, bias: null })}`,
  );
}

// ---- call overhead ---------------------------------------------------------------------------------
{
  const t4 = new Float32Array(4);
  const o4 = new Float32Array(4);
  const flat = { aStrides: [1], bStrides: [1], shape: [4] };
  results.overhead_addon_noop_us = overhead(() => addon.noop({ x: t4 }));
  results.overhead_unary_neg4_us = overhead(() => dispatch.unary({ op: 'neg', x: t4, out: o4 }));
  results.overhead_unary_exp4_us = overhead(() => dispatch.unary({ op: 'exp', x: t4, out: o4 }));
  results.overhead_binary_add4_us = overhead(() =>
    dispatch.binary({ op: 'add', a: t4, b: t4, out: o4, ...flat }),
  );
  results.overhead_matmul_2x2_us = overhead(
    () => dispatch.matmul({ a: t4, b: t4, c: o4, m: 2, n: 2, k: 2 }),
    100000,
  );
  results.overhead_layernorm_1x4_us = overhead(() =>
    dispatch.layerNorm({ x: t4, y: o4, mean: o4, rstd: o4, rows: 1, cols: 4, eps: 1e-5 }),
  );
  results.overhead_softmax_1x4_us = overhead(() => dispatch.softmax({ x: t4, y: o4, rows: 1, cols: 4 }));
}

// ---- ViT-sized element-wise kernels ------------------------------------------------------------------
const R = 8320; // 128 images x 65 tokens
const D = 256;
const H = 512;
const SR = 128 * 4 * 65; // attention rows
const SC = 65;
{
  const x = rand(R * D, -2, 3);
  const gamma = rand(D, 0.5, 1.5);
  const beta = rand(D);
  const y = new Float32Array(R * D);
  const mean = new Float32Array(R);
  const rstd = new Float32Array(R);
  const dy = rand(R * D);
  const dx = new Float32Array(R * D);
  const ln = { x, gamma, beta, y, mean, rstd, rows: R, cols: D, eps: 1e-6 };
  results.layernorm_fwd_ms = time(() => dispatch.layerNorm(ln));
  results.layernorm_bwd_ms = time(() =>
    dispatch.layerNormBackward({
      x,
      gamma,
      mean,
      rstd,
      dy,
      dx,
      dgamma: rand(D),
      dbeta: rand(D),
      rows: R,
      cols: D,
    }),
  );
  const addend = rand(65 * D);
  results.layernorm_fwd_addend_ms = time(() => dispatch.layerNorm({ ...ln, addend, addendRows: 65 }));
}
{
  const x = rand(SR * SC, -5, 5);
  const y = new Float32Array(SR * SC);
  const dy = rand(SR * SC);
  const dx = new Float32Array(SR * SC);
  results.softmax_fwd_ms = time(() => dispatch.softmax({ x, y, rows: SR, cols: SC }));
  results.softmax_bwd_ms = time(() => dispatch.softmaxBackward({ y, dy, dx, rows: SR, cols: SC }));
}
{
  const x = rand(R * H, -4, 4);
  const y = new Float32Array(R * H);
  const dy = rand(R * H);
  const dx = new Float32Array(R * H);
  results.gelu_fwd_ms = time(() => dispatch.unary({ op: 'gelu', x, out: y }));
  results.gelu_bwd_ms = time(() => dispatch.unaryBackward({ op: 'gelu', x, y, dy, dx }));
}
{
  const a = rand(R * D);
  const b = rand(R * D);
  const bias = rand(D);
  const out = new Float32Array(R * D);
  const shape = [R, D];
  results.add_ms = time(() =>
    dispatch.binary({ op: 'add', a, aStrides: [D, 1], b, bStrides: [D, 1], out, shape }),
  );
  results.add_bias_ms = time(() =>
    dispatch.binary({ op: 'add', a, aStrides: [D, 1], b: bias, bStrides: [0, 1], out, shape }),
  );
  // "backward" of add: the gradient passes through (a copy) and the bias gradient is a column sum.
  results.add_bwd_copy_ms = time(() =>
    dispatch.stridedCopy({ src: a, srcStrides: [D, 1], dst: out, dstStrides: [D, 1], shape }),
  );
  const colsum = new Float32Array(D);
  results.add_bias_bwd_reduce_ms = time(() =>
    dispatch.reduceSum({ x: a, out: colsum, outer: 1, r: R, inner: D }),
  );
}
// ---- ViT matmuls (forward shapes) -------------------------------------------------------------------
{
  const x = rand(R * D);
  const w = rand(3 * D * D);
  const bqkv = rand(3 * D);
  const out = new Float32Array(R * 3 * D);
  const fl = (ms: number, f: number): number => f / ms / 1e6;
  const tq = time(() =>
    dispatch.matmul({ a: x, b: w, c: out, m: R, n: 3 * D, k: D, transB: true, bias: bqkv }),
  );
  results.matmul_qkv_fwd_ms = tq;
  results.matmul_qkv_fwd_gflops = fl(tq, 2 * R * 3 * D * D);
  const dW = new Float32Array(3 * D * D);
  const tw = time(() =>
    dispatch.matmul({ a: out, b: x, c: dW, m: 3 * D, n: D, k: R, transA: true, beta: 1 }),
  );
  results.matmul_qkv_dW_ms = tw;
  results.matmul_qkv_dW_gflops = fl(tw, 2 * R * 3 * D * D);
  const B = 128 * 4;
  const q = rand(B * 65 * 64);
  const k = rand(B * 65 * 64);
  const s = new Float32Array(B * 65 * 65);
  const batched = {
    m: 65,
    n: 65,
    k: 64,
    transB: true,
    batch: B,
    strideA: 65 * 64,
    strideB: 65 * 64,
    strideC: 65 * 65,
  };
  const ta = time(() => dispatch.matmul({ a: q, b: k, c: s, ...batched, alpha: 0.125 }));
  results.matmul_attn_qk_ms = ta;
  results.matmul_attn_qk_gflops = fl(ta, 2 * B * 65 * 65 * 64);
}

// ---- PyTorch --------------------------------------------------------------------------------------
const TORCH = String.raw`
import json, sys, time, statistics, torch
threads = int(sys.argv[1]); quick = sys.argv[2] == '1'
default_threads = torch.get_num_threads()
torch.set_num_threads(threads)
torch.manual_seed(0)
def tm(fn, iters=(10 if quick else 40), warm=3):
    for _ in range(warm): fn()
    t = []
    for _ in range(iters):
        t0 = time.perf_counter(); fn(); t.append((time.perf_counter() - t0) * 1e3)
    return min(t)
def ov(fn, calls=20000):
    for _ in range(200): fn()
    t0 = time.perf_counter()
    for _ in range(calls): fn()
    return (time.perf_counter() - t0) / calls * 1e6
r = {'torch_version': torch.__version__, 'torch_default_threads': default_threads, 'threads': torch.get_num_threads()}
with torch.no_grad():
    n = 1024; a = torch.rand(n, n); b = torch.rand(n, n); c = torch.empty(n, n)
    for _ in range(3): torch.mm(a, b, out=c)
    best = min((lambda: (lambda t0: (torch.mm(a, b, out=c), time.perf_counter() - t0)[1])(time.perf_counter()))() for _ in range(10 if quick else 30))
    r['sgemm_gflops'] = 2 * n ** 3 / best / 1e9
    t4 = torch.rand(4); o4 = torch.empty(4)
    r['overhead_neg4_us'] = ov(lambda: torch.neg(t4, out=o4))
    r['overhead_add4_us'] = ov(lambda: torch.add(t4, t4, out=o4))
    m2 = torch.rand(2, 2); o2 = torch.empty(2, 2)
    r['overhead_matmul_2x2_us'] = ov(lambda: torch.mm(m2, m2, out=o2))
    R, D, H, SR, SC = 8320, 256, 512, 128 * 4 * 65, 65
    x = torch.rand(R, D) * 5 - 2; w = torch.rand(D) + 0.5; bb = torch.rand(D); dy = torch.rand(R, D) * 2 - 1
    y, mean, rstd = torch.native_layer_norm(x, [D], w, bb, 1e-6)
    r['layernorm_fwd_ms'] = tm(lambda: torch.native_layer_norm(x, [D], w, bb, 1e-6))
    r['layernorm_bwd_ms'] = tm(lambda: torch.ops.aten.native_layer_norm_backward(dy, x, [D], mean, rstd, w, bb, [True, True, True]))
    s = torch.rand(SR, SC) * 10 - 5; ds = torch.rand(SR, SC) * 2 - 1
    ys = torch._softmax(s, -1, False)
    r['softmax_fwd_ms'] = tm(lambda: torch._softmax(s, -1, False))
    r['softmax_bwd_ms'] = tm(lambda: torch._softmax_backward_data(ds, ys, -1, s.dtype))
    g = torch.rand(R, H) * 8 - 4; dg = torch.rand(R, H) * 2 - 1
    r['gelu_fwd_ms'] = tm(lambda: torch.nn.functional.gelu(g))
    r['gelu_bwd_ms'] = tm(lambda: torch.ops.aten.gelu_backward(dg, g))
    a1 = torch.rand(R, D); b1 = torch.rand(R, D); bias = torch.rand(D)
    r['add_ms'] = tm(lambda: a1 + b1)
    r['add_bias_ms'] = tm(lambda: a1 + bias)
    r['add_bwd_copy_ms'] = tm(lambda: a1.clone())
    r['add_bias_bwd_reduce_ms'] = tm(lambda: a1.sum(0))
    xw = torch.rand(R, D); W = torch.rand(3 * D, D); bq = torch.rand(3 * D)
    tq = tm(lambda: torch.nn.functional.linear(xw, W, bq)); r['matmul_qkv_fwd_ms'] = tq; r['matmul_qkv_fwd_gflops'] = 2 * R * 3 * D * D / tq / 1e6
    go = torch.rand(R, 3 * D); dW = torch.zeros(3 * D, D)
    tw = tm(lambda: dW.addmm_(go.t(), xw)); r['matmul_qkv_dW_ms'] = tw; r['matmul_qkv_dW_gflops'] = 2 * R * 3 * D * D / tw / 1e6
    q = torch.rand(128, 4, 65, 64); k = torch.rand(128, 4, 65, 64)
    ta = tm(lambda: (q * 0.125) @ k.transpose(-2, -1)); r['matmul_attn_qk_ms'] = ta; r['matmul_attn_qk_gflops'] = 2 * 512 * 65 * 65 * 64 / ta / 1e6
print(json.dumps(r))
`;

let torch: Record<string, number | string> | null = null;
if (withTorch) {
  const p = spawnSync('/usr/bin/python3', ['-c', TORCH, String(threads), quick ? '1' : '0'], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (p.status === 0) {
    torch = JSON.parse(p.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number | string>;
  } else {
    console.error(`PyTorch benchmark failed: ${p.stderr || p.error}`);
  }
}

// ---- report -----------------------------------------------------------------------------------------
const fmt = (v: number | string | undefined, d = 3) => (typeof v === 'number' ? v.toFixed(d) : (v ?? '-'));
console.log(
  `lape native vs PyTorch ${torch ? `${torch.torch_version} (threads ${torch.threads}; default ${torch.torch_default_threads})` : '(not run)'}`,
);
const rows: [string, string, number, string?][] = [
  ['sgemm 1024^3 (GFLOP/s, higher is better)', 'sgemm_gflops', 1],
  ['call overhead: addon no-op, unchecked (us)', 'overhead_addon_noop_us', 3],
  ['call overhead: unary neg, 4 elements (us)', 'overhead_unary_neg4_us', 3, 'overhead_neg4_us'],
  ['call overhead: unary exp, 4 elements (us)', 'overhead_unary_exp4_us', 3],
  ['call overhead: binary add, 4 elements (us)', 'overhead_binary_add4_us', 3, 'overhead_add4_us'],
  ['call overhead: matmul 2x2x2 (us)', 'overhead_matmul_2x2_us', 3, 'overhead_matmul_2x2_us'],
  ['call overhead: layerNorm 1x4 (us)', 'overhead_layernorm_1x4_us', 3],
  ['call overhead: softmax 1x4 (us)', 'overhead_softmax_1x4_us', 3],
  ['layerNorm fwd [8320,256] (ms)', 'layernorm_fwd_ms', 3],
  ['layerNorm fwd + LaPE addend (ms)', 'layernorm_fwd_addend_ms', 3, 'layernorm_fwd_ms'],
  ['layerNorm bwd [8320,256] (ms)', 'layernorm_bwd_ms', 3],
  ['softmax fwd [33280,65] (ms)', 'softmax_fwd_ms', 3],
  ['softmax bwd [33280,65] (ms)', 'softmax_bwd_ms', 3],
  ['gelu fwd [8320,512] (ms)', 'gelu_fwd_ms', 3],
  ['gelu bwd [8320,512] (ms)', 'gelu_bwd_ms', 3],
  ['add [8320,256] + [8320,256] (ms)', 'add_ms', 3],
  ['add [8320,256] + bias [256] (ms)', 'add_bias_ms', 3],
  ['add bwd: gradient copy [8320,256] (ms)', 'add_bwd_copy_ms', 3],
  ['add bwd: bias gradient sum over rows (ms)', 'add_bias_bwd_reduce_ms', 3],
  ['matmul qkv fwd [8320,256]x[256,768]^T+b (ms)', 'matmul_qkv_fwd_ms', 3],
  ['  (GFLOP/s)', 'matmul_qkv_fwd_gflops', 1],
  ['matmul qkv dW += dY^T X, k=8320 (ms)', 'matmul_qkv_dW_ms', 3],
  ['  (GFLOP/s)', 'matmul_qkv_dW_gflops', 1],
  ['matmul attention q k^T, 512 x [65,64]x[64,65] (ms)', 'matmul_attn_qk_ms', 3],
  ['  (GFLOP/s)', 'matmul_attn_qk_gflops', 1],
];
console.log(`${'kernel'.padEnd(52)}${'lape'.padStart(10)}${'torch'.padStart(10)}${'speedup'.padStart(10)}`);
for (const [label, key, d, tkey] of rows) {
  const ours = results[key];
  if (ours === undefined) continue;
  const theirs = torch ? (torch[tkey ?? key] as number | undefined) : undefined;
  let speed = '';
  if (typeof theirs === 'number') {
    const higherBetter = key.endsWith('gflops');
    speed = `${(higherBetter ? ours / theirs : theirs / ours).toFixed(2)}x`;
  }
  console.log(
    `${label.padEnd(52)}${fmt(ours, d).padStart(10)}${fmt(theirs, d).padStart(10)}${speed.padStart(10)}`,
  );
}
if (argv.includes('--json')) console.log(JSON.stringify({ lape: results, torch }));
