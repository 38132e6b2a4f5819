// Shared helpers of the lape native addon: argument access (zero-copy typed arrays), validation,
// error conversion, OpenMP parallel loops and per-thread scratch buffers.
//
// Every exported function is a raw N-API callback wrapped by `Guard`, which turns any C++ exception
// (argument errors, oneDNN errors, std::bad_alloc) into a JavaScript Error. Validation always happens
// before a parallel region is entered: nothing may throw inside one.
#pragma once

#include <napi.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

// Runtime-dispatched builds of the hot loops: AVX-512, AVX2+FMA and baseline x86-64, picked once at
// load time by the dynamic linker (ifunc). Non-x86 builds use the plain function.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LAPE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LAPE_CLONES
#endif

#define LAPE_RESTRICT __restrict__

namespace lape {

using i64 = int64_t;

struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const std::string& msg) { throw ArgError(msg); }

template <class T>
struct View {
  T* data = nullptr;
  i64 len = 0;
  explicit operator bool() const { return data != nullptr || len > 0; }
};

/** Positional arguments of one call. */
class Args {
 public:
  static constexpr size_t kMax = 24;
  Args(napi_env env, napi_callback_info info, const char* fn) : env_(env), fn_(fn) {
    size_t argc = kMax;
    if (napi_get_cb_info(env, info, &argc, argv_, nullptr, nullptr) != napi_ok) fail(where() + "cannot read arguments");
    argc_ = argc;
  }
  napi_env env() const { return env_; }
  size_t count() const { return argc_; }
  std::string where() const { return std::string("lape_native.") + fn_ + ": "; }

  bool isNullish(size_t i) const {
    if (i >= argc_) return true;
    napi_valuetype t;
    if (napi_typeof(env_, argv_[i], &t) != napi_ok) return true;
    return t == napi_null || t == napi_undefined;
  }

  View<float> f32(size_t i, const char* name) const { return typed<float>(i, name, napi_float32_array, "Float32Array"); }
  View<int32_t> i32(size_t i, const char* name) const { return typed<int32_t>(i, name, napi_int32_array, "Int32Array"); }
  View<double> f64(size_t i, const char* name) const { return typed<double>(i, name, napi_float64_array, "Float64Array"); }
  View<float> f32opt(size_t i, const char* name) const { return isNullish(i) ? View<float>{} : f32(i, name); }
  View<int32_t> i32opt(size_t i, const char* name) const { return isNullish(i) ? View<int32_t>{} : i32(i, name); }

  double num(size_t i, const char* name) const {
    double v = 0;
    if (i >= argc_ || napi_get_value_double(env_, argv_[i], &v) != napi_ok) fail(where() + name + " must be a number");
    return v;
  }
  /** A non-negative integer size below 2^48. */
  i64 size(size_t i, const char* name) const {
    double v = num(i, name);
    if (!(v >= 0) || v > 281474976710656.0 || std::floor(v) != v) fail(where() + name + " must be a non-negative integer");
    return static_cast<i64>(v);
  }
  /** A positive integer below 2^31. */
  i64 positive(size_t i, const char* name) const {
    i64 v = size(i, name);
    if (v < 1 || v > 2147483647) fail(where() + name + " must be a positive integer");
    return v;
  }
  bool flag(size_t i, const char* name) const {
    if (i >= argc_) fail(where() + name + " missing");
    bool b = false;
    if (napi_get_value_bool(env_, argv_[i], &b) == napi_ok) return b;
    return num(i, name) != 0;
  }

 private:
  template <class T>
  View<T> typed(size_t i, const char* name, napi_typedarray_type want, const char* wantName) const {
    if (i >= argc_) fail(where() + name + " missing");
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env_, argv_[i], &type, &length, &data, nullptr, nullptr) != napi_ok || type != want)
      fail(where() + name + " must be a " + wantName);
    View<T> v;
    v.data = static_cast<T*>(data);
    v.len = static_cast<i64>(length);
    return v;
  }

  napi_env env_;
  const char* fn_;
  napi_value argv_[kMax];
  size_t argc_ = 0;
};

/** a * b with overflow check (sizes are < 2^48, products checked against 2^62). */
inline i64 mul(i64 a, i64 b, const Args& args) {
  i64 r;
  if (__builtin_mul_overflow(a, b, &r) || r > (i64(1) << 62)) fail(args.where() + "size overflow");
  return r;
}

