// Generic strided copy (permute, slice, concat, expand and their gradients), rank <= 8:
//   dst[dstOffset + idx·dstStrides] (+)= src[srcOffset + idx·srcStrides]
// Unit axes are dropped and compatible neighbours merged, so contiguous copies become one memcpy and
// "last axis contiguous" copies become rows of memcpy. Parallel over the flat index, except when some
// destination axis has stride 0 (several indices write one element): then it runs in order, serially.
#include "common.h"

namespace lape {
namespace {

LAPE_CLONES void addContig(const float* LAPE_RESTRICT s, float* LAPE_RESTRICT d, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) d[i] += s[i];
}
LAPE_CLONES void fillScalar(float v, float* LAPE_RESTRICT d, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) d[i] = v;
}
LAPE_CLONES void addScalar(float v, float* LAPE_RESTRICT d, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; i++) d[i] += v;
}

inline void segment(const float* s, i64 ss, float* d, i64 ds, i64 n, bool acc) {
  if (ss == 1 && ds == 1) {
    if (acc) addContig(s, d, n);
    else if (s != d) std::memmove(d, s, n * sizeof(float));
  } else if (ss == 0 && ds == 1) {
    if (acc) addScalar(*s, d, n);
    else fillScalar(*s, d, n);
  } else if (acc) {
    for (i64 i = 0; i < n; i++) d[i * ds] += s[i * ss];
  } else {
    for (i64 i = 0; i < n; i++) d[i * ds] = s[i * ss];
  }
}

struct Layout {
  int rank = 0;
  i64 size[8] = {}, ss[8] = {}, ds[8] = {};
};

void runRange(const Layout& L, const float* src, float* dst, i64 s, i64 e, bool acc) {
  const int r = L.rank;
  const i64 inner = L.size[r - 1], is = L.ss[r - 1], id = L.ds[r - 1];
  i64 idx[8];
  i64 rem = s, offS = 0, offD = 0;
  for (int j = r - 1; j >= 0; j--) {
    idx[j] = rem % L.size[j];
    rem /= L.size[j];
    offS += idx[j] * L.ss[j];
    offD += idx[j] * L.ds[j];
  }
  i64 pos = s;
  while (pos < e) {
    i64 len = std::min(inner - idx[r - 1], e - pos);
    segment(src + offS, is, dst + offD, id, len, acc);
    pos += len;
    if (pos >= e) break;
    offS -= idx[r - 1] * is;
    offD -= idx[r - 1] * id;
    idx[r - 1] = 0;
    for (int j = r - 2; j >= 0; j--) {
      idx[j]++;
      offS += L.ss[j];
      offD += L.ds[j];
      if (idx[j] < L.size[j]) break;
      offS -= idx[j] * L.ss[j];
      offD -= idx[j] * L.ds[j];
      idx[j] = 0;
    }
  }
}

void checkReach(i64 offset, const i64* size, const i64* stride, int rank, i64 len, const char* name, const Fields& args) {
  i64 lo = offset, hi = offset;
  for (int i = 0; i < rank; i++) {
    i64 span = mul(size[i] - 1, stride[i] < 0 ? -stride[i] : stride[i], args);
    if (stride[i] < 0) lo -= span;
    else hi += span;
  }
  if (lo < 0 || hi >= len) fail(args.where() + name + " is too short for its offset and strides");
}

napi_value StridedCopy(napi_env env, napi_callback_info info) {
  Fields args(env, info, "stridedCopy");
  View<float> src = args.f32("src"), dst = args.f32("dst");
  const bool acc = args.flag("accumulate");
  const i64 srcOff = args.size("srcOffset"), dstOff = args.size("dstOffset");
  i64 size[8] = {}, ss[8] = {}, ds[8] = {};
  const int rank = args.ints("shape", size, 8);
  if (args.ints("srcStrides", ss, 8) != rank || args.ints("dstStrides", ds, 8) != rank)
    fail(args.where() + "srcStrides and dstStrides must have one entry per axis of shape");
  i64 total = 1;
  for (int i = 0; i < rank; i++) {
    if (size[i] < 0) fail(args.where() + "bad shape");
    total = mul(total, size[i], args);
  }
  if (total == 0) return nullptr;
  checkReach(srcOff, size, ss, rank, src.len, "src", args);
  checkReach(dstOff, size, ds, rank, dst.len, "dst", args);

  const float* s = src.data + srcOff;
  float* d = dst.data + dstOff;

  // Drop unit axes and merge compatible neighbours (inside out).
  Layout L;
  int q = 0;
  bool dstZero = false;
  {
    i64 cs[8], ca[8], cb[8];
    for (int i = rank - 1; i >= 0; i--) {
      if (size[i] == 1) continue;
      if (q > 0 && ss[i] == ca[q - 1] * cs[q - 1] && ds[i] == cb[q - 1] * cs[q - 1]) {
        cs[q - 1] *= size[i];
      } else {
        cs[q] = size[i];
        ca[q] = ss[i];
        cb[q] = ds[i];
        q++;
      }
    }
    for (int i = 0; i < q; i++) {
      L.size[i] = cs[q - 1 - i];
      L.ss[i] = ca[q - 1 - i];
      L.ds[i] = cb[q - 1 - i];
      if (L.ds[i] == 0) dstZero = true;
    }
    L.rank = q;
  }
  if (q == 0) {
    if (acc) d[0] += s[0];
    else d[0] = s[0];
    return nullptr;
  }
  if (dstZero) {
    runRange(L, s, d, 0, total, acc);
    return nullptr;
  }
  // Copies are pure memory traffic: give each thread at least ~128 KiB.
  parallelFor(total, 32768, [&](i64 b, i64 e) { runRange(L, s, d, b, e, acc); });
  return nullptr;
}

}  // namespace

void InitCopy(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "stridedCopy", StridedCopy,
              {"src", "srcOffset", "srcStrides", "dst", "dstOffset", "dstStrides", "shape", "accumulate"});
}

}  // namespace lape
