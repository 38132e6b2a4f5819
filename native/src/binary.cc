// Broadcast binary ops: out[idx] = a[idx·sa] op b[idx·sb] over a contiguous output of rank <= 8.
// Axes of size 1 are dropped and adjacent axes merged wherever all three layouts allow it, so the common
// patterns (same shape, scalar, row vector, column vector) reduce to one or two loops. The innermost
// segment runs a specialised vector loop for each stride pattern (1,1), (1,0), (0,1), or a strided one.
#include "common.h"

namespace lape {
namespace {

// Op codes; kOpNames is exported as `enums.binaryOp` and checked against BINARY_OPS at load.
enum BinOp : int { ADD = 0, SUB, MUL, DIV, MAX, MIN, NUM_BINOPS };
const char* const kOpNames[NUM_BINOPS] = {"add", "sub", "mul", "div", "max", "min"};

template <int OP>
inline float apply(float a, float b) {
  if constexpr (OP == ADD) return a + b;
  if constexpr (OP == SUB) return a - b;
  if constexpr (OP == MUL) return a * b;
  if constexpr (OP == DIV) return a / b;
  if constexpr (OP == MAX) return a >= b ? a : b;  // as the portable backend (NaN in a gives b)
  if constexpr (OP == MIN) return a <= b ? a : b;
  return a;
}

template <int OP>
LAPE_CLONES void segVV(const float* a, const float* b, float* o, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) o[i] = apply<OP>(a[i], b[i]);
}
template <int OP>
LAPE_CLONES void segVS(const float* a, float b, float* o, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) o[i] = apply<OP>(a[i], b);
}
template <int OP>
LAPE_CLONES void segSV(float a, const float* b, float* o, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) o[i] = apply<OP>(a, b[i]);
}
template <int OP>
void segStrided(const float* a, i64 sa, const float* b, i64 sb, float* o, i64 n) {
  for (i64 i = 0; i < n; i++) o[i] = apply<OP>(a[i * sa], b[i * sb]);
}

template <int OP>
inline void segment(const float* a, i64 sa, const float* b, i64 sb, float* o, i64 n) {
  if (sa == 1 && sb == 1) segVV<OP>(a, b, o, n);
  else if (sa == 1 && sb == 0) segVS<OP>(a, *b, o, n);
  else if (sa == 0 && sb == 1) segSV<OP>(*a, b, o, n);
  else segStrided<OP>(a, sa, b, sb, o, n);
}

struct Layout {
  int rank = 0;
  i64 size[8], sa[8], sb[8];
  i64 total = 1;
};

template <int OP>
void runLayout(const Layout& L, const float* a, const float* b, float* out) {
  const int r = L.rank;
  if (r == 0) {
    out[0] = apply<OP>(a[0], b[0]);
    return;
  }
  const i64 inner = L.size[r - 1], ia = L.sa[r - 1], ib = L.sb[r - 1];
  parallelFor(L.total, 16384, [&](i64 s, i64 e) {
    i64 idx[8];
    i64 rem = s, offA = 0, offB = 0;
    for (int j = r - 1; j >= 0; j--) {
      idx[j] = rem % L.size[j];
      rem /= L.size[j];
      offA += idx[j] * L.sa[j];
      offB += idx[j] * L.sb[j];
    }
    i64 pos = s;
    while (pos < e) {
      i64 len = std::min(inner - idx[r - 1], e - pos);
      segment<OP>(a + offA, ia, b + offB, ib, out + pos, len);
      pos += len;
      if (pos >= e) break;
      // Advance the multi-index past the finished inner segment.
      offA -= idx[r - 1] * ia;
      offB -= idx[r - 1] * ib;
      idx[r - 1] = 0;
      for (int j = r - 2; j >= 0; j--) {
        idx[j]++;
        offA += L.sa[j];
        offB += L.sb[j];
        if (idx[j] < L.size[j]) break;
        offA -= idx[j] * L.sa[j];
        offB -= idx[j] * L.sb[j];
        idx[j] = 0;
      }
    }
  });
}

/** Checks that every offset reachable through (size, stride) lies inside [0, len). */
void checkReach(const i64* size, const i64* stride, int rank, i64 len, const char* name, const Fields& args) {
  i64 lo = 0, hi = 0;
  for (int i = 0; i < rank; i++) {
    if (size[i] == 0) return;
    i64 span = mul(size[i] - 1, stride[i] < 0 ? -stride[i] : stride[i], args);
    if (stride[i] < 0) lo -= span;
    else hi += span;
  }
  if (lo < 0 || hi >= len) fail(args.where() + name + " is too short for its strides");
}

napi_value Binary(napi_env env, napi_callback_info info) {
  Fields args(env, info, "binary");
  const int op = args.choice("op", kOpNames, NUM_BINOPS);
  View<float> a = args.f32("a"), b = args.f32("b"), out = args.f32("out");
  i64 size[8], sa[8], sb[8];
  const int rank = args.ints("shape", size, 8);
  if (args.ints("aStrides", sa, 8) != rank || args.ints("bStrides", sb, 8) != rank)
    fail(args.where() + "aStrides and bStrides must have one entry per axis of shape");
  i64 total = 1;
  for (int i = 0; i < rank; i++) {
    if (size[i] < 0) fail(args.where() + "bad shape");
    total = mul(total, size[i], args);
  }
  need(out, total, "out", args);
  if (total == 0) return nullptr;
  checkReach(size, sa, rank, a.len, "a", args);
  checkReach(size, sb, rank, b.len, "b", args);

  // Drop unit axes, then merge adjacent axes (from the inside out) whose layouts are all compatible.
  Layout L;
  L.total = total;
  {
    int r = 0;
    i64 ts[8], ta[8], tb[8];
    for (int i = 0; i < rank; i++)
      if (size[i] != 1) {
        ts[r] = size[i];
        ta[r] = sa[i];
        tb[r] = sb[i];
        r++;
      }
    // Build from the innermost axis outwards.
    int q = 0;
    i64 cs[8], ca[8], cb[8];
    for (int i = r - 1; i >= 0; i--) {
      if (q > 0 && ta[i] == ca[q - 1] * cs[q - 1] && tb[i] == cb[q - 1] * cs[q - 1]) {
        cs[q - 1] *= ts[i];  // out is contiguous, so its strides always merge
      } else {
        cs[q] = ts[i];
        ca[q] = ta[i];
        cb[q] = tb[i];
        q++;
      }
    }
    L.rank = q;
    for (int i = 0; i < q; i++) {
      L.size[i] = cs[q - 1 - i];
      L.sa[i] = ca[q - 1 - i];
      L.sb[i] = cb[q - 1 - i];
    }
  }

  switch (op) {
    case ADD: runLayout<ADD>(L, a.data, b.data, out.data); break;
    case SUB: runLayout<SUB>(L, a.data, b.data, out.data); break;
    case MUL: runLayout<MUL>(L, a.data, b.data, out.data); break;
    case DIV: runLayout<DIV>(L, a.data, b.data, out.data); break;
    case MAX: runLayout<MAX>(L, a.data, b.data, out.data); break;
    case MIN: runLayout<MIN>(L, a.data, b.data, out.data); break;
  }
  return nullptr;
}

}  // namespace

void InitBinary(Napi::Env env, Napi::Object exports) {
  exportEnum(env, exports, "binaryOp", kOpNames, NUM_BINOPS);
  LAPE_KERNEL(env, exports, "binary", Binary, {"op", "a", "aStrides", "b", "bStrides", "out", "shape"});
}

}  // namespace lape
