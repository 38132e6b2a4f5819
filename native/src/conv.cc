// Convolution helpers: im2col / col2im for one image, and 2-D max pooling with argmax.
#include "common.h"

namespace lape {
namespace {

struct Geometry {
  i64 c, h, w, kh, kw, stride, pad, outH, outW;
};

/** The window geometry fields shared by im2col, col2im and maxPool2d (`window2d` in kernels.ts). */
Geometry readGeometry(const Fields& args, const char* count) {
  Geometry g;
  g.c = args.size(count);
  g.h = args.size("height");
  g.w = args.size("width");
  g.kh = args.size("kernelH");
  g.kw = args.size("kernelW");
  g.stride = args.size("stride");
  g.pad = args.size("pad");
  g.outH = args.size("outH");
  g.outW = args.size("outW");
  if (g.stride < 1 || g.kh < 1 || g.kw < 1) fail(args.where() + "stride and kernel size must be >= 1");
  if (g.h > 2147483647 || g.w > 2147483647 || g.kh > 65536 || g.kw > 65536 || g.pad > 65536 || g.outH > 2147483647 ||
      g.outW > 2147483647)
    fail(args.where() + "geometry out of range");
  return g;
}

/** Output columns [lo, hi) whose input column ox*stride - pad + kj lies inside [0, w). */
inline void validRange(i64 k, i64 stride, i64 pad, i64 w, i64 outW, i64* lo, i64* hi) {
  // ix = ox*stride - pad + k >= 0  <=>  ox >= ceil((pad - k) / stride)
  i64 a = pad - k;
  i64 l = a <= 0 ? 0 : (a + stride - 1) / stride;
  // ix <= w - 1  <=>  ox <= floor((w - 1 + pad - k) / stride)
  i64 b = w - 1 + pad - k;
  i64 h = b < 0 ? 0 : b / stride + 1;
  *lo = std::min(l, outW);
  *hi = std::max(*lo, std::min(h, outW));
}

napi_value Im2col(napi_env env, napi_callback_info info) {
  Fields args(env, info, "im2col");
  View<float> x = args.f32("x"), cols = args.f32("cols");
  const Geometry g = readGeometry(args, "channels");
  const i64 rows = mul(mul(g.c, g.kh, args), g.kw, args), ncol = mul(g.outH, g.outW, args);
  need(x, mul(mul(g.c, g.h, args), g.w, args), "x", args);
  need(cols, mul(rows, ncol, args), "cols", args);
  const float* xp = x.data;
  float* cp = cols.data;
  parallelFor(rows, std::max<i64>(1, 16384 / std::max<i64>(ncol, 1)), [&](i64 b, i64 e) {
    for (i64 row = b; row < e; row++) {
      const i64 kj = row % g.kw, ki = (row / g.kw) % g.kh, ci = row / (g.kw * g.kh);
      i64 lo, hi;
      validRange(kj, g.stride, g.pad, g.w, g.outW, &lo, &hi);
      const float* plane = xp + ci * g.h * g.w;
      for (i64 oy = 0; oy < g.outH; oy++) {
        float* dst = cp + row * ncol + oy * g.outW;
        const i64 iy = oy * g.stride - g.pad + ki;
        if (iy < 0 || iy >= g.h) {
          std::memset(dst, 0, g.outW * sizeof(float));
          continue;
        }
        const float* src = plane + iy * g.w - g.pad + kj;  // src[ox * stride] for ox in [lo, hi)
        std::fill(dst, dst + lo, 0.0f);
        if (g.stride == 1) std::memcpy(dst + lo, src + lo, (hi - lo) * sizeof(float));
        else
          for (i64 ox = lo; ox < hi; ox++) dst[ox] = src[ox * g.stride];
        std::fill(dst + hi, dst + g.outW, 0.0f);
      }
    }
  });
  return nullptr;
}

// col2im: dx += adjoint(cols)
napi_value Col2im(napi_env env, napi_callback_info info) {
  Fields args(env, info, "col2im");
  View<float> cols = args.f32("cols"), dx = args.f32("dx");
  const Geometry g = readGeometry(args, "channels");
  const i64 rows = mul(mul(g.c, g.kh, args), g.kw, args), ncol = mul(g.outH, g.outW, args);
  need(dx, mul(mul(g.c, g.h, args), g.w, args), "dx", args);
  need(cols, mul(rows, ncol, args), "cols", args);
  const float* cp = cols.data;
  float* xp = dx.data;
  // Channels own disjoint planes of dx: parallel over channels is race-free.
  parallelFor(g.c, std::max<i64>(1, 16384 / std::max<i64>(g.kh * g.kw * ncol, 1)), [&](i64 b, i64 e) {
    for (i64 ci = b; ci < e; ci++) {
      float* plane = xp + ci * g.h * g.w;
      for (i64 ki = 0; ki < g.kh; ki++)
        for (i64 kj = 0; kj < g.kw; kj++) {
          const i64 row = (ci * g.kh + ki) * g.kw + kj;
          i64 lo, hi;
          validRange(kj, g.stride, g.pad, g.w, g.outW, &lo, &hi);
          for (i64 oy = 0; oy < g.outH; oy++) {
            const i64 iy = oy * g.stride - g.pad + ki;
            if (iy < 0 || iy >= g.h) continue;
            const float* src = cp + row * ncol + oy * g.outW;
            float* dst = plane + iy * g.w - g.pad + kj;
            if (g.stride == 1) {
#pragma omp simd
              for (i64 ox = lo; ox < hi; ox++) dst[ox] += src[ox];
            } else {
              for (i64 ox = lo; ox < hi; ox++) dst[ox * g.stride] += src[ox];
            }
          }
        }
    }
  });
  return nullptr;
}

napi_value MaxPool2d(napi_env env, napi_callback_info info) {
  Fields args(env, info, "maxPool2d");
  View<float> x = args.f32("x"), y = args.f32("y");
  View<int32_t> am = args.i32("argmax");
  const Geometry g = readGeometry(args, "planes");
  const i64 planes = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw, stride = g.stride, pad = g.pad, outH = g.outH,
            outW = g.outW;
  if (h > 46340 || w > 46340) fail(args.where() + "planes larger than 46340x46340 overflow the Int32 argmax");
  const i64 plane = mul(h, w, args), oplane = mul(outH, outW, args);
  need(x, mul(planes, plane, args), "x", args);
  need(y, mul(planes, oplane, args), "y", args);
  need(am, mul(planes, oplane, args), "argmax", args);
  const float* xp = x.data;
  float* yp = y.data;
  int32_t* ap = am.data;
  const i64 rowsOut = planes * outH;
  parallelFor(rowsOut, std::max<i64>(1, 4096 / std::max<i64>(outW * kh * kw, 1)), [&](i64 b, i64 e) {
    for (i64 r = b; r < e; r++) {
      const i64 p = r / outH, oy = r % outH;
      const float* src = xp + p * plane;
      float* dst = yp + p * oplane + oy * outW;
      int32_t* adst = ap + p * oplane + oy * outW;
      const i64 y0 = std::max<i64>(oy * stride - pad, 0), y1 = std::min<i64>(oy * stride - pad + kh, h);
      for (i64 ox = 0; ox < outW; ox++) {
        const i64 x0 = std::max<i64>(ox * stride - pad, 0), x1 = std::min<i64>(ox * stride - pad + kw, w);
        float best = -INFINITY;
        i64 bi = -1;
        for (i64 iy = y0; iy < y1; iy++)
          for (i64 ix = x0; ix < x1; ix++) {
            const float v = src[iy * w + ix];
            if (bi < 0 || v > best) {
              best = v;
              bi = iy * w + ix;
            }
          }
        dst[ox] = best;
        adst[ox] = static_cast<int32_t>(bi);
      }
    }
  });
  return nullptr;
}

}  // namespace

#define LAPE_WINDOW_FIELDS "height", "width", "kernelH", "kernelW", "stride", "pad", "outH", "outW"

void InitConv(Napi::Env env, Napi::Object exports) {
  LAPE_KERNEL(env, exports, "im2col", Im2col, {"x", "cols", "channels", LAPE_WINDOW_FIELDS});
  LAPE_KERNEL(env, exports, "col2im", Col2im, {"cols", "dx", "channels", LAPE_WINDOW_FIELDS});
  LAPE_KERNEL(env, exports, "maxPool2d", MaxPool2d, {"x", "y", "argmax", "planes", LAPE_WINDOW_FIELDS});
}

}  // namespace lape
