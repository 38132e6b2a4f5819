// Row-wise softmax / log-softmax over the last axis of [rows, cols], forward and backward.
// Own fused kernels: one row at a time in L1, vectorized exp. The output y may be bfloat16 (attention
// probabilities under autocast): a row is computed in float32 in a per-thread scratch row and rounded
// once on the way out; the backward pass widens a bfloat16 y row the same way. Attention's dropout is
// fused into both directions (the mask is read, not drawn here) and the backward pass may write its
// result in bfloat16 for the attention GEMMs that read it.
#include "bf16.h"
#include "common.h"
#include "simd.h"
#include "vmath.h"

namespace lape {
namespace {

// ---- own kernels ----------------------------------------------------------------------------------

template <bool LOG>
LAPE_CLONES void softmaxRows(const float* x, float* y, i64 r0, i64 r1, i64 cols) {
  for (i64 row = r0; row < r1; row++) {
    const float* LAPE_RESTRICT xr = x + row * cols;
    float* LAPE_RESTRICT yr = y + row * cols;
    const float mx = simd::max(xr, cols);
    // exp(x - max) goes to y first (the sum is a separate, vectorized pass over L1).
#pragma omp simd
    for (i64 j = 0; j < cols; j++) yr[j] = vexp(xr[j] - mx);
    const float sum = simd::sum(yr, cols);
    if constexpr (LOG) {
      const float lse = static_cast<float>(static_cast<double>(mx) + std::log(static_cast<double>(sum)));
#pragma omp simd
      for (i64 j = 0; j < cols; j++) yr[j] = xr[j] - lse;
    } else {
      const float inv = 1.0f / sum;
#pragma omp simd
      for (i64 j = 0; j < cols; j++) yr[j] *= inv;
    }
  }
}

template <bool LOG>
LAPE_CLONES void softmaxBackwardRows(const float* y, const float* dy, float* dx, i64 r0, i64 r1, i64 cols) {
  for (i64 row = r0; row < r1; row++) {
    const float* yr = y + row * cols;
    const float* dyr = dy + row * cols;
    float* dxr = dx + row * cols;  // may be dyr itself: the row is read in full (s) before it is written
    if constexpr (LOG) {
      const float s = simd::sum(dyr, cols);
#pragma omp simd
      for (i64 j = 0; j < cols; j++) dxr[j] = dyr[j] - vexp(yr[j]) * s;
    } else {
      const float s = simd::dot(dyr, yr, cols);
#pragma omp simd
      for (i64 j = 0; j < cols; j++) dxr[j] = yr[j] * (dyr[j] - s);
    }
  }
}

/** out = a * b (float32) over a contiguous run. */
LAPE_CLONES void mulRun(const float* LAPE_RESTRICT a, const float* LAPE_RESTRICT b, float* LAPE_RESTRICT out, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) out[i] = a[i] * b[i];
}

/** out = bf16(a * b) over a contiguous run. */
LAPE_CLONES void mulNarrowRun(const float* LAPE_RESTRICT a, const float* LAPE_RESTRICT b, uint16_t* LAPE_RESTRICT out, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) out[i] = toBf16(a[i] * b[i]);
}

/** Rows per tile: a tile of float32 scratch stays in L1/L2 between the passes over it. */
inline i64 tileRows(i64 cols) { return std::max<i64>(1, 4096 / cols); }

/**
 * Softmax of rows [r0, r1) into y (float32 or bfloat16), with dropout optionally fused:
 * dropped = y * mask. Rows are computed a tile at a time in float32 (in y itself when it is float32,
 * else in per-thread scratch) and rounded once on the way out.
 */
template <bool LOG>
void softmaxRange(const float* x, const FloatBuf& y, const float* mask, const FloatBuf* dropped, i64 r0, i64 r1, i64 cols) {
  static thread_local Scratch scratch;
  const i64 tile = tileRows(cols);
  float* tmp = y.type == Float::BF16 ? scratch.as<float>(static_cast<size_t>(tile * cols)) : nullptr;
  for (i64 r = r0; r < r1; r += tile) {
    const i64 rows = std::min(tile, r1 - r), off = r * cols, n = rows * cols;
    float* row = tmp ? tmp : static_cast<float*>(y.data) + off;
    softmaxRows<LOG>(x + off, row, 0, rows, cols);
    if (tmp) narrowRun(row, static_cast<uint16_t*>(y.data) + off, n);
    if (!dropped) continue;
    if (dropped->type == Float::BF16) mulNarrowRun(row, mask + off, static_cast<uint16_t*>(dropped->data) + off, n);
    else mulRun(row, mask + off, static_cast<float*>(dropped->data) + off, n);
  }
}

