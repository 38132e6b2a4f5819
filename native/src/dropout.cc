// Dropout / drop-path masks from the counter-based hash of src/tensor/hash.ts, bit-exact with it:
//   u(seed, i) = (mix32(mix32(i ^ mix32(seed)) + seed) >> 8) * 2^-24,  mask[i] = u(seed, offset + i) >= p ? 1/(1-p) : 0.
// u >= p is evaluated exactly as the integer test (h >> 8) >= ceil(p * 2^24).
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

}  // namespace

void InitDropout(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "dropoutMask", DropoutMask, {"seed", "p", "mask", "offset"});
}

}  // namespace lape
