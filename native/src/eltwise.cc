// Element-wise unary ops, their gradients, affine and pow.
// Own OpenMP loops, runtime-dispatched per ISA, for everything with a cheap vectorizable form: the
// arithmetic ops, exp (vexp, ~1 ulp) and GELU (vphi: |error| < 2.5e-7; oneDNN's gelu_erf is off by up to
// 2e-4 relative where GELU is small, and no faster). tanh runs on oneDNN's JIT eltwise primitive (cached
// per length); log and erf use libm in double precision. oneDNN's GELU stays exported as `geluDnnl` /
// `geluBackwardDnnl` for the benchmark.
#include <unordered_map>

#include "common.h"
#include "dnnl_common.h"
#include "vmath.h"

namespace lape {
namespace {

// Op codes, in the order of `UnaryOp` in src/backend/native/native_backend.ts.
enum Op : int {
  NEG = 0,
  EXP,
  LOG,
  SQRT,
  RSQRT,
  TANH,
  ERF,
  GELU,
  RELU,
  ABS,
  SQUARE,
  RECIPROCAL,
  NUM_OPS
};

constexpr i64 kGrain = 16384;     // elements per thread for cheap element-wise loops
constexpr i64 kMinDnnl = 256;     // shorter arrays take the scalar path
constexpr double k2InvSqrtPi = 1.12837916709551257390;

// ---- own vectorizable loops ------------------------------------------------------------------

template <int OP>
inline float fwd(float x) {
  if constexpr (OP == NEG) return -x;
  if constexpr (OP == EXP) return vexp(x);
  if constexpr (OP == GELU) return vgelu(x);
  if constexpr (OP == SQRT) return std::sqrt(x);
  if constexpr (OP == RSQRT) return 1.0f / std::sqrt(x);
  if constexpr (OP == RELU) return x > 0.0f ? x : 0.0f;
  if constexpr (OP == ABS) return std::fabs(x);
  if constexpr (OP == SQUARE) return x * x;
  if constexpr (OP == RECIPROCAL) return 1.0f / x;
  return x;
}

template <int OP>
LAPE_CLONES void fwdChunk(const float* x, float* y, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) y[i] = fwd<OP>(x[i]);
}

template <int OP>
inline float bwd(float x, float y, float dy) {
  if constexpr (OP == NEG) return -dy;
  if constexpr (OP == EXP) return dy * y;
  if constexpr (OP == LOG) return dy / x;
  if constexpr (OP == SQRT) return dy * 0.5f / y;
  if constexpr (OP == RSQRT) return -0.5f * dy * y * y * y;
  if constexpr (OP == TANH) return dy * (1.0f - y * y);
  if constexpr (OP == RELU) return x > 0.0f ? dy : 0.0f;
  if constexpr (OP == ABS) return x > 0.0f ? dy : (x < 0.0f ? -dy : 0.0f);
  if constexpr (OP == SQUARE) return 2.0f * x * dy;
  if constexpr (OP == RECIPROCAL) return -dy * y * y;
  if constexpr (OP == GELU) return dy * vgeluGrad(x);
  return dy;
}

template <int OP>
LAPE_CLONES void bwdChunk(const float* x, const float* y, const float* dy, float* dx, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) dx[i] = bwd<OP>(x[i], y[i], dy[i]);
}

// ---- scalar (double precision libm) paths ------------------------------------------------------

inline float scalarFwd(int op, float xf) {
  double x = xf;
  switch (op) {
    case LOG: return static_cast<float>(std::log(x));
    case TANH: return static_cast<float>(std::tanh(x));
    case ERF: return static_cast<float>(std::erf(x));
    default: return xf;
  }
}

inline float scalarBwd(int op, float xf, float dyf) {
  double x = xf, dy = dyf;
  switch (op) {
    case ERF: return static_cast<float>(dy * k2InvSqrtPi * std::exp(-x * x));
    default: return dyf;
  }
}

// ---- oneDNN eltwise -----------------------------------------------------------------------------

