// Row gather and its adjoint (scatter-add), e.g. for embedding-style lookups and RPE bias tables.
#include "common.h"

namespace lape {
namespace {

LAPE_CLONES void addRow(const float* LAPE_RESTRICT s, float* LAPE_RESTRICT d, i64 n) {
#pragma omp simd
  for (i64 j = 0; j < n; j++) d[j] += s[j];
}

void checkIndices(const int32_t* idx, i64 n, i64 rows, const Fields& args) {
  bool ok = true;
  for (i64 i = 0; i < n; i++) ok &= (idx[i] >= 0) & (idx[i] < rows);
  if (!ok) fail(args.where() + "index out of range (rows: " + std::to_string(rows) + ")");
}

// out[i, :] = x[idx[i], :]
napi_value GatherRows(napi_env env, napi_callback_info info) {
  Fields args(env, info, "gatherRows");
  View<float> x = args.f32("x"), out = args.f32("out");
  View<int32_t> idx = args.i32("idx");
  const i64 width = args.size("width");
  const i64 n = idx.len;
  if (width == 0 || n == 0) return nullptr;
  need(out, mul(n, width, args), "out", args);
  checkIndices(idx.data, n, x.len / width, args);
  const float* xp = x.data;
  const int32_t* ip = idx.data;
  float* op = out.data;
  parallelFor(n, std::max<i64>(1, 32768 / width), [&](i64 b, i64 e) {
    for (i64 i = b; i < e; i++) std::memcpy(op + i * width, xp + static_cast<i64>(ip[i]) * width, width * sizeof(float));
  });
  return nullptr;
}

// dx[idx[i], :] += dy[i, :]
napi_value ScatterAddRows(napi_env env, napi_callback_info info) {
  Fields args(env, info, "scatterAddRows");
  View<float> dy = args.f32("dy"), dx = args.f32("dx");
  View<int32_t> idx = args.i32("idx");
  const i64 width = args.size("width");
  const i64 n = idx.len;
  if (width == 0 || n == 0) return nullptr;
  need(dy, mul(n, width, args), "dy", args);
  checkIndices(idx.data, n, dx.len / width, args);
  const float* sp = dy.data;
  const int32_t* ip = idx.data;
  float* dp = dx.data;
  const int nt = threadsFor(n * width, 32768);
  if (nt <= 1) {
    for (i64 i = 0; i < n; i++) addRow(sp + i * width, dp + static_cast<i64>(ip[i]) * width, width);
    return nullptr;
  }
  // Thread t owns the destination rows r with r % T == t: no races, and every row still receives its
  // contributions in index order.
#pragma omp parallel num_threads(nt)
  {
    const int32_t t = omp_get_thread_num(), T = omp_get_num_threads();
    for (i64 i = 0; i < n; i++)
      if (ip[i] % T == t) addRow(sp + i * width, dp + static_cast<i64>(ip[i]) * width, width);
  }
  return nullptr;
}

}  // namespace

void InitGather(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "gatherRows", GatherRows, {"x", "idx", "out", "width"});
  LAPE_KERNEL(env, exports, "scatterAddRows", ScatterAddRows, {"dy", "idx", "dx", "width"});
}

}  // namespace lape