template <class T>
inline void need(const View<T>& v, i64 n, const char* name, const Args& args) {
  if (v.len < n)
    fail(args.where() + name + " has " + std::to_string(v.len) + " elements, needs at least " + std::to_string(n));
}

using Callback = napi_value (*)(napi_env, napi_callback_info);

template <Callback F>
napi_value Guard(napi_env env, napi_callback_info info) {
  try {
    return F(env, info);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  } catch (const std::bad_alloc&) {
    napi_throw_range_error(env, "ERR_LAPE_NATIVE_OOM", "lape_native: out of memory");
  } catch (const std::exception& e) {
    napi_throw_error(env, "ERR_LAPE_NATIVE", e.what());
  } catch (...) {
    napi_throw_error(env, "ERR_LAPE_NATIVE", "lape_native: unknown error");
  }
  return nullptr;
}

inline void exportFn(Napi::Env env, Napi::Object exports, const char* name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn) != napi_ok)
    throw Napi::Error::New(env, std::string("cannot export ") + name);
  exports.Set(name, Napi::Value(env, fn));
}
#define LAPE_EXPORT(env, exports, name, fn) ::lape::exportFn(env, exports, name, ::lape::Guard<fn>)

inline napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// ---------------------------------------------------------------------------------------------
// Threading

/** Threads to use for `work` units of which each thread should get at least `grain`. */
inline int threadsFor(i64 work, i64 grain) {
  if (work < 2 * grain) return 1;
  i64 t = work / grain;
  int mx = omp_get_max_threads();
  return static_cast<int>(t < mx ? t : mx);
}

/** Calls f(begin, end) on contiguous chunks of [0, n) in parallel (serially when small). */
template <class F>
inline void parallelFor(i64 n, i64 grain, F&& f) {
  if (n <= 0) return;
  int nt = threadsFor(n, grain);
  if (nt <= 1) {
    f(i64(0), n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    i64 t = omp_get_thread_num(), T = omp_get_num_threads();
    i64 b = n * t / T, e = n * (t + 1) / T;
    if (b < e) f(b, e);
  }
}

/** Like parallelFor, but also passes the thread index (0-based) and returns the thread count used. */
template <class F>
inline int parallelForT(i64 n, i64 grain, F&& f) {
  if (n <= 0) return 0;
  int nt = threadsFor(n, grain);
  if (nt <= 1) {
    f(i64(0), n, 0);
    return 1;
  }
  int used = nt;
#pragma omp parallel num_threads(nt)
  {
    i64 t = omp_get_thread_num(), T = omp_get_num_threads();
    if (t == 0) used = static_cast<int>(T);
    i64 b = n * t / T, e = n * (t + 1) / T;
    f(b, e, static_cast<int>(t));
  }
  return used;
}

/** Grow-only, 64-byte aligned scratch buffer (one per use site and calling thread). */
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p_); }
  void* get(size_t bytes) {
    if (bytes > cap_) {
      size_t want = (bytes + 63) & ~size_t(63);
      void* q = std::aligned_alloc(64, want);
      if (!q) throw std::bad_alloc();
      std::free(p_);
      p_ = q;
      cap_ = want;
    }
    return p_;
  }
  template <class T>
  T* as(size_t count) {
    return static_cast<T*>(get(count * sizeof(T)));
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};

// Family initialisers (one per source file).
void InitMatmul(Napi::Env env, Napi::Object exports);
void InitMatmulStrided(Napi::Env env, Napi::Object exports);
void InitEltwise(Napi::Env env, Napi::Object exports);
void InitBinary(Napi::Env env, Napi::Object exports);
void InitReduce(Napi::Env env, Napi::Object exports);
void InitCopy(Napi::Env env, Napi::Object exports);
void InitSoftmax(Napi::Env env, Napi::Object exports);
void InitLayerNorm(Napi::Env env, Napi::Object exports);
void InitDropout(Napi::Env env, Napi::Object exports);
void InitConv(Napi::Env env, Napi::Object exports);
void InitGather(Napi::Env env, Napi::Object exports);
void InitOptim(Napi::Env env, Napi::Object exports);

}  // namespace lape
