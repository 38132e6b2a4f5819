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
#include <initializer_list>
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

/** Element types of floating-point buffers: float32, or bfloat16 (the upper half of a float32). */
enum class Float { F32, BF16 };
inline size_t sizeOf(Float t) { return t == Float::F32 ? 4 : 2; }

/** A Float32Array or a Uint16Array holding bfloat16. */
struct FloatBuf {
  void* data = nullptr;
  i64 len = 0;
  Float type = Float::F32;
  /** The address of element i. */
  void* at(i64 i) const { return static_cast<char*>(data) + i * static_cast<i64>(sizeOf(type)); }
};

/**
 * The named fields of one kernel call. Every kernel takes a single argument object whose fields are
 * declared in src/backend/kernels.ts; the TypeScript dispatcher has checked them already, and these
 * readers check again (types, integer ranges, lengths) so that no call can read or write out of bounds.
 */
class Fields {
 public:
  Fields(napi_env env, napi_callback_info info, const char* kernel) : env_(env), fn_(kernel) {
    size_t argc = 1;
    napi_value argv[1];
    napi_valuetype t;
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
        napi_typeof(env, argv[0], &t) != napi_ok || t != napi_object)
      fail(where() + "expects one argument object");
    obj_ = argv[0];
  }
  napi_env env() const { return env_; }
  std::string where() const { return std::string("lape_native.") + fn_ + ": "; }

  View<float> f32(const char* name) const { return typed<float>(get(name), name, napi_float32_array, "Float32Array"); }
  View<int32_t> i32(const char* name) const { return typed<int32_t>(get(name), name, napi_int32_array, "Int32Array"); }
  View<uint16_t> u16(const char* name) const { return typed<uint16_t>(get(name), name, napi_uint16_array, "Uint16Array"); }
  /** An optional buffer: empty when the field is null or undefined. */
  View<float> f32opt(const char* name) const {
    napi_value v = get(name);
    return nullish(v) ? View<float>{} : typed<float>(v, name, napi_float32_array, "Float32Array");
  }
  View<int32_t> i32opt(const char* name) const {
    napi_value v = get(name);
    return nullish(v) ? View<int32_t>{} : typed<int32_t>(v, name, napi_int32_array, "Int32Array");
  }
  bool has(const char* name) const { return !nullish(get(name)); }
  /** A float32 (Float32Array) or bfloat16 (Uint16Array) buffer. */
  FloatBuf floating(const char* name) const { return floatingOf(get(name), name); }

  double num(const char* name) const { return numberOf(get(name), name); }
  /** A non-negative integer below 2^48. */
  i64 size(const char* name) const { return sizeOf(get(name), name); }
  /** An integer of magnitude below 2^52. */
  i64 integer(const char* name) const { return integerOf(get(name), name); }
  bool flag(const char* name) const {
    bool b = false;
    if (napi_get_value_bool(env_, get(name), &b) != napi_ok) fail(where() + name + " must be a boolean");
    return b;
  }
  /** The index of the string field `name` in `table` (the addon exports each table as `enums`). */
  int choice(const char* name, const char* const* table, int count) const {
    char buf[32];
    size_t len = 0;
    if (napi_get_value_string_utf8(env_, get(name), buf, sizeof buf, &len) != napi_ok)
      fail(where() + name + " must be a string");
    for (int i = 0; i < count; i++)
      if (std::strcmp(buf, table[i]) == 0) return i;
    fail(where() + "unknown " + name + " '" + buf + "'");
  }
  /** An array of integers of at most `max` entries into `out`; returns its length. */
  int ints(const char* name, i64* out, int max) const { return intsOf(get(name), name, out, max); }

  /** A strided matrix operand {data, offset, strides[4]} (see MatrixView in src/backend/kernel.ts). */
  struct MatrixView {
    FloatBuf data;
    i64 offset = 0;
    i64 strides[4] = {0, 0, 0, 0};
  };
  MatrixView view(const char* name) const {
    napi_value o = get(name);
    napi_valuetype t;
    if (napi_typeof(env_, o, &t) != napi_ok || t != napi_object) fail(where() + name + " must be a matrix view");
    MatrixView mv;
    const std::string base = name;
    mv.data = floatingOf(prop(o, "data", name), (base + ".data").c_str());
    mv.offset = sizeOf(prop(o, "offset", name), (base + ".offset").c_str());
    if (intsOf(prop(o, "strides", name), (base + ".strides").c_str(), mv.strides, 4) != 4)
      fail(where() + name + ".strides must hold 4 integers");
    return mv;
  }

 private:
  napi_value get(const char* name) const { return prop(obj_, name, name); }
  napi_value prop(napi_value o, const char* key, const char* what) const {
    napi_value v;
    if (napi_get_named_property(env_, o, key, &v) != napi_ok) fail(where() + "cannot read " + what);
    return v;
  }
  bool nullish(napi_value v) const {
    napi_valuetype t;
    if (napi_typeof(env_, v, &t) != napi_ok) return true;
    return t == napi_null || t == napi_undefined;
  }
  double numberOf(napi_value v, const char* name) const {
    double d = 0;
    if (napi_get_value_double(env_, v, &d) != napi_ok) fail(where() + name + " must be a number");
    return d;
  }
  i64 sizeOf(napi_value v, const char* name) const {
    double d = numberOf(v, name);
    if (!(d >= 0) || d > 281474976710656.0 || std::floor(d) != d) fail(where() + name + " must be a non-negative integer");
    return static_cast<i64>(d);
  }
  i64 integerOf(napi_value v, const char* name) const {
    double d = numberOf(v, name);
    if (!(std::fabs(d) < 4.0e15) || std::floor(d) != d) fail(where() + name + " must be an integer");
    return static_cast<i64>(d);
  }
  int intsOf(napi_value v, const char* name, i64* out, int max) const {
    bool isArray = false;
    uint32_t len = 0;
    if (napi_is_array(env_, v, &isArray) != napi_ok || !isArray || napi_get_array_length(env_, v, &len) != napi_ok)
      fail(where() + name + " must be an array of integers");
    if (len > static_cast<uint32_t>(max)) fail(where() + name + " has more than " + std::to_string(max) + " entries");
    for (uint32_t i = 0; i < len; i++) {
      napi_value e;
      if (napi_get_element(env_, v, i, &e) != napi_ok) fail(where() + "cannot read " + name);
      out[i] = integerOf(e, name);
    }
    return static_cast<int>(len);
  }
  FloatBuf floatingOf(napi_value v, const char* name) const {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    bool isTyped = false;
    if (napi_is_typedarray(env_, v, &isTyped) != napi_ok || !isTyped ||
        napi_get_typedarray_info(env_, v, &type, &length, &data, nullptr, nullptr) != napi_ok ||
        (type != napi_float32_array && type != napi_uint16_array))
      fail(where() + name + " must be a Float32Array or a Uint16Array (bfloat16)");
    FloatBuf out;
    out.data = data;
    out.len = static_cast<i64>(length);
    out.type = type == napi_float32_array ? Float::F32 : Float::BF16;
    return out;
  }
  template <class T>
  View<T> typed(napi_value v, const char* name, napi_typedarray_type want, const char* wantName) const {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    bool isTyped = false;
    if (napi_is_typedarray(env_, v, &isTyped) != napi_ok || !isTyped ||
        napi_get_typedarray_info(env_, v, &type, &length, &data, nullptr, nullptr) != napi_ok || type != want)
      fail(where() + name + " must be a " + wantName);
    View<T> out;
    out.data = static_cast<T*>(data);
    out.len = static_cast<i64>(length);
    return out;
  }

  napi_env env_;
  const char* fn_;
  napi_value obj_ = nullptr;
};

