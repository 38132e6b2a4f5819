// Element-wise unary ops, their gradients, affine and pow.
// Own OpenMP loops, runtime-dispatched per ISA, for everything with a cheap vectorizable form: the
// arithmetic ops, exp (vexp, ~1 ulp) and GELU (vphi: |error| < 2.5e-7; oneDNN's gelu_erf is off by up to
// 2e-4 relative where GELU is small, and no faster). log, tanh and erf (none of them on a ViT's hot
// path) use libm in double precision.
#include "bf16.h"
#include "common.h"
#include "vmath.h"

namespace lape {
namespace {

// Op codes; kOpNames is exported as `enums.unaryOp` and checked against UNARY_OPS at load.
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
const char* const kOpNames[NUM_OPS] = {"neg",  "exp",  "log",  "sqrt", "rsqrt",  "tanh",
                                       "erf",  "gelu", "relu", "abs",  "square", "reciprocal"};

constexpr i64 kGrain = 16384;  // elements per thread for cheap element-wise loops
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

/**
 * X and Y are float, or uint16_t for bfloat16 (widened on the load, computed in float32, rounded on
 * the store): an MLP's GELU reads fc1's bfloat16 output and writes fc2's bfloat16 input under autocast.
 */
template <int OP, class X, class Y>
LAPE_CLONES void fwdChunk(const X* x, Y* y, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) store(y + i, fwd<OP>(ld(x[i])));
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
  if constexpr (OP == ERF) {  // libm in double precision (not on a ViT's hot path)
    const double xd = x;
    return static_cast<float>(static_cast<double>(dy) * k2InvSqrtPi * std::exp(-xd * xd));
  }
  return dy;
}

/** X, DY and DX are float, or uint16_t for bfloat16 (widened on the load, rounded on the store). */
template <int OP>
constexpr bool needsY() {
  return OP == EXP || OP == SQRT || OP == RSQRT || OP == TANH || OP == RECIPROCAL;
}

/** y (the forward output, float32) is read only by the ops that need it; null for the others. */
template <int OP, class X, class DY, class DX>
LAPE_CLONES void bwdChunk(const X* x, const float* y, const DY* dy, DX* dx, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) {
    float yi = 0.0f;
    if constexpr (needsY<OP>()) yi = y[i];
    store(dx + i, bwd<OP>(ld(x[i]), yi, ld(dy[i])));
  }
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

template <int OP, class X, class Y>
void runFwd(const X* x, Y* y, i64 n) {
  parallelFor(n, kGrain, [&](i64 b, i64 e) { fwdChunk<OP, X, Y>(x + b, y + b, e - b); });
}

/** x, dy and dx as float32 or bfloat16 (see bwdChunk). */
struct GradBufs {
  FloatBuf x, dy, dx;
};

template <int OP, class X, class DY, class DX>
void runBwdT(const float* y, const GradBufs& g, i64 n) {
  const X* x = static_cast<const X*>(g.x.data);
  const DY* dy = static_cast<const DY*>(g.dy.data);
  DX* dx = static_cast<DX*>(g.dx.data);
  parallelFor(n, kGrain, [&](i64 b, i64 e) { bwdChunk<OP, X, DY, DX>(x + b, y ? y + b : nullptr, dy + b, dx + b, e - b); });
}

template <int OP, class X>
void runBwdX(const float* y, const GradBufs& g, i64 n) {
  const bool dyh = g.dy.type == Float::BF16, dxh = g.dx.type == Float::BF16;
  if (!dyh && !dxh) runBwdT<OP, X, float, float>(y, g, n);
  else if (!dyh) runBwdT<OP, X, float, uint16_t>(y, g, n);
  else if (!dxh) runBwdT<OP, X, uint16_t, float>(y, g, n);
  else runBwdT<OP, X, uint16_t, uint16_t>(y, g, n);
}

template <int OP>
void runBwd(const float* y, const GradBufs& g, i64 n) {
  if (g.x.type == Float::BF16) runBwdX<OP, uint16_t>(y, g, n);
  else runBwdX<OP, float>(y, g, n);
}

template <class X, class Y>
void scalarForwardAll(int op, const X* x, Y* y, i64 n) {
  parallelFor(n, 2048, [&](i64 b, i64 e) {
    for (i64 i = b; i < e; i++) store(y + i, scalarFwd(op, ld(x[i])));
  });
}

template <class X, class Y>
void forwardAll(int op, const X* xp, Y* yp, i64 n) {
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
    default:  // LOG, TANH, ERF
      scalarForwardAll(op, xp, yp, n);
  }
}

