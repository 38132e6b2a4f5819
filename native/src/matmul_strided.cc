// Matmul over strided 4-D views, for multi-head attention read straight out of the packed qkv
// projection: C[b0, b1] = alpha * A[b0, b1] @ B[b0, b1] + beta * C[b0, b1], where every operand is a
// [b0, b1, rows, cols] view with arbitrary non-negative element strides (see `matmulStrided` in
// src/backend/kernels.ts). oneDNN's matmul takes such strided memory descriptors directly; one
// primitive per distinct problem, kept in a bounded LRU cache like the plain matmul's.
#include <cstring>

#include "common.h"
#include "dnnl_common.h"

namespace lape {
namespace {

using dnnl::memory;
using dt = dnnl::memory::data_type;

struct Key {
  i64 v[17];  // strides of a, b, c, then b0, b1, m, n, k (offsets excluded: they only move the data handle)
  float beta;
  bool scaled;
  Float in, out;  // element types of A and B, and of C
  bool operator==(const Key& o) const {
    return std::memcmp(v, o.v, sizeof v) == 0 && beta == o.beta && scaled == o.scaled && in == o.in && out == o.out;
  }
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    uint64_t h = 1469598103934665603ull;
    for (i64 x : k.v) h = (h ^ static_cast<uint64_t>(x)) * 1099511628211ull;
    uint32_t b;
    std::memcpy(&b, &k.beta, 4);
    h = (h ^ b) * 1099511628211ull;
    h ^= (k.scaled ? 1u : 0u) | (k.in == Float::BF16 ? 2u : 0u) | (k.out == Float::BF16 ? 4u : 0u);
    return static_cast<size_t>(h * 1099511628211ull);
  }
};

struct Entry {
  dnnl::matmul prim;
  memory A, B, C, Scale;
  dnn::ScratchMem scratch;
};

dnn::LruCache<Key, Entry, KeyHash>& cache() {
  static dnn::LruCache<Key, Entry, KeyHash> c;
  return c;
}

/** A stride of 0 on a batch axis broadcasts the operand: oneDNN wants that axis to have size 1. */
memory::desc viewDesc(i64 b0, i64 b1, i64 rows, i64 cols, const i64* s, Float type) {
  return memory::desc({s[0] == 0 ? 1 : b0, s[1] == 0 ? 1 : b1, rows, cols}, dnn::dataType(type),
                      memory::dims{s[0], s[1], s[2], s[3]});
}

Entry& getEntry(const Key& key, const i64* sa, const i64* sb, const i64* sc, i64 b0, i64 b1, i64 m, i64 n, i64 k) {
  auto& c = cache();
  if (Entry* hit = c.find(key)) return *hit;
  memory::desc ad = viewDesc(b0, b1, m, k, sa, key.in), bd = viewDesc(b0, b1, k, n, sb, key.in);
  memory::desc cd({b0, b1, m, n}, dnn::dataType(key.out), memory::dims{sc[0], sc[1], sc[2], sc[3]});
  dnnl::primitive_attr attr = dnn::userScratchpadAttr();
  if (key.scaled) dnn::setRuntimeAlpha(attr);
  if (key.beta != 0.0f) {
    dnnl::post_ops po;
    po.append_sum(key.beta);
    attr.set_post_ops(po);
  }
  dnnl::matmul::primitive_desc pd = dnn::matmulDesc(ad, bd, nullptr, cd, attr);
  Entry e;
  e.prim = dnnl::matmul(pd);
  e.A = dnn::unbound(ad);
  e.B = dnn::unbound(bd);
  e.C = dnn::unbound(cd);
  if (key.scaled) e.Scale = dnn::unbound(memory::desc({1}, dt::f32, memory::format_tag::a));
  e.scratch.init(pd.scratchpad_desc());
  return c.insert(key, std::move(e));
}

/** Highest element index a view touches, plus one. */
i64 extent(const i64* s, i64 b0, i64 b1, i64 rows, i64 cols, const Fields& f) {
  return mul(b0 - 1, s[0], f) + mul(b1 - 1, s[1], f) + mul(rows - 1, s[2], f) + mul(cols - 1, s[3], f) + 1;
}

napi_value MatmulStrided(napi_env env, napi_callback_info info) {
  Fields f(env, info, "matmulStrided");
  const Fields::MatrixView a = f.view("a"), b = f.view("b"), c = f.view("c");
  i64 batch[2];
  if (f.ints("batch", batch, 2) != 2) fail(f.where() + "batch must hold two sizes");
  const i64 b0 = batch[0], b1 = batch[1], m = f.size("m"), n = f.size("n"), k = f.size("k");
  float alpha = static_cast<float>(f.num("alpha"));
  const float beta = static_cast<float>(f.num("beta"));
  for (const Fields::MatrixView* v : {&a, &b, &c})
    for (i64 s : v->strides)
      if (s < 0) fail(f.where() + "strides must be non-negative");
  if (b0 < 0 || b1 < 0) fail(f.where() + "batch sizes must be non-negative");
  if (a.data.type != b.data.type) fail(f.where() + "a and b must have the same element type");
  if (b0 == 0 || b1 == 0 || m == 0 || n == 0) return nullptr;
  if (k == 0) fail(f.where() + "k must be positive");
  need(a.data, a.offset + extent(a.strides, b0, b1, m, k, f), "a", f);
  need(b.data, b.offset + extent(b.strides, b0, b1, k, n, f), "b", f);
  need(c.data, c.offset + extent(c.strides, b0, b1, m, n, f), "c", f);

  // oneDNN's output batch is the broadcast of the inputs' batches: an axis along which both inputs are
  // broadcast (stride 0) but the output is not is walked here, one primitive call per index.
  const i64 loop0 = (a.strides[0] == 0 && b.strides[0] == 0 && c.strides[0] != 0) ? b0 : 1;
  const i64 loop1 = (a.strides[1] == 0 && b.strides[1] == 0 && c.strides[1] != 0) ? b1 : 1;
  const i64 pb0 = loop0 > 1 ? 1 : b0, pb1 = loop1 > 1 ? 1 : b1;

  Key key{};
  std::memcpy(key.v, a.strides, 4 * sizeof(i64));
  std::memcpy(key.v + 4, b.strides, 4 * sizeof(i64));
  std::memcpy(key.v + 8, c.strides, 4 * sizeof(i64));
  key.v[12] = pb0;
  key.v[13] = pb1;
  key.v[14] = m;
  key.v[15] = n;
  key.v[16] = k;
  key.beta = beta;
  key.scaled = alpha != 1.0f;
  key.in = a.data.type;
  key.out = c.data.type;

  std::lock_guard<std::mutex> guard(dnn::lock());
  Entry& e = getEntry(key, a.strides, b.strides, c.strides, pb0, pb1, m, n, k);
  e.A.set_data_handle(a.data.at(a.offset));
  e.B.set_data_handle(b.data.at(b.offset));
  dnn::Arg call[5] = {{DNNL_ARG_SRC, &e.A}, {DNNL_ARG_WEIGHTS, &e.B}, {DNNL_ARG_DST, &e.C}};
  int nargs = 3;
  if (e.Scale) {
    e.Scale.set_data_handle(&alpha);
    call[nargs++] = {dnn::kAlphaArg, &e.Scale};
  }
  if (e.scratch.bind()) call[nargs++] = {DNNL_ARG_SCRATCHPAD, &e.scratch.mem};
  for (i64 i0 = 0; i0 < loop0; i0++)
    for (i64 i1 = 0; i1 < loop1; i1++) {
      e.C.set_data_handle(c.data.at(c.offset + i0 * c.strides[0] + i1 * c.strides[1]));
      dnn::execute(e.prim, call, nargs);
    }
  return nullptr;
}

}  // namespace

size_t matmulStridedCacheSize() { return cache().size(); }

void InitMatmulStrided(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "matmulStrided", MatmulStrided, {"a", "b", "c", "batch", "m", "n", "k", "alpha", "beta"});
}

}  // namespace lape
