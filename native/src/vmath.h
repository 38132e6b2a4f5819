// Vectorizable float math for the own kernels (plain arithmetic and bit operations only, so the
// compiler vectorizes loops that call it under `#pragma omp simd`).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace lape {

/**
 * exp(x) in float, accurate to ~1 ulp (Cody-Waite reduction by ln 2, degree-6 polynomial on
 * [-ln2/2, ln2/2]). Results below the smallest normal float flush to 0, above FLT_MAX give +inf;
 * NaN stays NaN.
 */
inline float vexp(float x0) {
  float x = x0 < -87.33654f ? -87.33654f : x0;
  x = x > 88.72283f ? 88.72283f : x;
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest (|t| < 2^22)
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  // 2^n as a float, with n = 128 (x near ln FLT_MAX) split as 2^127 * 2.
  const float big = n > 127.0f ? 1.0f : 0.0f;
  const int32_t bits = (static_cast<int32_t>(n - big) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const float y = p * scale * (1.0f + big);
  return x0 < -87.33654f ? 0.0f : (x0 > 88.72283f ? HUGE_VALF : y);
}

/** exp(x) for x <= 0 only (no overflow handling): flushes results below FLT_MIN to 0. */
inline float vexpNonPositive(float x0) {
  const float x = x0 < -87.33654f ? -87.33654f : x0;
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return x0 < -87.33654f ? 0.0f : p * scale;
}

/**
 * The standard normal CDF Phi(x) = 0.5 * erfc(-x / sqrt(2)) (absolute error < 2.5e-7) and, as `e`,
 * exp(-x^2 / 2) for the density. erfc(z) = exp(-z^2) * q(t) with t = 1 / (1 + 0.4 z), q a degree-9
 * least-squares polynomial fitted (for lape) to erfc(z) exp(z^2) on z in [0, 10] (relative error ~2e-8).
 */
inline float vphi(float x, float* e) {
  const float z = std::fabs(x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.4f * z);
  float q = 0.029024350f;
  q = q * t - 0.076473862f;
  q = q * t - 0.059783410f;
  q = q * t + 0.27080455f;
  q = q * t - 0.064619027f;
  q = q * t + 0.26663077f;
  q = q * t + 0.17806968f;
  q = q * t + 0.23122400f;
  q = q * t + 0.22509728f;
  q = q * t + 2.5702309e-05f;
  *e = vexpNonPositive(-z * z);
  const float half = 0.5f * *e * q;
  return x >= 0.0f ? 1.0f - half : half;
}

/** GELU (exact, erf form): x * Phi(x). */
inline float vgelu(float x) {
  float e;
  return x * vphi(x, &e);
}

/** d GELU / dx = Phi(x) + x * phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi). */
inline float vgeluGrad(float x) {
  float e;
  const float cdf = vphi(x, &e);
  return cdf + x * 0.39894228040143268f * e;
}

}  // namespace lape