template <class X>
void forwardX(int op, const X* xp, const FloatBuf& out, i64 n) {
  if (out.type == Float::BF16) forwardAll(op, xp, static_cast<uint16_t*>(out.data), n);
  else forwardAll(op, xp, static_cast<float*>(out.data), n);
}

napi_value Unary(napi_env env, napi_callback_info info) {
  Fields f(env, info, "unary");
  const int op = f.choice("op", kOpNames, NUM_OPS);
  const FloatBuf x = f.floating("x"), out = f.floating("out");
  const i64 n = out.len;
  need(x, n, "x", f);
  if (n == 0) return nullptr;
  if (x.type == Float::BF16) forwardX(op, static_cast<const uint16_t*>(x.data), out, n);
  else forwardX(op, static_cast<const float*>(x.data), out, n);
  return nullptr;
}

napi_value UnaryBackward(napi_env env, napi_callback_info info) {
  Fields f(env, info, "unaryBackward");
  const int op = f.choice("op", kOpNames, NUM_OPS);
  View<float> y = f.f32opt("y");
  const GradBufs g{f.floating("x"), f.floating("dy"), f.floating("dx")};
  const i64 n = g.dx.len;
  need(g.x, n, "x", f);
  need(g.dy, n, "dy", f);
  const bool wantsY = op == EXP || op == SQRT || op == RSQRT || op == TANH || op == RECIPROCAL;
  if (wantsY && !f.has("y")) fail(f.where() + "op '" + kOpNames[op] + "' needs its forward output y");
  if (wantsY) need(y, n, "y", f);
  if (n == 0) return nullptr;
  const float* yp = wantsY ? y.data : nullptr;  // the other ops never read y
  switch (op) {
    case NEG: runBwd<NEG>(yp, g, n); break;
    case EXP: runBwd<EXP>(yp, g, n); break;
    case LOG: runBwd<LOG>(yp, g, n); break;
    case SQRT: runBwd<SQRT>(yp, g, n); break;
    case RSQRT: runBwd<RSQRT>(yp, g, n); break;
    case TANH: runBwd<TANH>(yp, g, n); break;
    case RELU: runBwd<RELU>(yp, g, n); break;
    case ABS: runBwd<ABS>(yp, g, n); break;
    case SQUARE: runBwd<SQUARE>(yp, g, n); break;
    case RECIPROCAL: runBwd<RECIPROCAL>(yp, g, n); break;
    case ERF: runBwd<ERF>(yp, g, n); break;
    case GELU: runBwd<GELU>(yp, g, n); break;
    default: fail(f.where() + "unknown op");
  }
  return nullptr;
}

LAPE_CLONES void affineChunk(const float* x, float a, float b, float* y, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) y[i] = x[i] * a + b;
}

napi_value Affine(napi_env env, napi_callback_info info) {
  Fields f(env, info, "affine");
  View<float> x = f.f32("x"), out = f.f32("out");
  const float a = static_cast<float>(f.num("alpha")), b = static_cast<float>(f.num("beta"));
  const i64 n = out.len;
  need(x, n, "x", f);
  parallelFor(n, kGrain, [&](i64 s, i64 e) { affineChunk(x.data + s, a, b, out.data + s, e - s); });
  return nullptr;
}

napi_value Pow(napi_env env, napi_callback_info info) {
  Fields f(env, info, "pow");
  View<float> x = f.f32("x"), out = f.f32("out");
  const double p = f.num("p");
  const i64 n = out.len;
  need(x, n, "x", f);
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

}  // namespace

void InitEltwise(Napi::Env env, Napi::Object exports) {
  exportEnum(env, exports, "unaryOp", kOpNames, NUM_OPS);
  LAPE_KERNEL(env, exports, "unary", Unary, {"op", "x", "out"});
  LAPE_KERNEL(env, exports, "unaryBackward", UnaryBackward, {"op", "x", "y", "dy", "dx"});
  LAPE_KERNEL(env, exports, "affine", Affine, {"x", "out", "alpha", "beta"});
  LAPE_KERNEL(env, exports, "pow", Pow, {"x", "out", "p"});
}

}  // namespace lape