/** a * b with overflow check (sizes are < 2^48, products checked against 2^62). */
inline i64 mul(i64 a, i64 b, const Fields& f) {
  i64 r;
  if (__builtin_mul_overflow(a, b, &r) || r > (i64(1) << 62)) fail(f.where() + "size overflow");
  return r;
}

inline void need(const FloatBuf& v, i64 n, const char* name, const Fields& f) {
  if (v.len < n)
    fail(f.where() + name + " has " + std::to_string(v.len) + " elements, needs at least " + std::to_string(n));
}

template <class T>
inline void need(const View<T>& v, i64 n, const char* name, const Fields& f) {
  if (v.len < n)
    fail(f.where() + name + " has " + std::to_string(v.len) + " elements, needs at least " + std::to_string(n));
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

/** The `signatures` and `enums` objects of the exports, created on first use. */
inline Napi::Object exportsTable(Napi::Env env, Napi::Object exports, const char* table) {
  if (!exports.Has(table)) exports.Set(table, Napi::Object::New(env));
  return exports.Get(table).As<Napi::Object>();
}

/**
 * Exports a kernel with the names of the fields it reads; the TypeScript loader compares them with
 * the kernel's declaration, so an addon built from other sources is refused at load, not mid-run.
 */
inline void exportKernel(Napi::Env env, Napi::Object exports, const char* name, napi_callback cb,
                         std::initializer_list<const char*> fields) {
  exportFn(env, exports, name, cb);
  Napi::Array list = Napi::Array::New(env, fields.size());
  uint32_t i = 0;
  for (const char* f : fields) list.Set(i++, Napi::String::New(env, f));
  exportsTable(env, exports, "signatures").Set(name, list);
}
#define LAPE_KERNEL(env, exports, name, fn, ...) \
  ::lape::exportKernel(env, exports, name, ::lape::Guard<fn>, __VA_ARGS__)

/** Exports a value table (op names, indexed by their code) as `enums[name]`. */
inline void exportEnum(Napi::Env env, Napi::Object exports, const char* name, const char* const* values, int count) {
  Napi::Array list = Napi::Array::New(env, count);
  for (int i = 0; i < count; i++) list.Set(static_cast<uint32_t>(i), Napi::String::New(env, values[i]));
  exportsTable(env, exports, "enums").Set(name, list);
}

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
void InitCast(Napi::Env env, Napi::Object exports);
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
