// Reductions of a tensor viewed as [outer, r, inner] over the middle axis.
// x may be bfloat16 for sums (a bias gradient from a bfloat16 gradient), widened exactly.
// Sums accumulate in double precision (the portable backend sums in doubles too); the work is split
// over `outer`, over column blocks of `inner`, or over `r` with per-thread partials, whichever gives
// every thread enough to do.
#include "bf16.h"
#include "common.h"

namespace lape {
namespace {

// ---- sum ------------------------------------------------------------------------------------

template <class E>
LAPE_CLONES double rowSum(const E* x, i64 n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (i64 i = 0; i < n; i++) s += static_cast<double>(ld(x[i]));
  return s;
}

/** acc[j] += x[rr * stride + j] for rr in [0, rows), j in [0, n). */
template <class E>
LAPE_CLONES void colAccumulate(const E* x, i64 stride, i64 rows, double* LAPE_RESTRICT acc, i64 n) {
  for (i64 rr = 0; rr < rows; rr++) {
    const E* LAPE_RESTRICT row = x + rr * stride;
#pragma omp simd
    for (i64 j = 0; j < n; j++) acc[j] += static_cast<double>(ld(row[j]));
  }
}

LAPE_CLONES void toFloat(const double* LAPE_RESTRICT acc, float* LAPE_RESTRICT out, i64 n) {
#pragma omp simd
  for (i64 j = 0; j < n; j++) out[j] = static_cast<float>(acc[j]);
}

constexpr i64 kGrain = 16384;

template <class E>
void sumRows(const E* x, float* out, i64 outer, i64 r) {
  const int T = omp_get_max_threads();
  if (outer >= 2 * T || r < 2 * kGrain) {
    parallelFor(outer, std::max<i64>(1, kGrain / std::max<i64>(r, 1)), [&](i64 b, i64 e) {
      for (i64 o = b; o < e; o++) out[o] = static_cast<float>(rowSum(x + o * r, r));
    });
    return;
  }
  // Few long rows: split each row over the threads.
  static thread_local Scratch scratch;
  double* part = scratch.as<double>(T);
  for (i64 o = 0; o < outer; o++) {
    const E* row = x + o * r;
    int used = parallelForT(r, kGrain, [&](i64 b, i64 e, int t) { part[t] = rowSum(row + b, e - b); });
    double s = 0;
    for (int t = 0; t < used; t++) s += part[t];
    out[o] = static_cast<float>(s);
  }
}

template <class E>
void sumCols(const E* x, float* out, i64 outer, i64 r, i64 inner) {
  const int T = omp_get_max_threads();
  const i64 work = outer * r * inner;
  if (outer >= 2 * T || work < 2 * kGrain) {
    // Parallel over outer; each thread keeps one double accumulator row.
    parallelFor(outer, std::max<i64>(1, kGrain / std::max<i64>(r * inner, 1)), [&](i64 b, i64 e) {
      static thread_local Scratch scratch;
      double* acc = scratch.as<double>(inner);
      for (i64 o = b; o < e; o++) {
        std::fill(acc, acc + inner, 0.0);
        colAccumulate(x + o * r * inner, inner, r, acc, inner);
        toFloat(acc, out + o * inner, inner);
      }
    });
    return;
  }
  if (inner >= 512 * T) {
    // Wide rows: split the columns.
    parallelFor(inner, 256, [&](i64 b, i64 e) {
      static thread_local Scratch scratch;
      double* acc = scratch.as<double>(e - b);
      for (i64 o = 0; o < outer; o++) {
        std::fill(acc, acc + (e - b), 0.0);
        colAccumulate(x + o * r * inner + b, inner, r, acc, e - b);
        toFloat(acc, out + o * inner + b, e - b);
      }
    });
    return;
  }
  // Few, narrow outputs over a long r (e.g. a bias gradient): per-thread partials over r.
  static thread_local Scratch partials;  // of the calling thread: T * outer * inner doubles
  double* part = partials.as<double>(static_cast<size_t>(T) * outer * inner);
  const i64 span = outer * inner;
  int used = parallelForT(r, std::max<i64>(1, kGrain / std::max<i64>(inner, 1)), [&](i64 b, i64 e, int t) {
    double* acc = part + t * span;
    std::fill(acc, acc + span, 0.0);
    for (i64 o = 0; o < outer; o++) colAccumulate(x + (o * r + b) * inner, inner, e - b, acc + o * inner, inner);
  });
  for (i64 i = 0; i < span; i++) {
    double s = 0;
    for (int t = 0; t < used; t++) s += part[t * span + i];
    out[i] = static_cast<float>(s);
  }
}

// ---- max ------------------------------------------------------------------------------------

void maxRows(const float* x, float* out, int32_t* am, i64 outer, i64 r) {
  parallelFor(outer, std::max<i64>(1, kGrain / std::max<i64>(r, 1)), [&](i64 b, i64 e) {
    for (i64 o = b; o < e; o++) {
      const float* row = x + o * r;
      float best = row[0];
      i64 bi = 0;
      if (best == best)
        for (i64 i = 1; i < r; i++) {
          const float v = row[i];
          if (v > best || v != v) {  // the first NaN wins, as in PyTorch
            best = v;
            bi = i;
            if (v != v) break;
          }
        }
      out[o] = best;
      if (am) am[o] = static_cast<int32_t>(bi);
    }
  });
}

LAPE_CLONES void colMax(const float* x, i64 stride, i64 rows, float* LAPE_RESTRICT out, int32_t* LAPE_RESTRICT am, i64 n) {
  std::memcpy(out, x, n * sizeof(float));
  if (am) std::fill(am, am + n, 0);
  for (i64 rr = 1; rr < rows; rr++) {
    const float* LAPE_RESTRICT row = x + rr * stride;
    if (am) {
      const int32_t ri = static_cast<int32_t>(rr);
#pragma omp simd
      for (i64 j = 0; j < n; j++) {
        const bool gt = row[j] > out[j] || (row[j] != row[j] && out[j] == out[j]);
        out[j] = gt ? row[j] : out[j];
        am[j] = gt ? ri : am[j];
      }
    } else {
#pragma omp simd
      for (i64 j = 0; j < n; j++) out[j] = (row[j] > out[j] || (row[j] != row[j] && out[j] == out[j])) ? row[j] : out[j];
    }
  }
}

void maxCols(const float* x, float* out, int32_t* am, i64 outer, i64 r, i64 inner) {
  const int T = omp_get_max_threads();
  if (outer >= 2 * T || inner < 256 * T) {
    parallelFor(outer, std::max<i64>(1, kGrain / std::max<i64>(r * inner, 1)), [&](i64 b, i64 e) {
      for (i64 o = b; o < e; o++) colMax(x + o * r * inner, inner, r, out + o * inner, am ? am + o * inner : nullptr, inner);
    });
    return;
  }
  parallelFor(inner, 256, [&](i64 b, i64 e) {
    for (i64 o = 0; o < outer; o++)
      colMax(x + o * r * inner + b, inner, r, out + o * inner + b, am ? am + o * inner + b : nullptr, e - b);
  });
}

struct Dims {
  i64 outer, r, inner;
};

template <class X>
Dims readDims(const Fields& args, const X& x, const View<float>& out) {
  Dims d{args.size("outer"), args.size("r"), args.size("inner")};
  need(x, mul(mul(d.outer, d.r, args), d.inner, args), "x", args);
  need(out, mul(d.outer, d.inner, args), "out", args);
  return d;
}

napi_value ReduceSum(napi_env env, napi_callback_info info) {
  Fields args(env, info, "reduceSum");
  const FloatBuf x = args.floating("x");
  View<float> out = args.f32("out");
  Dims d = readDims(args, x, out);
  if (d.outer == 0 || d.inner == 0) return nullptr;
  if (d.r == 0) {
    std::fill(out.data, out.data + d.outer * d.inner, 0.0f);
    return nullptr;
  }
  if (x.type == Float::BF16) {
    const uint16_t* xh = static_cast<const uint16_t*>(x.data);
    if (d.inner == 1) sumRows(xh, out.data, d.outer, d.r);
    else sumCols(xh, out.data, d.outer, d.r, d.inner);
    return nullptr;
  }
  const float* xf = static_cast<const float*>(x.data);
  if (d.inner == 1) sumRows(xf, out.data, d.outer, d.r);
  else sumCols(xf, out.data, d.outer, d.r, d.inner);
  return nullptr;
}

napi_value ReduceMax(napi_env env, napi_callback_info info) {
  Fields args(env, info, "reduceMax");
  View<float> x = args.f32("x"), out = args.f32("out");
  Dims d = readDims(args, x, out);
  View<int32_t> am = args.i32opt("argmax");
  const bool hasArg = args.has("argmax");
  if (hasArg) need(am, d.outer * d.inner, "argmax", args);
  if (d.outer == 0 || d.inner == 0) return nullptr;
  if (d.r == 0) fail(args.where() + "cannot take the max over an empty axis");
  if (d.r > 2147483647) fail(args.where() + "axis too long for an Int32 argmax");
  int32_t* amp = hasArg ? am.data : nullptr;
  if (d.inner == 1) maxRows(x.data, out.data, amp, d.outer, d.r);
  else maxCols(x.data, out.data, amp, d.outer, d.r, d.inner);
  return nullptr;
}

}  // namespace

void InitReduce(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "reduceSum", ReduceSum, {"x", "out", "outer", "r", "inner"});
  LAPE_KERNEL(env, exports, "reduceMax", ReduceMax, {"x", "out", "argmax", "outer", "r", "inner"});
}

}  // namespace lape