/**
 * Backward of rows [r0, r1), a tile at a time: y widened to float32 where it is bfloat16, dy * mask
 * where there is dropout, dx written in float32 (it may be dy itself: each row is read in full before
 * it is written) or computed in scratch and rounded to bfloat16.
 */
template <bool LOG>
void softmaxBackwardRange(const FloatBuf& y, const float* dy, const float* mask, const FloatBuf& dx, i64 r0, i64 r1, i64 cols) {
  static thread_local Scratch scratch;
  const i64 tile = tileRows(cols), tn = tile * cols;
  float* buf = scratch.as<float>(static_cast<size_t>(3 * tn));
  for (i64 r = r0; r < r1; r += tile) {
    const i64 rows = std::min(tile, r1 - r), off = r * cols, n = rows * cols;
    const float* yt = static_cast<const float*>(y.data) + off;
    if (y.type == Float::BF16) {
      widenRun(static_cast<const uint16_t*>(y.data) + off, buf, n);
      yt = buf;
    }
    const float* gt = dy + off;
    if (mask) {
      mulRun(gt, mask + off, buf + tn, n);
      gt = buf + tn;
    }
    const bool half = dx.type == Float::BF16;
    float* out = half ? buf + 2 * tn : static_cast<float*>(dx.data) + off;
    softmaxBackwardRows<LOG>(yt, gt, out, 0, rows, cols);
    if (half) narrowRun(out, static_cast<uint16_t*>(dx.data) + off, n);
  }
}

napi_value Softmax(napi_env env, napi_callback_info info) {
  Fields args(env, info, "softmax");
  View<float> x = args.f32("x");
  const FloatBuf y = args.floating("y");
  const i64 rows = args.size("rows"), cols = args.size("cols");
  const bool log = args.flag("log");
  const View<float> mask = args.f32opt("mask");
  const bool drop = args.has("dropped");
  const FloatBuf dropped = drop ? args.floating("dropped") : FloatBuf{};
  if (drop != static_cast<bool>(mask)) fail(args.where() + "mask and dropped go together");
  if (drop && log) fail(args.where() + "dropout is fused into softmax, not log-softmax");
  const i64 n = mul(rows, cols, args);
  need(x, n, "x", args);
  need(y, n, "y", args);
  if (drop) {
    need(mask, n, "mask", args);
    need(dropped, n, "dropped", args);
  }
  if (n == 0) return nullptr;
  const float* xp = x.data;
  const float* mp = mask.data;
  const FloatBuf* dp = drop ? &dropped : nullptr;
  const i64 grain = tileRows(cols);
  if (log) parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxRange<true>(xp, y, mp, dp, b, e, cols); });
  else parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxRange<false>(xp, y, mp, dp, b, e, cols); });
  return nullptr;
}

napi_value SoftmaxBackward(napi_env env, napi_callback_info info) {
  Fields args(env, info, "softmaxBackward");
  const FloatBuf y = args.floating("y");
  View<float> dy = args.f32("dy");
  const FloatBuf dx = args.floating("dx");
  const i64 rows = args.size("rows"), cols = args.size("cols");
  const bool log = args.flag("log");
  const View<float> mask = args.f32opt("mask");
  if (mask && log) fail(args.where() + "dropout is fused into softmax, not log-softmax");
  const i64 n = mul(rows, cols, args);
  need(y, n, "y", args);
  need(dy, n, "dy", args);
  need(dx, n, "dx", args);
  if (mask) need(mask, n, "mask", args);
  if (n == 0) return nullptr;
  const float* dyp = dy.data;
  const float* mp = mask.data;
  const i64 grain = tileRows(cols);
  if (log) parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxBackwardRange<true>(y, dyp, mp, dx, b, e, cols); });
  else parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxBackwardRange<false>(y, dyp, mp, dx, b, e, cols); });
  return nullptr;
}

}  // namespace

void InitSoftmax(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "softmax", Softmax, {"x", "y", "rows", "cols", "log", "mask", "dropped"});
  LAPE_KERNEL(env, exports, "softmaxBackward", SoftmaxBackward, {"y", "dy", "dx", "rows", "cols", "log", "mask"});
}

}  // namespace lape
