// Matmul over strided 4-D views, for multi-head attention read straight out of the packed qkv
// projection: C[b0, b1] = alpha * A[b0, b1] @ B[b0, b1] + beta * C[b0, b1], where every operand is a
// [b0, b1, rows, cols] view with arbitrary element strides (see StridedMatmulArgs in backend.ts).
// oneDNN's matmul takes such strided memory descriptors directly; one primitive per distinct problem,
// cached like the plain matmul's.
#include <cstring>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "dnnl_common.h"

namespace lape {
namespace {

using dnnl::memory;
using dt = dnnl::memory::data_type;

// meta layout (Float64Array, 22 values):
//   [aOffset, a0, a1, a2, a3, bOffset, b0, b1, b2, b3, cOffset, c0, c1, c2, c3, B0, B1, m, n, k, alpha, beta]
constexpr int kMeta = 22;

struct Key {
  i64 v[19];  // strides, batch and sizes (offsets excluded: they only move the data handle)
  float beta;
  bool scaled;
  bool operator==(const Key& o) const { return std::memcmp(v, o.v, sizeof v) == 0 && beta == o.beta && scaled == o.scaled; }
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    uint64_t h = 1469598103934665603ull;
    for (i64 x : k.v) h = (h ^ static_cast<uint64_t>(x)) * 1099511628211ull;
    uint32_t b;
    std::memcpy(&b, &k.beta, 4);
    h = (h ^ b) * 1099511628211ull;
    return static_cast<size_t>(h ^ (k.scaled ? 0x5bd1e995u : 0u));
  }
};

struct Entry {
  dnnl::matmul prim;
  memory A, B, C, Scale;
  dnn::ScratchMem scratch;
};

std::unordered_map<Key, Entry, KeyHash>& cache() {
  static std::unordered_map<Key, Entry, KeyHash> c;
  return c;
}

/** A stride of 0 on a batch axis broadcasts the operand: oneDNN wants that axis to have size 1. */
memory::desc viewDesc(i64 b0, i64 b1, i64 rows, i64 cols, const i64* s) {
  return memory::desc({s[0] == 0 ? 1 : b0, s[1] == 0 ? 1 : b1, rows, cols}, dt::f32, memory::dims{s[0], s[1], s[2], s[3]});
}

Entry& getEntry(const Key& key, const i64* sa, const i64* sb, const i64* sc, i64 b0, i64 b1, i64 m, i64 n, i64 k) {
  auto& c = cache();
  auto it = c.find(key);
  if (it != c.end()) return it->second;
  memory::desc ad = viewDesc(b0, b1, m, k, sa), bd = viewDesc(b0, b1, k, n, sb);
  memory::desc cd({b0, b1, m, n}, dt::f32, memory::dims{sc[0], sc[1], sc[2], sc[3]});
  dnnl::primitive_attr attr = dnn::userScratchpadAttr();
  if (key.scaled) attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
  if (key.beta != 0.0f) {
    dnnl::post_ops po;
    po.append_sum(key.beta);
    attr.set_post_ops(po);
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ad, bd, cd), attr, dnn::engine());
  Entry e;
  e.prim = dnnl::matmul(pd);
  e.A = dnn::unbound(ad);
  e.B = dnn::unbound(bd);
  e.C = dnn::unbound(cd);
  if (key.scaled) e.Scale = dnn::unbound(memory::desc({1}, dt::f32, memory::format_tag::a));
  e.scratch.init(pd.scratchpad_desc());
  return c.emplace(key, std::move(e)).first->second;
}

/** Highest element index a view touches, plus one. */
i64 extent(const i64* s, i64 b0, i64 b1, i64 rows, i64 cols, const Args& args) {
  return mul(b0 - 1, s[0], args) + mul(b1 - 1, s[1], args) + mul(rows - 1, s[2], args) + mul(cols - 1, s[3], args) + 1;
}

// matmulStrided(a, b, c, meta: Float64Array(22))
napi_value MatmulStrided(napi_env env, napi_callback_info info) {
  Args args(env, info, "matmulStrided");
  View<float> a = args.f32(0, "a"), b = args.f32(1, "b"), c = args.f32(2, "c");
  View<double> meta = args.f64(3, "meta");
  if (meta.len < kMeta) fail(args.where() + "meta must hold 22 values");
  i64 v[kMeta - 2];
  for (int i = 0; i < kMeta - 2; i++) {
    const double x = meta.data[i];
    if (!(x >= 0) || x > 281474976710656.0 || x != static_cast<double>(static_cast<i64>(x))) {
      fail(args.where() + "offsets, strides and sizes must be non-negative integers");
    }
    v[i] = static_cast<i64>(x);
  }
  const i64 *sa = v + 1, *sb = v + 6, *sc = v + 11;
  const i64 b0 = v[15], b1 = v[16], m = v[17], n = v[18], k = v[19];
  float alpha = static_cast<float>(meta.data[20]);
  const float beta = static_cast<float>(meta.data[21]);
  if (b0 == 0 || b1 == 0 || m == 0 || n == 0) return nullptr;
  if (k == 0) fail(args.where() + "k must be positive");
  need(a, v[0] + extent(sa, b0, b1, m, k, args), "a", args);
  need(b, v[5] + extent(sb, b0, b1, k, n, args), "b", args);
  need(c, v[10] + extent(sc, b0, b1, m, n, args), "c", args);

  Key key{};
  std::memcpy(key.v, v + 1, 4 * sizeof(i64));
  std::memcpy(key.v + 4, v + 6, 4 * sizeof(i64));
  std::memcpy(key.v + 8, v + 11, 4 * sizeof(i64));
  std::memcpy(key.v + 12, v + 15, 5 * sizeof(i64));
  key.v[17] = 0;
  key.v[18] = 0;
  key.beta = beta;
  key.scaled = alpha != 1.0f;

  std::lock_guard<std::mutex> guard(dnn::lock());
  Entry& e = getEntry(key, sa, sb, sc, b0, b1, m, n, k);
  e.A.set_data_handle(const_cast<float*>(a.data + v[0]));
  e.B.set_data_handle(const_cast<float*>(b.data + v[5]));
  e.C.set_data_handle(c.data + v[10]);
  dnn::Arg call[5] = {{DNNL_ARG_SRC, &e.A}, {DNNL_ARG_WEIGHTS, &e.B}, {DNNL_ARG_DST, &e.C}};
  int nargs = 3;
  if (e.Scale) {
    e.Scale.set_data_handle(&alpha);
    call[nargs++] = {DNNL_ARG_ATTR_OUTPUT_SCALES, &e.Scale};
  }
  if (e.scratch.bind()) call[nargs++] = {DNNL_ARG_SCRATCHPAD, &e.scratch.mem};
  dnn::execute(e.prim, call, nargs);
  return nullptr;
}

}  // namespace

void InitMatmulStrided(Napi::Env env, Napi::Object exports) { LAPE_EXPORT(env, exports, "matmulStrided", MatmulStrided); }

}  // namespace lape
