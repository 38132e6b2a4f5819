// bfloat16 conversions, bit-identical to src/tensor/bf16.ts: round to nearest even, NaN stays a quiet
// NaN. Plain integer arithmetic, so the loops vectorize on every ISA.
#pragma once

#include <cstdint>
#include <cstring>

#include "common.h"

namespace lape {

inline uint16_t toBf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t nan = (u >> 16) | 0x40u;
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

inline float fromBf16(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

/**
 * An element of a float32 or bfloat16 buffer as float32 (exact), and a float32 value stored into one
 * (rounded for bfloat16): kernels templated on their element types read and write through these.
 */
inline float ld(float v) { return v; }
inline float ld(uint16_t v) { return fromBf16(v); }
inline void store(float* p, float v) { *p = v; }
inline void store(uint16_t* p, float v) { *p = toBf16(v); }

/** y[i] = toBf16(x[i]) over a contiguous run; runtime-dispatched vector loop (see LAPE_CLONES). */
LAPE_CLONES static inline void narrowRun(const float* LAPE_RESTRICT x, uint16_t* LAPE_RESTRICT y, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) y[i] = toBf16(x[i]);
}

/** y[i] = fromBf16(x[i]) over a contiguous run (exact). */
LAPE_CLONES static inline void widenRun(const uint16_t* LAPE_RESTRICT x, float* LAPE_RESTRICT y, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) y[i] = fromBf16(x[i]);
}

}  // namespace lape
