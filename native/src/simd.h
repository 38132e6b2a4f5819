// Row reductions on GCC vector extensions. A 16-float vector becomes one zmm register in the AVX-512
// clone, two ymm in the AVX2 clone and four xmm in the baseline one. Two independent accumulators hide
// the add latency, and the final horizontal sum is a shuffle tree (GCC's `omp simd reduction` spills
// its partial sums to the stack and adds them one by one, which dominated short rows).
#pragma once

#include <cstdint>
#include <cstring>

namespace lape {
namespace simd {

typedef float v16f __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
using i64 = int64_t;

inline v16f load(const float* p) {
  v16f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

typedef uint16_t v16u16 __attribute__((vector_size(32)));
typedef uint32_t v16u32 __attribute__((vector_size(64)));

/** 16 bfloat16 values widened to float32 (exact: the bits move to the upper half). */
inline v16f load(const uint16_t* p) {
  v16u16 h;
  std::memcpy(&h, p, sizeof(h));
  const v16u32 w = __builtin_convertvector(h, v16u32) << 16;
  v16f v;
  std::memcpy(&v, &w, sizeof(v));
  return v;
}

inline v16f splat(float x) { return v16f{} + x; }

inline float hsum(v16f v) {
  v8f a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  v4f b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

inline v16f vmax(v16f a, v16f b) { return a > b ? a : b; }

inline float hmax(v16f v) {
  v8f a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  v8f b = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  a = a > b ? a : b;
  v4f c = __builtin_shufflevector(a, a, 0, 1, 2, 3), d = __builtin_shufflevector(a, a, 4, 5, 6, 7);
  c = c > d ? c : d;
  float m = c[0];
  for (int i = 1; i < 4; i++) m = c[i] > m ? c[i] : m;
  return m;
}

/** sum_j x[j]. */
inline float sum(const float* x, i64 n) {
  v16f a0 = {}, a1 = {};
  i64 j = 0;
  for (; j + 32 <= n; j += 32) {
    a0 += load(x + j);
    a1 += load(x + j + 16);
  }
  if (j + 16 <= n) {
    a0 += load(x + j);
    j += 16;
  }
  float s = hsum(a0 + a1);
  for (; j < n; j++) s += x[j];
  return s;
}

/** sum_j (x[j] - mu)^2. */
inline float sumSqDev(const float* x, i64 n, float mu) {
  const v16f m = splat(mu);
  v16f a0 = {}, a1 = {};
  i64 j = 0;
  for (; j + 32 <= n; j += 32) {
    v16f d0 = load(x + j) - m, d1 = load(x + j + 16) - m;
    a0 += d0 * d0;
    a1 += d1 * d1;
  }
  if (j + 16 <= n) {
    v16f d0 = load(x + j) - m;
    a0 += d0 * d0;
    j += 16;
  }
  float s = hsum(a0 + a1);
  for (; j < n; j++) {
    float d = x[j] - mu;
    s += d * d;
  }
  return s;
}

/** sum_j a[j] * b[j]. */
inline float dot(const float* a, const float* b, i64 n) {
  v16f a0 = {}, a1 = {};
  i64 j = 0;
  for (; j + 32 <= n; j += 32) {
    a0 += load(a + j) * load(b + j);
    a1 += load(a + j + 16) * load(b + j + 16);
  }
  if (j + 16 <= n) {
    a0 += load(a + j) * load(b + j);
    j += 16;
  }
  float s = hsum(a0 + a1);
  for (; j < n; j++) s += a[j] * b[j];
  return s;
}

/** max_j x[j] (NaNs are skipped unless they come first; n >= 1). */
inline float max(const float* x, i64 n) {
  i64 j = 0;
  float m;
  if (n >= 16) {
    v16f a0 = load(x), a1 = a0;
    j = 16;
    for (; j + 32 <= n; j += 32) {
      a0 = vmax(load(x + j), a0);
      a1 = vmax(load(x + j + 16), a1);
    }
    if (j + 16 <= n) {
      a0 = vmax(load(x + j), a0);
      j += 16;
    }
    m = hmax(vmax(a0, a1));
  } else {
    m = x[0];
    j = 1;
  }
  for (; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

}  // namespace simd
}  // namespace lape
