// Layer normalization over the last axis of [rows, cols], forward (optionally with LaPE's fused
// `+ addend[row % addendRows]`) and backward. Own fused OpenMP kernels: one pass over a row in cache for
// the statistics, one to write y; the backward pass produces dx row by row and reduces dgamma/dbeta
// from per-thread double partials.
#include "bf16.h"
#include "common.h"
#include "simd.h"

namespace lape {
namespace {

/** Y is float, or uint16_t for a bfloat16 output (computed in float32, rounded on the store). */
template <bool G, bool B, bool ADD, class Y>
LAPE_CLONES void lnForwardRows(const float* LAPE_RESTRICT x, const float* LAPE_RESTRICT gamma, const float* LAPE_RESTRICT beta,
                               Y* LAPE_RESTRICT y, float* LAPE_RESTRICT mean, float* LAPE_RESTRICT rstd, i64 r0, i64 r1,
                               i64 cols, float eps, const float* LAPE_RESTRICT addend, i64 addRows) {
  const float invN = 1.0f / static_cast<float>(cols);
  for (i64 row = r0; row < r1; row++) {
    const float* LAPE_RESTRICT xr = x + row * cols;
    Y* LAPE_RESTRICT yr = y + row * cols;
    // Two passes over the row (in L1): mean, then the biased variance around it.
    const float mu = simd::sum(xr, cols) * invN;
    const float v = simd::sumSqDev(xr, cols, mu);
    const float rs = 1.0f / std::sqrt(v * invN + eps);
    mean[row] = mu;
    rstd[row] = rs;
    const float* LAPE_RESTRICT ar = ADD ? addend + (row % addRows) * cols : nullptr;
#pragma omp simd
    for (i64 j = 0; j < cols; j++) {
      float t = (xr[j] - mu) * rs;
      if constexpr (G) t = t * gamma[j];
      if constexpr (B) t = t + beta[j];
      if constexpr (ADD) t = t + ar[j];
      store(yr + j, t);
    }
  }
}

/** dx for rows [r0, r1); when P, adds dy·xhat and dy into the double partials pg / pb. */
template <bool G, bool P, bool ACC, class DY>
LAPE_CLONES void lnBackwardRows(const float* LAPE_RESTRICT x, const float* LAPE_RESTRICT gamma, const float* LAPE_RESTRICT mean,
                                const float* LAPE_RESTRICT rstd, const DY* LAPE_RESTRICT dy, float* LAPE_RESTRICT dx, i64 r0,
                                i64 r1, i64 cols, double* LAPE_RESTRICT pg, double* LAPE_RESTRICT pb) {
  const float invN = 1.0f / static_cast<float>(cols);
  for (i64 row = r0; row < r1; row++) {
    const float* LAPE_RESTRICT xr = x + row * cols;
    const DY* LAPE_RESTRICT dyr = dy + row * cols;
    float* LAPE_RESTRICT dxr = dx + row * cols;
    const float mu = mean[row], rs = rstd[row];
    // sg = sum(g), sgx = sum(g * xhat) with g = dy * gamma.
    const simd::v16f vmu = simd::splat(mu), vrs = simd::splat(rs);
    simd::v16f s0 = {}, s1 = {};
    i64 j = 0;
    for (; j + 16 <= cols; j += 16) {
      const simd::v16f xh = (simd::load(xr + j) - vmu) * vrs;
      simd::v16f g = simd::load(dyr + j);
      if constexpr (G) g *= simd::load(gamma + j);
      s0 += g;
      s1 += g * xh;
    }
    float sg = simd::hsum(s0), sgx = simd::hsum(s1);
    for (; j < cols; j++) {
      const float xh = (xr[j] - mu) * rs;
      const float g = G ? ld(dyr[j]) * gamma[j] : ld(dyr[j]);
      sg += g;
      sgx += g * xh;
    }
    const float a = sg * invN, b = sgx * invN;
#pragma omp simd
    for (i64 j = 0; j < cols; j++) {
      float xh = (xr[j] - mu) * rs;
      float g = G ? ld(dyr[j]) * gamma[j] : ld(dyr[j]);
      dxr[j] = (ACC ? dxr[j] : 0.0f) + rs * (g - a - xh * b);
    }
    if constexpr (P) {
#pragma omp simd
      for (i64 j = 0; j < cols; j++) {
        float xh = (xr[j] - mu) * rs;
        pg[j] += static_cast<double>(ld(dyr[j]) * xh);
        pb[j] += static_cast<double>(ld(dyr[j]));
      }
    }
  }
}

template <bool G, bool B, bool ADD, class Y>
void forwardT(const float* x, const float* gamma, const float* beta, Y* y, float* mean, float* rstd, i64 rows, i64 cols, float eps,
              const float* addend, i64 addRows) {
  parallelFor(rows, std::max<i64>(1, 8192 / cols), [&](i64 b, i64 e) {
    lnForwardRows<G, B, ADD, Y>(x, gamma, beta, y, mean, rstd, b, e, cols, eps, addend, addRows);
  });
}

template <bool G, bool B>
void forwardGB(bool add, const float* x, const float* gamma, const float* beta, const FloatBuf& y, float* mean, float* rstd, i64 rows,
               i64 cols, float eps, const float* addend, i64 addRows) {
  float* yf = static_cast<float*>(y.data);
  uint16_t* yh = static_cast<uint16_t*>(y.data);
  const bool half = y.type == Float::BF16;
  if (add && half) forwardT<G, B, true>(x, gamma, beta, yh, mean, rstd, rows, cols, eps, addend, addRows);
  else if (add) forwardT<G, B, true>(x, gamma, beta, yf, mean, rstd, rows, cols, eps, addend, addRows);
  else if (half) forwardT<G, B, false>(x, gamma, beta, yh, mean, rstd, rows, cols, eps, addend, addRows);
  else forwardT<G, B, false>(x, gamma, beta, yf, mean, rstd, rows, cols, eps, addend, addRows);
}

napi_value LayerNorm(napi_env env, napi_callback_info info) {
  Fields args(env, info, "layerNorm");
  View<float> x = args.f32("x"), gamma = args.f32opt("gamma"), beta = args.f32opt("beta");
  const FloatBuf y = args.floating("y");
  View<float> mean = args.f32("mean"), rstd = args.f32("rstd");
  const i64 rows = args.size("rows"), cols = args.size("cols");
  const float eps = static_cast<float>(args.num("eps"));
  const bool hasG = args.has("gamma"), hasB = args.has("beta"), hasAdd = args.has("addend");
  View<float> addend = args.f32opt("addend");
  const i64 n = mul(rows, cols, args);
  need(x, n, "x", args);
  need(y, n, "y", args);
  need(mean, rows, "mean", args);
  need(rstd, rows, "rstd", args);
  if (hasG) need(gamma, cols, "gamma", args);
  if (hasB) need(beta, cols, "beta", args);
  i64 addRows = 0;
  if (hasAdd) {
    addRows = args.size("addendRows");
    if (addRows < 1) fail(args.where() + "addendRows must be >= 1 with an addend");
    need(addend, mul(addRows, cols, args), "addend", args);
  }
  if (rows == 0) return nullptr;
  if (cols == 0) fail(args.where() + "cols must be positive");
  const float *xp = x.data, *gp = gamma.data, *bp = beta.data, *ap = addend.data;
  if (hasG && hasB) forwardGB<true, true>(hasAdd, xp, gp, bp, y, mean.data, rstd.data, rows, cols, eps, ap, addRows);
  else if (hasG) forwardGB<true, false>(hasAdd, xp, gp, bp, y, mean.data, rstd.data, rows, cols, eps, ap, addRows);
  else if (hasB) forwardGB<false, true>(hasAdd, xp, gp, bp, y, mean.data, rstd.data, rows, cols, eps, ap, addRows);
  else forwardGB<false, false>(hasAdd, xp, gp, bp, y, mean.data, rstd.data, rows, cols, eps, ap, addRows);
  return nullptr;
}

/**
 * lnBackwardRows over rows [r0, r1) with dy float32 or bfloat16 (widened in registers, exactly), dx
 * overwritten or accumulated into.
 */
template <bool G, bool P>
void lnBackwardRange(const float* x, const float* gamma, const float* mean, const float* rstd, const FloatBuf& dy, float* dx, bool acc,
                     i64 r0, i64 r1, i64 cols, double* pg, double* pb) {
  const uint16_t* dh = static_cast<const uint16_t*>(dy.data);
  const float* df = static_cast<const float*>(dy.data);
  const bool half = dy.type == Float::BF16;
  if (half && acc) lnBackwardRows<G, P, true>(x, gamma, mean, rstd, dh, dx, r0, r1, cols, pg, pb);
  else if (half) lnBackwardRows<G, P, false>(x, gamma, mean, rstd, dh, dx, r0, r1, cols, pg, pb);
  else if (acc) lnBackwardRows<G, P, true>(x, gamma, mean, rstd, df, dx, r0, r1, cols, pg, pb);
  else lnBackwardRows<G, P, false>(x, gamma, mean, rstd, df, dx, r0, r1, cols, pg, pb);
}

template <bool G>
void backwardT(const float* x, const float* gamma, const float* mean, const float* rstd, const FloatBuf& dy, float* dx, bool acc, float* dgamma,
               float* dbeta, i64 rows, i64 cols) {
  const i64 grain = std::max<i64>(1, 8192 / cols);
  if (!dgamma && !dbeta) {
    parallelFor(rows, grain, [&](i64 b, i64 e) { lnBackwardRange<G, false>(x, gamma, mean, rstd, dy, dx, acc, b, e, cols, nullptr, nullptr); });
    return;
  }
  static thread_local Scratch scratch;
  const int T = omp_get_max_threads();
  double* part = scratch.as<double>(static_cast<size_t>(T) * 2 * cols);
  const int used = parallelForT(rows, grain, [&](i64 b, i64 e, int t) {
    double* pg = part + static_cast<i64>(t) * 2 * cols;
    double* pb = pg + cols;
    std::fill(pg, pg + 2 * cols, 0.0);
    lnBackwardRange<G, true>(x, gamma, mean, rstd, dy, dx, acc, b, e, cols, pg, pb);
  });
  for (i64 j = 0; j < cols; j++) {
    double g = 0, bb = 0;
    for (int t = 0; t < used; t++) {
      g += part[static_cast<i64>(t) * 2 * cols + j];
      bb += part[static_cast<i64>(t) * 2 * cols + cols + j];
    }
    if (dgamma) dgamma[j] = static_cast<float>(g);
    if (dbeta) dbeta[j] = static_cast<float>(bb);
  }
}

napi_value LayerNormBackward(napi_env env, napi_callback_info info) {
  Fields args(env, info, "layerNormBackward");
  View<float> x = args.f32("x"), gamma = args.f32opt("gamma"), mean = args.f32("mean"), rstd = args.f32("rstd");
  const FloatBuf dy = args.floating("dy");
  View<float> dx = args.f32("dx"), dgamma = args.f32opt("dgamma"), dbeta = args.f32opt("dbeta");
  const i64 rows = args.size("rows"), cols = args.size("cols");
  const bool hasG = args.has("gamma"), hasDG = args.has("dgamma"), hasDB = args.has("dbeta");
  const bool acc = args.flag("accumulate");
  const i64 n = mul(rows, cols, args);
  need(x, n, "x", args);
  need(dy, n, "dy", args);
  need(dx, n, "dx", args);
  need(mean, rows, "mean", args);
  need(rstd, rows, "rstd", args);
  if (hasG) need(gamma, cols, "gamma", args);
  if (hasDG) need(dgamma, cols, "dgamma", args);
  if (hasDB) need(dbeta, cols, "dbeta", args);
  if (cols == 0) return nullptr;
  float* dgp = hasDG ? dgamma.data : nullptr;
  float* dbp = hasDB ? dbeta.data : nullptr;
  if (rows == 0) {
    if (dgp) std::fill(dgp, dgp + cols, 0.0f);
    if (dbp) std::fill(dbp, dbp + cols, 0.0f);
    return nullptr;
  }
  if (hasG) backwardT<true>(x.data, gamma.data, mean.data, rstd.data, dy, dx.data, acc, dgp, dbp, rows, cols);
  else backwardT<false>(x.data, nullptr, mean.data, rstd.data, dy, dx.data, acc, dgp, dbp, rows, cols);
  return nullptr;
}

}  // namespace

void InitLayerNorm(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "layerNorm", LayerNorm,
              {"x", "gamma", "beta", "y", "mean", "rstd", "rows", "cols", "eps", "addend", "addendRows"});
  LAPE_KERNEL(env, exports, "layerNormBackward", LayerNormBackward,
              {"x", "gamma", "mean", "rstd", "dy", "dx", "dgamma", "dbeta", "rows", "cols", "accumulate"});
}

}  // namespace lape
