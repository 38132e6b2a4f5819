// Batched GEMM on oneDNN's matmul primitive:
//   C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] (+ bias)
// Transposes are expressed through strides, a zero batch stride broadcasts an operand (batch dim 1),
// alpha is a runtime output scale (one primitive serves every alpha), beta a sum post-op, and the bias is fused (as a bias argument when alpha is
// 1; as a binary-add post-op otherwise, because oneDNN scales the bias together with the product).
// One primitive per distinct problem, created on first use and cached.
#include <unordered_map>

#include "common.h"
#include "dnnl_common.h"

namespace lape {
namespace {

using dnnl::memory;
using dt = dnnl::memory::data_type;

struct Key {
  i64 m, n, k, batch, sa, sb, sc;
  float beta;
  bool scaled;  // alpha != 1 (its value is a runtime argument)
  bool ta, tb, bias;
  bool operator==(const Key& o) const {
    return m == o.m && n == o.n && k == o.k && batch == o.batch && sa == o.sa && sb == o.sb && sc == o.sc &&
           beta == o.beta && scaled == o.scaled && ta == o.ta && tb == o.tb && bias == o.bias;
  }
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](uint64_t v) {
      h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    };
    mix(k.m);
    mix(k.n);
    mix(k.k);
    mix(k.batch);
    mix(k.sa);
    mix(k.sb);
    mix(k.sc);
    uint32_t b;
    std::memcpy(&b, &k.beta, 4);
    mix(b);
    mix((k.ta ? 1 : 0) | (k.tb ? 2 : 0) | (k.bias ? 4 : 0) | (k.scaled ? 8 : 0));
    return static_cast<size_t>(h);
  }
};

struct Entry {
  dnnl::matmul prim;
  memory A, B, C, Bias, Scale;
  dnn::ScratchMem scratch;
  int biasArg = 0;  // DNNL_ARG_BIAS or the binary post-op's src1 argument; 0 when no bias
  std::string impl;
};

std::unordered_map<Key, Entry, KeyHash>& cache() {
  static std::unordered_map<Key, Entry, KeyHash> c;
  return c;
}

Entry& getEntry(const Key& key) {
  auto& c = cache();
  auto it = c.find(key);
  if (it != c.end()) return it->second;

  const i64 m = key.m, n = key.n, k = key.k;
  memory::desc ad, bd, cd, biasd;
  if (key.batch == 1) {
    ad = memory::desc({m, k}, dt::f32, key.ta ? memory::dims{1, m} : memory::dims{k, 1});
    bd = memory::desc({k, n}, dt::f32, key.tb ? memory::dims{1, k} : memory::dims{n, 1});
    cd = memory::desc({m, n}, dt::f32, memory::dims{n, 1});
    biasd = memory::desc({1, n}, dt::f32, memory::dims{n, 1});
  } else {
    const i64 ba = key.sa == 0 ? 1 : key.batch, bb = key.sb == 0 ? 1 : key.batch;
    ad = memory::desc({ba, m, k}, dt::f32, key.ta ? memory::dims{key.sa ? key.sa : m * k, 1, m} : memory::dims{key.sa ? key.sa : m * k, k, 1});
    bd = memory::desc({bb, k, n}, dt::f32, key.tb ? memory::dims{key.sb ? key.sb : k * n, 1, k} : memory::dims{key.sb ? key.sb : k * n, n, 1});
    cd = memory::desc({key.batch, m, n}, dt::f32, memory::dims{key.sc, n, 1});
    biasd = memory::desc({1, 1, n}, dt::f32, memory::dims{n, n, 1});
  }

  dnnl::primitive_attr attr = dnn::userScratchpadAttr();
  if (key.scaled) attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
  dnnl::post_ops po;
  int npo = 0;
  if (key.beta != 0.0f) {
    po.append_sum(key.beta);
    npo++;
  }
  const bool fusedBias = key.bias && !key.scaled;
  int biasArg = 0;
  if (key.bias && !fusedBias) {
    po.append_binary(dnnl::algorithm::binary_add, biasd);
    biasArg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(npo) | DNNL_ARG_SRC_1;
    npo++;
  } else if (fusedBias) {
    biasArg = DNNL_ARG_BIAS;
  }
  if (npo) attr.set_post_ops(po);

  dnnl::matmul::desc desc = fusedBias ? dnnl::matmul::desc(ad, bd, biasd, cd) : dnnl::matmul::desc(ad, bd, cd);
  dnnl::matmul::primitive_desc pd(desc, attr, dnn::engine());

  Entry e;
  e.prim = dnnl::matmul(pd);
  e.A = dnn::unbound(ad);
  e.B = dnn::unbound(bd);
  e.C = dnn::unbound(cd);
  if (key.bias) e.Bias = dnn::unbound(biasd);
  if (key.scaled) e.Scale = dnn::unbound(memory::desc({1}, dt::f32, memory::format_tag::a));
  e.biasArg = biasArg;
  e.scratch.init(pd.scratchpad_desc());
  e.impl = pd.impl_info_str();
  return c.emplace(key, std::move(e)).first->second;
}