struct EKey {
  int alg;
  bool backward;
  i64 n;
  bool operator==(const EKey& o) const { return alg == o.alg && backward == o.backward && n == o.n; }
};
struct EKeyHash {
  size_t operator()(const EKey& k) const { return std::hash<i64>()(k.n * 131 + k.alg * 2 + (k.backward ? 1 : 0)); }
};
struct EEntry {
  dnnl::primitive prim;
  dnnl::memory src, dst, diffDst, diffSrc;
  dnn::ScratchMem scratch;
};

std::unordered_map<EKey, EEntry, EKeyHash>& ecache() {
  static std::unordered_map<EKey, EEntry, EKeyHash> c;
  return c;
}

dnnl::algorithm dnnlAlg(int op) {
  switch (op) {
    case TANH: return dnnl::algorithm::eltwise_tanh;
    case GELU: return dnnl::algorithm::eltwise_gelu_erf;
    default: throw std::runtime_error("lape_native: no oneDNN eltwise for op " + std::to_string(op));
  }
}

EEntry& eltwiseEntry(int op, bool backward, i64 n) {
  EKey key{op, backward, n};
  auto& c = ecache();
  auto it = c.find(key);
  if (it != c.end()) return it->second;
  using dnnl::memory;
  memory::desc md({n}, memory::data_type::f32, memory::format_tag::a);
  dnnl::primitive_attr attr = dnn::userScratchpadAttr();
  dnnl::algorithm alg = dnnlAlg(op);
  EEntry e;
  dnnl::eltwise_forward::desc fd(backward ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, alg, md, 0.f, 0.f);
  dnnl::eltwise_forward::primitive_desc fpd(fd, attr, dnn::engine());
  if (!backward) {
    e.prim = dnnl::eltwise_forward(fpd);
    e.src = dnn::unbound(md);
    e.dst = dnn::unbound(md);
    e.scratch.init(fpd.scratchpad_desc());
  } else {
    dnnl::eltwise_backward::desc bd(alg, md, md, 0.f, 0.f);
    dnnl::eltwise_backward::primitive_desc bpd(bd, attr, dnn::engine(), fpd);
    e.prim = dnnl::eltwise_backward(bpd);
    e.src = dnn::unbound(md);
    e.diffDst = dnn::unbound(md);
    e.diffSrc = dnn::unbound(md);
    e.scratch.init(bpd.scratchpad_desc());
  }
  return c.emplace(key, std::move(e)).first->second;
}

void dnnlForward(int op, const float* x, float* y, i64 n) {
  std::lock_guard<std::mutex> guard(dnn::lock());
  EEntry& e = eltwiseEntry(op, false, n);
  e.src.set_data_handle(const_cast<float*>(x));
  e.dst.set_data_handle(y);
  dnn::Arg args[3] = {{DNNL_ARG_SRC, &e.src}, {DNNL_ARG_DST, &e.dst}};
  int na = 2;
  if (e.scratch.bind()) args[na++] = {DNNL_ARG_SCRATCHPAD, &e.scratch.mem};
  dnn::execute(e.prim, args, na);
}

void dnnlBackward(int op, const float* x, const float* dy, float* dx, i64 n) {
  std::lock_guard<std::mutex> guard(dnn::lock());
  EEntry& e = eltwiseEntry(op, true, n);
  e.src.set_data_handle(const_cast<float*>(x));
  e.diffDst.set_data_handle(const_cast<float*>(dy));
  e.diffSrc.set_data_handle(dx);
  dnn::Arg args[4] = {{DNNL_ARG_SRC, &e.src}, {DNNL_ARG_DIFF_DST, &e.diffDst}, {DNNL_ARG_DIFF_SRC, &e.diffSrc}};
  int na = 3;
  if (e.scratch.bind()) args[na++] = {DNNL_ARG_SCRATCHPAD, &e.scratch.mem};
  dnn::execute(e.prim, args, na);
}

