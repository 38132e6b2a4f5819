// Row-wise softmax / log-softmax over the last axis of [rows, cols], forward and backward.
// Own fused kernels (one row at a time in L1, vectorized exp) by default; oneDNN's softmax_v2
// primitives (cached per shape, algorithm and direction) are exported as `softmaxDnnl*` for the
// benchmark that compares both.
#include <unordered_map>

#include "common.h"
#include "dnnl_common.h"
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

// ---- oneDNN ---------------------------------------------------------------------------------------

using dnnl::memory;

struct Key {
  i64 rows, cols;
  bool log, backward;
  bool operator==(const Key& o) const { return rows == o.rows && cols == o.cols && log == o.log && backward == o.backward; }
};
struct KeyHash {
  size_t operator()(const Key& k) const {
    return std::hash<i64>()((k.rows * 1000003 + k.cols) * 4 + (k.log ? 2 : 0) + (k.backward ? 1 : 0));
  }
};
struct Entry {
  dnnl::primitive prim;
  memory a, b, c;  // forward: src, dst; backward: dst, diff_dst, diff_src
  dnn::ScratchMem scratch;
};

std::unordered_map<Key, Entry, KeyHash>& cache() {
  static std::unordered_map<Key, Entry, KeyHash> c;
  return c;
}

Entry& entry(const Key& key) {
  auto& c = cache();
  auto it = c.find(key);
  if (it != c.end()) return it->second;
  memory::desc md({key.rows, key.cols}, memory::data_type::f32, memory::format_tag::ab);
  const dnnl::algorithm alg = key.log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
  dnnl::primitive_attr attr = dnn::userScratchpadAttr();
  dnnl::softmax_v2_forward::desc fd(key.backward ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
                                    alg, md, md, 1);
  dnnl::softmax_v2_forward::primitive_desc fpd(fd, attr, dnn::engine());
  Entry e;
  if (!key.backward) {
    e.prim = dnnl::softmax_v2_forward(fpd);
    e.scratch.init(fpd.scratchpad_desc());
  } else {
    dnnl::softmax_v2_backward::desc bd(alg, md, md, md, 1);
    dnnl::softmax_v2_backward::primitive_desc bpd(bd, attr, dnn::engine(), fpd);
    e.prim = dnnl::softmax_v2_backward(bpd);
    e.scratch.init(bpd.scratchpad_desc());
    e.c = dnn::unbound(md);
  }
  e.a = dnn::unbound(md);
  e.b = dnn::unbound(md);
  return c.emplace(key, std::move(e)).first->second;
}

// softmaxDnnl(x, y, rows, cols, log)
napi_value SoftmaxDnnl(napi_env env, napi_callback_info info) {
  Args args(env, info, "softmaxDnnl");
  View<float> x = args.f32(0, "x"), y = args.f32(1, "y");
  const i64 rows = args.size(2, "rows"), cols = args.size(3, "cols");
  const bool log = args.flag(4, "log");
  const i64 n = mul(rows, cols, args);
  need(x, n, "x", args);
  need(y, n, "y", args);
  if (n == 0) return nullptr;
  std::lock_guard<std::mutex> guard(dnn::lock());
  Entry& e = entry(Key{rows, cols, log, false});
  e.a.set_data_handle(x.data);
  e.b.set_data_handle(y.data);
  dnn::Arg a[3] = {{DNNL_ARG_SRC, &e.a}, {DNNL_ARG_DST, &e.b}};
  int na = 2;
  if (e.scratch.bind()) a[na++] = {DNNL_ARG_SCRATCHPAD, &e.scratch.mem};
  dnn::execute(e.prim, a, na);
  return nullptr;
}

// softmaxBackwardDnnl(y, dy, dx, rows, cols, log)
napi_value SoftmaxBackwardDnnl(napi_env env, napi_callback_info info) {
  Args args(env, info, "softmaxBackwardDnnl");
  View<float> y = args.f32(0, "y"), dy = args.f32(1, "dy"), dx = args.f32(2, "dx");
  const i64 rows = args.size(3, "rows"), cols = args.size(4, "cols");
  const bool log = args.flag(5, "log");
  const i64 n = mul(rows, cols, args);
  need(y, n, "y", args);
  need(dy, n, "dy", args);
  need(dx, n, "dx", args);
  if (n == 0) return nullptr;
  std::lock_guard<std::mutex> guard(dnn::lock());
  Entry& e = entry(Key{rows, cols, log, true});
  e.a.set_data_handle(y.data);
  e.b.set_data_handle(dy.data);
  e.c.set_data_handle(dx.data);
  dnn::Arg a[4] = {{DNNL_ARG_DST, &e.a}, {DNNL_ARG_DIFF_DST, &e.b}, {DNNL_ARG_DIFF_SRC, &e.c}};
  int na = 3;
  if (e.scratch.bind()) a[na++] = {DNNL_ARG_SCRATCHPAD, &e.scratch.mem};
  dnn::execute(e.prim, a, na);
  return nullptr;
}

// softmax(x, y, rows, cols, log)
napi_value Softmax(napi_env env, napi_callback_info info) {
  Args args(env, info, "softmax");
  View<float> x = args.f32(0, "x"), y = args.f32(1, "y");
  const i64 rows = args.size(2, "rows"), cols = args.size(3, "cols");
  const bool log = args.flag(4, "log");
  const i64 n = mul(rows, cols, args);
  need(x, n, "x", args);
  need(y, n, "y", args);
  if (n == 0) return nullptr;
  const float* xp = x.data;
  float* yp = y.data;
  const i64 grain = std::max<i64>(1, 4096 / cols);
  if (log) parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxRows<true>(xp, yp, b, e, cols); });
  else parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxRows<false>(xp, yp, b, e, cols); });
  return nullptr;
}

// softmaxBackward(y, dy, dx, rows, cols, log)
napi_value SoftmaxBackward(napi_env env, napi_callback_info info) {
  Args args(env, info, "softmaxBackward");
  View<float> y = args.f32(0, "y"), dy = args.f32(1, "dy"), dx = args.f32(2, "dx");
  const i64 rows = args.size(3, "rows"), cols = args.size(4, "cols");
  const bool log = args.flag(5, "log");
  const i64 n = mul(rows, cols, args);
  need(y, n, "y", args);
  need(dy, n, "dy", args);
  need(dx, n, "dx", args);
  if (n == 0) return nullptr;
  const float *yp = y.data, *dyp = dy.data;
  float* dxp = dx.data;
  const i64 grain = std::max<i64>(1, 4096 / cols);
  if (log) parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxBackwardRows<true>(yp, dyp, dxp, b, e, cols); });
  else parallelFor(rows, grain, [&](i64 b, i64 e) { softmaxBackwardRows<false>(yp, dyp, dxp, b, e, cols); });
  return nullptr;
}

}  // namespace

void InitSoftmax(Napi::Env env, Napi::Object exports) {
  LAPE_EXPORT(env, exports, "softmax", Softmax);
  LAPE_EXPORT(env, exports, "softmaxBackward", SoftmaxBackward);
  LAPE_EXPORT(env, exports, "softmaxDnnl", SoftmaxDnnl);
  LAPE_EXPORT(env, exports, "softmaxBackwardDnnl", SoftmaxBackwardDnnl);
}

}  // namespace lape