void run(Entry& e, const float* a, const float* b, float* c, const float* bias, float* alpha) {
  e.A.set_data_handle(const_cast<float*>(a));
  e.B.set_data_handle(const_cast<float*>(b));
  e.C.set_data_handle(c);
  dnn::Arg args[6] = {{DNNL_ARG_SRC, &e.A}, {DNNL_ARG_WEIGHTS, &e.B}, {DNNL_ARG_DST, &e.C}};
  int n = 3;
  if (e.Scale) {
    e.Scale.set_data_handle(alpha);
    args[n++] = {DNNL_ARG_ATTR_OUTPUT_SCALES, &e.Scale};
  }
  if (e.biasArg) {
    e.Bias.set_data_handle(const_cast<float*>(bias));
    args[n++] = {e.biasArg, &e.Bias};
  }
  if (e.scratch.bind()) args[n++] = {DNNL_ARG_SCRATCHPAD, &e.scratch.mem};
  dnn::execute(e.prim, args, n);
}

/** k == 0: C = beta * C (+ bias), batch by batch. */
void emptyInner(float* c, const float* bias, i64 m, i64 n, i64 batch, i64 sc, float beta) {
  for (i64 bt = 0; bt < batch; bt++) {
    float* cb = c + bt * sc;
    for (i64 i = 0; i < m; i++)
      for (i64 j = 0; j < n; j++) {
        float v = beta == 0.0f ? 0.0f : beta * cb[i * n + j];
        cb[i * n + j] = bias ? v + bias[j] : v;
      }
  }
}

// matmul(a, b, c, m, n, k, transA, transB, batch, strideA, strideB, strideC, alpha, beta, bias?)
napi_value Matmul(napi_env env, napi_callback_info info) {
  Args args(env, info, "matmul");
  View<float> a = args.f32(0, "a"), b = args.f32(1, "b"), c = args.f32(2, "c");
  const i64 m = args.size(3, "m"), n = args.size(4, "n"), k = args.size(5, "k");
  const bool ta = args.flag(6, "transA"), tb = args.flag(7, "transB");
  const i64 batch = args.size(8, "batch");
  const i64 sa = args.size(9, "strideA"), sb = args.size(10, "strideB"), sc = args.size(11, "strideC");
  const double alphaD = args.num(12, "alpha"), betaD = args.num(13, "beta");
  View<float> bias = args.f32opt(14, "bias");
  const bool hasBias = args.count() > 14 && !args.isNullish(14);

  if (batch == 0 || m == 0 || n == 0) return nullptr;
  if (m > 2147483647 || n > 2147483647 || k > 2147483647) fail(args.where() + "dimension too large");
  const i64 mk = mul(m, k, args), kn = mul(k, n, args), mn = mul(m, n, args);
  if (k > 0) {
    need(a, mul(batch - 1, sa, args) + mk, "a", args);
    need(b, mul(batch - 1, sb, args) + kn, "b", args);
  }
  need(c, mul(batch - 1, sc, args) + mn, "c", args);
  if (hasBias) need(bias, n, "bias", args);
  float alpha = static_cast<float>(alphaD);
  const float beta = static_cast<float>(betaD);
  const bool scaled = alpha != 1.0f;

  if (k == 0) {
    emptyInner(c.data, hasBias ? bias.data : nullptr, m, n, batch, sc, beta);
    return nullptr;
  }

  std::lock_guard<std::mutex> guard(dnn::lock());
  // Outputs that overlap across the batch (strideC 0 or < m*n) are computed batch by batch, in order.
  const bool sequential = batch > 1 && sc < mn;
  if (batch == 1 || sequential) {
    Key key{m, n, k, 1, 0, 0, 0, beta, scaled, ta, tb, hasBias};
    Entry& e = getEntry(key);
    for (i64 bt = 0; bt < batch; bt++) run(e, a.data + bt * sa, b.data + bt * sb, c.data + bt * sc, bias.data, &alpha);
    return nullptr;
  }
  Key key{m, n, k, batch, sa, sb, sc, beta, scaled, ta, tb, hasBias};
  Entry& e = getEntry(key);
  run(e, a.data, b.data, c.data, bias.data, &alpha);
  return nullptr;
}

// matmulCacheSize(): number of cached primitives (for tests and diagnostics).
napi_value MatmulCacheSize(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_double(env, static_cast<double>(cache().size()), &v);
  return v;
}

// matmulImpl(m, n, k, transA, transB, batch, strideA, strideB, strideC, alpha, beta, hasBias): the oneDNN
// implementation chosen for a problem (diagnostics).
napi_value MatmulImpl(napi_env env, napi_callback_info info) {
  Args args(env, info, "matmulImpl");
  Key key{args.positive(0, "m"), args.positive(1, "n"), args.positive(2, "k"), args.positive(5, "batch"),
          args.size(6, "strideA"), args.size(7, "strideB"), args.size(8, "strideC"),
          static_cast<float>(args.num(10, "beta")), static_cast<float>(args.num(9, "alpha")) != 1.0f,
          args.flag(3, "transA"), args.flag(4, "transB"), args.flag(11, "hasBias")};
  if (key.batch == 1) key.sa = key.sb = key.sc = 0;
  std::lock_guard<std::mutex> guard(dnn::lock());
  Entry& e = getEntry(key);
  return Napi::String::New(env, e.impl);
}

}  // namespace

void InitMatmul(Napi::Env env, Napi::Object exports) {
  LAPE_EXPORT(env, exports, "matmul", Matmul);
  LAPE_EXPORT(env, exports, "matmulCacheSize", MatmulCacheSize);
  LAPE_EXPORT(env, exports, "matmulImpl", MatmulImpl);
}

}  // namespace lape