template <int OP>
void runFwd(const float* x, float* y, i64 n) {
  parallelFor(n, kGrain, [&](i64 b, i64 e) { fwdChunk<OP>(x + b, y + b, e - b); });
}
template <int OP>
void runBwd(const float* x, const float* y, const float* dy, float* dx, i64 n) {
  parallelFor(n, kGrain, [&](i64 b, i64 e) { bwdChunk<OP>(x + b, y + b, dy + b, dx + b, e - b); });
}

void scalarForwardAll(int op, const float* x, float* y, i64 n) {
  parallelFor(n, 2048, [&](i64 b, i64 e) {
    for (i64 i = b; i < e; i++) y[i] = scalarFwd(op, x[i]);
  });
}
void scalarBackwardAll(int op, const float* x, const float* dy, float* dx, i64 n) {
  parallelFor(n, 2048, [&](i64 b, i64 e) {
    for (i64 i = b; i < e; i++) dx[i] = scalarBwd(op, x[i], dy[i]);
  });
}

int opCode(const Args& args, size_t i) {
  double v = args.num(i, "op");
  if (!(v >= 0 && v < NUM_OPS) || std::floor(v) != v) fail(args.where() + "unknown op");
  return static_cast<int>(v);
}

// unary(op, x, out)
napi_value Unary(napi_env env, napi_callback_info info) {
  Args args(env, info, "unary");
  const int op = opCode(args, 0);
  View<float> x = args.f32(1, "x"), out = args.f32(2, "out");
  const i64 n = out.len;
  need(x, n, "x", args);
  if (n == 0) return nullptr;
  const float* xp = x.data;
  float* yp = out.data;
  switch (op) {
    case NEG: runFwd<NEG>(xp, yp, n); break;
    case EXP: runFwd<EXP>(xp, yp, n); break;
    case GELU: runFwd<GELU>(xp, yp, n); break;
    case SQRT: runFwd<SQRT>(xp, yp, n); break;
    case RSQRT: runFwd<RSQRT>(xp, yp, n); break;
    case RELU: runFwd<RELU>(xp, yp, n); break;
    case ABS: runFwd<ABS>(xp, yp, n); break;
    case SQUARE: runFwd<SQUARE>(xp, yp, n); break;
    case RECIPROCAL: runFwd<RECIPROCAL>(xp, yp, n); break;
    case ERF:
    case LOG:  // oneDNN's JIT log is only good to ~1e-5 relative: use libm
      scalarForwardAll(op, xp, yp, n);
      break;
    default:  // TANH
      if (n < kMinDnnl) scalarForwardAll(op, xp, yp, n);
      else dnnlForward(op, xp, yp, n);
  }
  return nullptr;
}

// unaryBackward(op, x, y, dy, dx)
napi_value UnaryBackward(napi_env env, napi_callback_info info) {
  Args args(env, info, "unaryBackward");
  const int op = opCode(args, 0);
  View<float> x = args.f32(1, "x"), y = args.f32(2, "y"), dy = args.f32(3, "dy"), dx = args.f32(4, "dx");
  const i64 n = dx.len;
  need(x, n, "x", args);
  need(y, n, "y", args);
  need(dy, n, "dy", args);
  if (n == 0) return nullptr;
  const float *xp = x.data, *yp = y.data, *dyp = dy.data;
  float* dxp = dx.data;
  switch (op) {
    case NEG: runBwd<NEG>(xp, yp, dyp, dxp, n); break;
    case EXP: runBwd<EXP>(xp, yp, dyp, dxp, n); break;
    case LOG: runBwd<LOG>(xp, yp, dyp, dxp, n); break;
    case SQRT: runBwd<SQRT>(xp, yp, dyp, dxp, n); break;
    case RSQRT: runBwd<RSQRT>(xp, yp, dyp, dxp, n); break;
    case TANH: runBwd<TANH>(xp, yp, dyp, dxp, n); break;
    case RELU: runBwd<RELU>(xp, yp, dyp, dxp, n); break;
    case ABS: runBwd<ABS>(xp, yp, dyp, dxp, n); break;
    case SQUARE: runBwd<SQUARE>(xp, yp, dyp, dxp, n); break;
    case RECIPROCAL: runBwd<RECIPROCAL>(xp, yp, dyp, dxp, n); break;
    case ERF: scalarBackwardAll(op, xp, dyp, dxp, n); break;
    case GELU: runBwd<GELU>(xp, yp, dyp, dxp, n); break;
    default: fail(args.where() + "unknown op");
  }
  return nullptr;
}

