// Dropout / drop-path masks from the counter-based hash of src/tensor/hash.ts, bit-exact with it:
//   u(seed, i) = (mix32(mix32(i ^ mix32(seed)) + seed) >> 8) * 2^-24,  mask[i] = u(seed, offset + i) >= p ? 1/(1-p) : 0.
// u >= p is evaluated exactly as the integer test (h >> 8) >= ceil(p * 2^24).
// Also the residual add with drop-path's per-sample scale (`addScaledRows`), both directions.
#include "bf16.h"
#include "common.h"

namespace lape {
namespace {

inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

LAPE_CLONES void maskChunk(float* LAPE_RESTRICT mask, i64 begin, i64 n, uint32_t seed, uint32_t k, uint32_t threshold, float keep) {
#pragma omp simd
  for (i64 j = 0; j < n; j++) {
    const uint32_t i = static_cast<uint32_t>(begin + j);
    const uint32_t h = mix32(mix32(i ^ k) + seed);
    mask[j] = (h >> 8) >= threshold ? keep : 0.0f;
  }
}

napi_value DropoutMask(napi_env env, napi_callback_info info) {
  Fields args(env, info, "dropoutMask");
  const i64 seedI = args.integer("seed");
  if (seedI < 0 || seedI > 4294967295LL) fail(args.where() + "seed must be a uint32");
  const uint32_t seed = static_cast<uint32_t>(seedI);
  const double p = args.num("p");
  View<float> mask = args.f32("mask");
  const i64 offset = args.size("offset");  // counter of mask[0]
  if (offset + mask.len > 4294967296LL) fail(args.where() + "offset + the mask's length must fit the 32-bit counter");
  uint32_t threshold;
  if (p != p) threshold = (1u << 24) + 1;  // NaN: u >= p never holds
  else if (p <= 0) threshold = 0;
  else if (p >= 1) threshold = 1u << 24;
  else threshold = static_cast<uint32_t>(std::ceil(p * 16777216.0));
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  const uint32_t k = mix32(seed);
  float* m = mask.data;
  parallelFor(mask.len, 16384, [&](i64 b, i64 e) { maskChunk(m + b, offset + b, e - b, seed, k, threshold, keep); });
  return nullptr;
}

/** One row of out = x + y * s (X: whether there is a residual x); O is float or uint16_t (bfloat16). */
template <bool X, class O>
LAPE_CLONES void addScaledRow(const float* LAPE_RESTRICT x, const float* LAPE_RESTRICT y, float s, O* LAPE_RESTRICT out, i64 n) {
#pragma omp simd
  for (i64 j = 0; j < n; j++) store(out + j, X ? x[j] + y[j] * s : y[j] * s);
}

template <bool X, class O>
void addScaledRows(const float* x, const float* y, const float* scale, O* out, i64 rows, i64 cols) {
  // Split over rows and, for few long rows (a batch of samples), over column chunks too.
  const i64 chunk = std::min<i64>(cols, 16384), per = (cols + chunk - 1) / chunk;
  parallelFor(rows * per, 1, [&](i64 b, i64 e) {
    for (i64 t = b; t < e; t++) {
      const i64 r = t / per, c0 = (t % per) * chunk, n = std::min(chunk, cols - c0), off = r * cols + c0;
      addScaledRow<X, O>(X ? x + off : nullptr, y + off, scale[r], out + off, n);
    }
  });
}

napi_value AddScaledRows(napi_env env, napi_callback_info info) {
  Fields args(env, info, "addScaledRows");
  const View<float> x = args.f32opt("x"), y = args.f32("y"), scale = args.f32("scale");
  const FloatBuf out = args.floating("out");
  const bool hasX = args.has("x");
  const i64 rows = args.size("rows"), cols = args.size("cols"), n = mul(rows, cols, args);
  if (hasX) need(x, n, "x", args);
  need(y, n, "y", args);
  need(scale, rows, "scale", args);
  need(out, n, "out", args);
  if (n == 0) return nullptr;
  if (out.type == Float::BF16) {
    uint16_t* o = static_cast<uint16_t*>(out.data);
    if (hasX) addScaledRows<true>(x.data, y.data, scale.data, o, rows, cols);
    else addScaledRows<false>(x.data, y.data, scale.data, o, rows, cols);
  } else {
    float* o = static_cast<float*>(out.data);
    if (hasX) addScaledRows<true>(x.data, y.data, scale.data, o, rows, cols);
    else addScaledRows<false>(x.data, y.data, scale.data, o, rows, cols);
  }
  return nullptr;
}

}  // namespace

void InitDropout(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "dropoutMask", DropoutMask, {"seed", "p", "mask", "offset"});
  LAPE_KERNEL(env, exports, "addScaledRows", AddScaledRows, {"x", "y", "scale", "out", "rows", "cols"});
}

}  // namespace lape
