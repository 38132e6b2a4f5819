// Batched GEMM on oneDNN's matmul primitive:
//   C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b] (+ bias)
// Transposes are expressed through strides, a zero batch stride broadcasts an operand (batch dim 1),
// alpha is a runtime scale (one primitive serves every alpha), beta a sum post-op, and the bias is
// fused: as the primitive's bias, except under oneDNN 2 with alpha != 1, where the output scale would
// scale the bias too and it becomes a binary-add post-op. One primitive per distinct problem, created
// on first use and kept in a bounded LRU cache. A and B are float32 or bfloat16 (mixed precision:
// products accumulate in float32), C float32 or bfloat16, the bias float32.

#include "bf16.h"
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
  Float in, out;  // element types of A and B, and of C
  bool operator==(const Key& o) const {
    return m == o.m && n == o.n && k == o.k && batch == o.batch && sa == o.sa && sb == o.sb && sc == o.sc &&
           beta == o.beta && scaled == o.scaled && ta == o.ta && tb == o.tb && bias == o.bias && in == o.in &&
           out == o.out;
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
    mix((k.ta ? 1 : 0) | (k.tb ? 2 : 0) | (k.bias ? 4 : 0) | (k.scaled ? 8 : 0) | (k.in == Float::BF16 ? 16 : 0) |
        (k.out == Float::BF16 ? 32 : 0));
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

dnn::LruCache<Key, Entry, KeyHash>& cache() {
  static dnn::LruCache<Key, Entry, KeyHash> c;
  return c;
}

Entry& getEntry(const Key& key) {
  auto& c = cache();
  if (Entry* hit = c.find(key)) return *hit;

  const i64 m = key.m, n = key.n, k = key.k;
  const dt in = dnn::dataType(key.in), out = dnn::dataType(key.out);
  memory::desc ad, bd, cd, biasd;
  if (key.batch == 1) {
    ad = memory::desc({m, k}, in, key.ta ? memory::dims{1, m} : memory::dims{k, 1});
    bd = memory::desc({k, n}, in, key.tb ? memory::dims{1, k} : memory::dims{n, 1});
    cd = memory::desc({m, n}, out, memory::dims{n, 1});
    biasd = memory::desc({1, n}, dt::f32, memory::dims{n, 1});
  } else {
    const i64 ba = key.sa == 0 ? 1 : key.batch, bb = key.sb == 0 ? 1 : key.batch;
    ad = memory::desc({ba, m, k}, in, key.ta ? memory::dims{key.sa ? key.sa : m * k, 1, m} : memory::dims{key.sa ? key.sa : m * k, k, 1});
    bd = memory::desc({bb, k, n}, in, key.tb ? memory::dims{key.sb ? key.sb : k * n, 1, k} : memory::dims{key.sb ? key.sb : k * n, n, 1});
    cd = memory::desc({key.batch, m, n}, out, memory::dims{key.sc, n, 1});
    biasd = memory::desc({1, 1, n}, dt::f32, memory::dims{n, n, 1});
  }

  dnnl::primitive_attr attr = dnn::userScratchpadAttr();
  if (key.scaled) dnn::setRuntimeAlpha(attr);
  dnnl::post_ops po;
  int npo = 0;
  if (key.beta != 0.0f) {
    po.append_sum(key.beta);
    npo++;
  }
  const bool fusedBias = key.bias && !(key.scaled && dnn::kAlphaScalesBias);
  int biasArg = 0;
  if (key.bias && !fusedBias) {
    po.append_binary(dnnl::algorithm::binary_add, biasd);
    biasArg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(npo) | DNNL_ARG_SRC_1;
    npo++;
  } else if (fusedBias) {
    biasArg = DNNL_ARG_BIAS;
  }
  if (npo) attr.set_post_ops(po);

  dnnl::matmul::primitive_desc pd = dnn::matmulDesc(ad, bd, fusedBias ? &biasd : nullptr, cd, attr);

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
  return c.insert(key, std::move(e));
}

void run(Entry& e, void* a, void* b, void* c, const float* bias, float* alpha) {
  e.A.set_data_handle(a);
  e.B.set_data_handle(b);
  e.C.set_data_handle(c);
  dnn::Arg args[6] = {{DNNL_ARG_SRC, &e.A}, {DNNL_ARG_WEIGHTS, &e.B}, {DNNL_ARG_DST, &e.C}};
  int n = 3;
  if (e.Scale) {
    e.Scale.set_data_handle(alpha);
    args[n++] = {dnn::kAlphaArg, &e.Scale};
  }
  if (e.biasArg) {
    e.Bias.set_data_handle(const_cast<float*>(bias));
    args[n++] = {e.biasArg, &e.Bias};
  }
  if (e.scratch.bind()) args[n++] = {DNNL_ARG_SCRATCHPAD, &e.scratch.mem};
  dnn::execute(e.prim, args, n);
}

/** k == 0: C = beta * C (+ bias), batch by batch. */
void emptyInner(const FloatBuf& c, const float* bias, i64 m, i64 n, i64 batch, i64 sc, float beta) {
  const bool half = c.type == Float::BF16;
  for (i64 bt = 0; bt < batch; bt++)
    for (i64 i = 0; i < m * n; i++) {
      const i64 at = bt * sc + i;
      const float old = half ? fromBf16(static_cast<uint16_t*>(c.data)[at]) : static_cast<float*>(c.data)[at];
      float v = beta == 0.0f ? 0.0f : beta * old;
      if (bias) v += bias[i % n];
      if (half) static_cast<uint16_t*>(c.data)[at] = toBf16(v);
      else static_cast<float*>(c.data)[at] = v;
    }
}

/** The problem of one call, read from its fields (see `matmul` in src/backend/kernels.ts). */
struct Problem {
  FloatBuf a, b, c;
  View<float> bias;
  i64 m, n, k, batch, sa, sb, sc;
  bool ta, tb, hasBias;
  float alpha, beta;
};

Problem readProblem(const Fields& f) {
  Problem p;
  p.a = f.floating("a");
  p.b = f.floating("b");
  p.c = f.floating("c");
  if (p.a.type != p.b.type) fail(f.where() + "a and b must have the same element type");
  p.m = f.size("m");
  p.n = f.size("n");
  p.k = f.size("k");
  p.ta = f.flag("transA");
  p.tb = f.flag("transB");
  p.batch = f.size("batch");
  p.sa = f.size("strideA");
  p.sb = f.size("strideB");
  p.sc = f.size("strideC");
  p.alpha = static_cast<float>(f.num("alpha"));
  p.beta = static_cast<float>(f.num("beta"));
  p.bias = f.f32opt("bias");
  p.hasBias = f.has("bias");
  if (p.m > 2147483647 || p.n > 2147483647 || p.k > 2147483647) fail(f.where() + "dimension too large");
  return p;
}

/** The cache key of a problem: batch 1 (or one processed batch item at a time) ignores the strides. */
Key keyOf(const Problem& p, bool perItem) {
  const bool one = p.batch == 1 || perItem;
  return Key{p.m,          p.n,   p.k,  one ? 1 : p.batch, one ? 0 : p.sa, one ? 0 : p.sb, one ? 0 : p.sc,
             p.beta,       p.alpha != 1.0f, p.ta,     p.tb,           p.hasBias,      p.a.type,
             p.c.type};
}

napi_value Matmul(napi_env env, napi_callback_info info) {
  Fields f(env, info, "matmul");
  Problem p = readProblem(f);
  if (p.batch == 0 || p.m == 0 || p.n == 0) return nullptr;
  const i64 mk = mul(p.m, p.k, f), kn = mul(p.k, p.n, f), mn = mul(p.m, p.n, f);
  if (p.k > 0) {
    need(p.a, mul(p.batch - 1, p.sa, f) + mk, "a", f);
    need(p.b, mul(p.batch - 1, p.sb, f) + kn, "b", f);
  }
  need(p.c, mul(p.batch - 1, p.sc, f) + mn, "c", f);
  if (p.hasBias) need(p.bias, p.n, "bias", f);

  if (p.k == 0) {
    emptyInner(p.c, p.hasBias ? p.bias.data : nullptr, p.m, p.n, p.batch, p.sc, p.beta);
    return nullptr;
  }

  std::lock_guard<std::mutex> guard(dnn::lock());
  // Outputs that overlap across the batch (strideC 0 or < m*n) are computed batch by batch, in order.
  const bool perItem = p.batch > 1 && p.sc < mn;
  Entry& e = getEntry(keyOf(p, perItem));
  if (p.batch == 1 || perItem) {
    for (i64 bt = 0; bt < p.batch; bt++)
      run(e, p.a.at(bt * p.sa), p.b.at(bt * p.sb), p.c.at(bt * p.sc), p.bias.data, &p.alpha);
  } else {
    run(e, p.a.data, p.b.data, p.c.data, p.bias.data, &p.alpha);
  }
  return nullptr;
}

// matmulImpl(args): the oneDNN implementation chosen for a matmul call's problem (diagnostics).
napi_value MatmulImpl(napi_env env, napi_callback_info info) {
  Fields f(env, info, "matmulImpl");
  Problem p = readProblem(f);
  if (p.batch == 0 || p.m == 0 || p.n == 0 || p.k == 0) fail(f.where() + "empty problem");
  std::lock_guard<std::mutex> guard(dnn::lock());
  Entry& e = getEntry(keyOf(p, p.batch > 1 && p.sc < p.m * p.n));
  return Napi::String::New(env, e.impl);
}

}  // namespace

size_t matmulCacheSize() { return cache().size(); }

void InitMatmul(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "matmul", Matmul,
              {"a", "b", "c", "m", "n", "k", "transA", "transB", "batch", "strideA", "strideB", "strideC", "alpha",
               "beta", "bias"});
  LAPE_EXPORT(env, exports, "matmulImpl", MatmulImpl);
}

}  // namespace lape
