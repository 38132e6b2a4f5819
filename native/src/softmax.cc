// Row-wise softmax / log-softmax over the last axis of [rows, cols], forward and backward.
// Own fused kernels: one row at a time in L1, vectorized exp. The output y may be bfloat16 (attention
// probabilities under autocast): a row is computed in float32 in a per-thread scratch row and rounded
// once on the way out; the backward pass widens a bfloat16 y row the same way.
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

/** softmaxRows into a bfloat16 y: each row in float32 scratch, then rounded. */
template <bool LOG>
void softmaxRowsBf16(const float* x, uint16_t* y, i64 r0, i64 r1, i64 cols) {
  static thread_local Scratch scratch;
  float* row = scratch.as<float>(static_cast<size_t>(cols));
  for (i64 r = r0; r < r1; r++) {
    softmaxRows<LOG>(x + r * cols, row, 0, 1, cols);
    uint16_t* yr = y + r * cols;
    for (i64 j = 0; j < cols; j++) yr[j] = toBf16(row[j]);
  }
}

template <bool LOG>
LAPE_CLONES void softmaxBackwardRows(const float* y, const float* dy, float* dx, i64 r0, i64 r1, i64 cols) {
  for (i64 row = r0; row < r1; row++) {
    const float* LAPE_RESTRICT yr = y + row * cols;
    const float* LAPE_RESTRICT dyr = dy + row * cols;
    float* LAPE_RESTRICT dxr = dx + row * cols;
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

/** softmaxBackwardRows from a bfloat16 y: each y row widened into float32 scratch first. */
template <bool LOG>
void softmaxBackwardRowsBf16(const uint16_t* y, const float* dy, float* dx, i64 r0, i64 r1, i64 cols) {
  static thread_local Scratch scratch;
  float* row = scratch.as<float>(static_cast<size_t>(cols));
  for (i64 r = r0; r < r1; r++) {
    const uint16_t* yr = y + r * cols;
    for (i64 j = 0; j < cols; j++) row[j] = fromBf16(yr[j]);
    softmaxBackwardRows<LOG>(row, dy + r * cols, dx + r * cols, 0, 1, cols);
  }
}

napi_value Softmax(napi_env env, napi_callback_info info) {
  Fields args(env, info, "softmax");
  View<float> x = args.f32("x");
  const FloatBuf y = args.floating("y");
  const i64 rows = args.size("rows"), cols = args.size("cols");
  const bool log = args.flag("log");
  const i64 n = mul(rows, cols, args);
  need(x, n, "x", args);
  need(y, n, "y", args);
  if (n == 0) return nullptr;
  const float* xp = x.data;
  const i64 grain = std::max<i64>(1, 4096 / cols);
  if (y.type == Float::BF16) {
    uint16_t* yp = static_cast<uint16_t*>(y.data);
    if (log) parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxRowsBf16<true>(xp, yp, b, e, cols); });
    else parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxRowsBf16<false>(xp, yp, b, e, cols); });
    return nullptr;
  }
  float* yp = static_cast<float*>(y.data);
  if (log) parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxRows<true>(xp, yp, b, e, cols); });
  else parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxRows<false>(xp, yp, b, e, cols); });
  return nullptr;
}

napi_value SoftmaxBackward(napi_env env, napi_callback_info info) {
  Fields args(env, info, "softmaxBackward");
  const FloatBuf y = args.floating("y");
  View<float> dy = args.f32("dy"), dx = args.f32("dx");
  const i64 rows = args.size("rows"), cols = args.size("cols");
  const bool log = args.flag("log");
  const i64 n = mul(rows, cols, args);
  need(y, n, "y", args);
  need(dy, n, "dy", args);
  need(dx, n, "dx", args);
  if (n == 0) return nullptr;
  const float* dyp = dy.data;
  float* dxp = dx.data;
  const i64 grain = std::max<i64>(1, 4096 / cols);
  if (y.type == Float::BF16) {
    const uint16_t* yh = static_cast<const uint16_t*>(y.data);
    if (log) parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxBackwardRowsBf16<true>(yh, dyp, dxp, b, e, cols); });
    else parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxBackwardRowsBf16<false>(yh, dyp, dxp, b, e, cols); });
    return nullptr;
  }
  const float* yp = static_cast<const float*>(y.data);
  if (log) parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxBackwardRows<true>(yp, dyp, dxp, b, e, cols); });
  else parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxBackwardRows<false>(yp, dyp, dxp, b, e, cols); });
  return nullptr;
}

}  // namespace

void InitSoftmax(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "softmax", Softmax, {"x", "y", "rows", "cols", "log"});
  LAPE_KERNEL(env, exports, "softmaxBackward", SoftmaxBackward, {"y", "dy", "dx", "rows", "cols", "log"});
}

}  // namespace lape
