// Row gather and its adjoint (scatter-add), e.g. for embedding-style lookups and RPE bias tables.
#include "common.h"

namespace lape {
namespace {

LAPE_CLONES void addRow(const float* LAPE_RESTRICT s, float* LAPE_RESTRICT d, i64 n) {
#pragma omp simd
  for (i64 j = 0; j < n; j++) d[j] += s[j];
}

/** The operands of gatherRows / scatterAddRows: a table of rows, an index per picked row, the picks. */
struct Rows {
  View<float> table, picked;
  View<int32_t> idx;
  i64 width, n;
};

/** Reads and checks them; n is 0 when there is nothing to do. */
Rows readRows(const Fields& args, const char* table, const char* picked) {
  Rows r;
  r.table = args.f32(table);
  r.picked = args.f32(picked);
  r.idx = args.i32("idx");
  r.width = args.size("width");
  r.n = r.width == 0 ? 0 : r.idx.len;
  if (r.n == 0) return r;
  need(r.picked, mul(r.n, r.width, args), picked, args);
  const i64 rows = r.table.len / r.width;
  bool ok = true;
  for (i64 i = 0; i < r.n; i++) ok &= (r.idx.data[i] >= 0) & (r.idx.data[i] < rows);
  if (!ok) fail(args.where() + "index out of range (rows: " + std::to_string(rows) + ")");
  return r;
}

// out[i, :] = x[idx[i], :]
napi_value GatherRows(napi_env env, napi_callback_info info) {
  Fields args(env, info, "gatherRows");
  const Rows r = readRows(args, "x", "out");
  const i64 n = r.n, width = r.width;
  if (n == 0) return nullptr;
  const float* xp = r.table.data;
  const int32_t* ip = r.idx.data;
  float* op = r.picked.data;
  parallelFor(n, std::max<i64>(1, 32768 / width), [&](i64 b, i64 e) {
    for (i64 i = b; i < e; i++) std::memcpy(op + i * width, xp + static_cast<i64>(ip[i]) * width, width * sizeof(float));
  });
  return nullptr;
}

// dx[idx[i], :] += dy[i, :]
napi_value ScatterAddRows(napi_env env, napi_callback_info info) {
  Fields args(env, info, "scatterAddRows");
  const Rows r = readRows(args, "dx", "dy");
  const i64 n = r.n, width = r.width;
  if (n == 0) return nullptr;
  const float* sp = r.picked.data;
  const int32_t* ip = r.idx.data;
  float* dp = r.table.data;
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
