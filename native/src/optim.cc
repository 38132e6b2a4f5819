// Fused optimizer updates (PyTorch semantics) and the double-precision sum of squares used for
// gradient-norm clipping.
#include "common.h"

namespace lape {
namespace {

constexpr i64 kGrain = 16384;

LAPE_CLONES void adamwChunk(float* LAPE_RESTRICT p, const float* LAPE_RESTRICT g, float* LAPE_RESTRICT m, float* LAPE_RESTRICT v, i64 n,
                            float decay, float b1, float c1, float b2, float c2, float stepSize, float invSqrtBc2, float eps) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) * invSqrtBc2 + eps;
    p[i] = p[i] * decay - stepSize * mi / denom;
  }
}

napi_value Adamw(napi_env env, napi_callback_info info) {
  Fields args(env, info, "adamw");
  View<float> p = args.f32("param"), g = args.f32("grad"), m = args.f32("expAvg"), v = args.f32("expAvgSq");
  const double lr = args.num("lr"), b1 = args.num("beta1"), b2 = args.num("beta2"), eps = args.num("eps");
  const double wd = args.num("weightDecay"), step = static_cast<double>(args.size("step"));
  const i64 n = p.len;
  need(g, n, "grad", args);
  need(m, n, "expAvg", args);
  need(v, n, "expAvgSq", args);
  if (!(step >= 1)) fail(args.where() + "step must be >= 1");
  const double bc1 = 1.0 - std::pow(b1, step), bc2 = 1.0 - std::pow(b2, step);
  const float decay = static_cast<float>(1.0 - lr * wd);
  const float stepSize = static_cast<float>(lr / bc1), invSqrtBc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float fb1 = static_cast<float>(b1), fc1 = static_cast<float>(1.0 - b1), fb2 = static_cast<float>(b2), fc2 = static_cast<float>(1.0 - b2);
  const float feps = static_cast<float>(eps);
  parallelFor(n, kGrain, [&](i64 b, i64 e) {
    adamwChunk(p.data + b, g.data + b, m.data + b, v.data + b, e - b, decay, fb1, fc1, fb2, fc2, stepSize, invSqrtBc2, feps);
  });
  return nullptr;
}

template <bool MOMENTUM, bool FIRST, bool NESTEROV>
LAPE_CLONES void sgdChunk(float* LAPE_RESTRICT p, const float* LAPE_RESTRICT g, float* LAPE_RESTRICT buf, i64 n, float lr, float mom,
                          float damp1, float wd) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) {
    float d = g[i] + wd * p[i];
    if constexpr (MOMENTUM) {
      const float b = FIRST ? d : mom * buf[i] + damp1 * d;
      buf[i] = b;
      d = NESTEROV ? d + mom * b : b;
    }
    p[i] = p[i] - lr * d;
  }
}

template <bool MOMENTUM, bool FIRST, bool NESTEROV>
void sgdRun(float* p, const float* g, float* buf, i64 n, float lr, float mom, float damp1, float wd) {
  parallelFor(n, kGrain, [&](i64 b, i64 e) {
    sgdChunk<MOMENTUM, FIRST, NESTEROV>(p + b, g + b, MOMENTUM ? buf + b : nullptr, e - b, lr, mom, damp1, wd);
  });
}

napi_value Sgd(napi_env env, napi_callback_info info) {
  Fields args(env, info, "sgd");
  View<float> p = args.f32("param"), g = args.f32("grad"), buf = args.f32("momentumBuffer");
  const double lr = args.num("lr"), mom = args.num("momentum"), damp = args.num("dampening"), wd = args.num("weightDecay");
  const bool nesterov = args.flag("nesterov"), first = args.flag("firstStep");
  const i64 n = p.len;
  need(g, n, "grad", args);
  const bool useMomentum = mom != 0.0;
  if (useMomentum) need(buf, n, "momentumBuffer", args);
  const float flr = static_cast<float>(lr), fm = static_cast<float>(mom), fd = static_cast<float>(1.0 - damp), fwd = static_cast<float>(wd);
  float *pp = p.data, *bp = buf.data;
  const float* gp = g.data;
  if (!useMomentum) sgdRun<false, false, false>(pp, gp, bp, n, flr, fm, fd, fwd);
  else if (first && nesterov) sgdRun<true, true, true>(pp, gp, bp, n, flr, fm, fd, fwd);
  else if (first) sgdRun<true, true, false>(pp, gp, bp, n, flr, fm, fd, fwd);
  else if (nesterov) sgdRun<true, false, true>(pp, gp, bp, n, flr, fm, fd, fwd);
  else sgdRun<true, false, false>(pp, gp, bp, n, flr, fm, fd, fwd);
  return nullptr;
}

LAPE_CLONES double sumSq(const float* x, i64 n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (i64 i = 0; i < n; i++) {
    const double d = static_cast<double>(x[i]);
    s += d * d;
  }
  return s;
}

napi_value SumSquares(napi_env env, napi_callback_info info) {
  Fields args(env, info, "sumSquares");
  View<float> x = args.f32("x");
  static thread_local Scratch scratch;
  double* part = scratch.as<double>(omp_get_max_threads());
  const int used = parallelForT(x.len, 65536, [&](i64 b, i64 e, int t) { part[t] = sumSq(x.data + b, e - b); });
  double s = 0.0;
  for (int t = 0; t < used; t++) s += part[t];
  napi_value r;
  napi_create_double(env, s, &r);
  return r;
}

}  // namespace

void InitOptim(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "adamw", Adamw,
              {"param", "grad", "expAvg", "expAvgSq", "lr", "beta1", "beta2", "eps", "weightDecay", "step"});
  LAPE_KERNEL(env, exports, "sgd", Sgd,
              {"param", "grad", "momentumBuffer", "lr", "momentum", "dampening", "weightDecay", "nesterov", "firstStep"});
  LAPE_KERNEL(env, exports, "sumSquares", SumSquares, {"x"});
}

}  // namespace lape