LAPE_CLONES void affineChunk(const float* x, float a, float b, float* y, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) y[i] = x[i] * a + b;
}

// affine(x, alpha, beta, out)
napi_value Affine(napi_env env, napi_callback_info info) {
  Args args(env, info, "affine");
  View<float> x = args.f32(0, "x"), out = args.f32(3, "out");
  const float a = static_cast<float>(args.num(1, "alpha")), b = static_cast<float>(args.num(2, "beta"));
  const i64 n = out.len;
  need(x, n, "x", args);
  parallelFor(n, kGrain, [&](i64 s, i64 e) { affineChunk(x.data + s, a, b, out.data + s, e - s); });
  return nullptr;
}

// pow(x, p, out)
napi_value Pow(napi_env env, napi_callback_info info) {
  Args args(env, info, "pow");
  View<float> x = args.f32(0, "x"), out = args.f32(2, "out");
  const double p = args.num(1, "p");
  const i64 n = out.len;
  need(x, n, "x", args);
  const float* xp = x.data;
  float* yp = out.data;
  if (p == 1.0) {
    if (xp != yp) std::memmove(yp, xp, n * sizeof(float));
  } else if (p == 2.0) {
    runFwd<SQUARE>(xp, yp, n);
  } else if (p == 0.5) {
    runFwd<SQRT>(xp, yp, n);
  } else if (p == -1.0) {
    runFwd<RECIPROCAL>(xp, yp, n);
  } else if (p == -0.5) {
    runFwd<RSQRT>(xp, yp, n);
  } else if (p == 0.0) {
    std::fill(yp, yp + n, 1.0f);
  } else {
    parallelFor(n, 2048, [&](i64 b, i64 e) {
      for (i64 i = b; i < e; i++) yp[i] = static_cast<float>(std::pow(static_cast<double>(xp[i]), p));
    });
  }
  return nullptr;
}

// geluDnnl(x, y) / geluBackwardDnnl(x, dy, dx): oneDNN's gelu_erf (benchmark comparison).
napi_value GeluDnnl(napi_env env, napi_callback_info info) {
  Args args(env, info, "geluDnnl");
  View<float> x = args.f32(0, "x"), y = args.f32(1, "y");
  need(x, y.len, "x", args);
  if (y.len) dnnlForward(GELU, x.data, y.data, y.len);
  return nullptr;
}
napi_value GeluBackwardDnnl(napi_env env, napi_callback_info info) {
  Args args(env, info, "geluBackwardDnnl");
  View<float> x = args.f32(0, "x"), dy = args.f32(1, "dy"), dx = args.f32(2, "dx");
  need(x, dx.len, "x", args);
  need(dy, dx.len, "dy", args);
  if (dx.len) dnnlBackward(GELU, x.data, dy.data, dx.data, dx.len);
  return nullptr;
}

}  // namespace

void InitEltwise(Napi::Env env, Napi::Object exports) {
  LAPE_EXPORT(env, exports, "geluDnnl", GeluDnnl);
  LAPE_EXPORT(env, exports, "geluBackwardDnnl", GeluBackwardDnnl);
  LAPE_EXPORT(env, exports, "unary", Unary);
  LAPE_EXPORT(env, exports, "unaryBackward", UnaryBackward);
  LAPE_EXPORT(env, exports, "affine", Affine);
  LAPE_EXPORT(env, exports, "pow", Pow);
}

}  // namespace lape
