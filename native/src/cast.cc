// Conversion between float32 and bfloat16 (the `cast` kernel): round to nearest even one way, exact
// widening the other. Memory-bound; runtime-dispatched vector loops over contiguous chunks.
#include "bf16.h"
#include "common.h"

namespace lape {
namespace {

constexpr i64 kGrain = 32768;

napi_value Cast(napi_env env, napi_callback_info info) {
  Fields f(env, info, "cast");
  const FloatBuf x = f.floating("x"), out = f.floating("out");
  const i64 n = out.len;
  need(x, n, "x", f);
  if (n == 0) return nullptr;
  if (x.type == out.type) {
    if (x.data != out.data) std::memmove(out.data, x.data, n * sizeOf(x.type));
    return nullptr;
  }
  if (x.type == Float::F32) {
    const float* xp = static_cast<const float*>(x.data);
    uint16_t* yp = static_cast<uint16_t*>(out.data);
    parallelFor(n, kGrain, [&](i64 b, i64 e) { narrowRun(xp + b, yp + b, e - b); });
  } else {
    const uint16_t* xp = static_cast<const uint16_t*>(x.data);
    float* yp = static_cast<float*>(out.data);
    parallelFor(n, kGrain, [&](i64 b, i64 e) { widenRun(xp + b, yp + b, e - b); });
  }
  return nullptr;
}

}  // namespace

void InitCast(Napi::Env env, Napi::Object exports) { LAPE_KERNEL(env, exports, "cast", Cast, {"x", "out"}); }

}  // namespace lape
