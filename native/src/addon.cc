// lape_native: the native kernels of lape's `native` backend (see src/backend/backend.ts for the
// contract and src/backend/native/native_backend.ts for the JavaScript side).
#include "common.h"
#include "dnnl_common.h"

namespace lape {
namespace {

const char* isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

// info() -> { threads, dnnlVersion, isa }
napi_value Info(napi_env env, napi_callback_info) {
  Napi::Env e(env);
  Napi::Object o = Napi::Object::New(e);
  o.Set("threads", Napi::Number::New(e, omp_get_max_threads()));
  o.Set("dnnlVersion", Napi::String::New(e, dnn::version()));
  o.Set("isa", Napi::String::New(e, isaName(dnnl::get_effective_cpu_isa())));
  return o;
}

/** The single positive integer argument of a setter. */
i64 positiveArg(napi_env env, napi_callback_info info, const char* fn) {
  size_t argc = 1;
  napi_value argv[1];
  double v = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 1 ||
      napi_get_value_double(env, argv[0], &v) != napi_ok || !(v >= 1 && v <= 1048576) || std::floor(v) != v)
    fail(std::string("lape_native.") + fn + ": expects an integer in [1, 1048576]");
  return static_cast<i64>(v);
}

// setThreads(n): OpenMP threads for both oneDNN and the own kernels (one shared pool).
napi_value SetThreads(napi_env env, napi_callback_info info) {
  omp_set_num_threads(static_cast<int>(std::min<i64>(positiveArg(env, info, "setThreads"), 1024)));
  return nullptr;
}

// noop({x}): call-overhead probe (reads one Float32Array field like every kernel does).
napi_value Noop(napi_env env, napi_callback_info info) {
  Fields f(env, info, "noop");
  (void)f.f32("x");
  return nullptr;
}

// primitiveCache() -> { matmul, matmulStrided, capacity }: oneDNN primitives cached per problem.
napi_value PrimitiveCache(napi_env env, napi_callback_info) {
  Napi::Env e(env);
  Napi::Object o = Napi::Object::New(e);
  o.Set("matmul", Napi::Number::New(e, static_cast<double>(matmulCacheSize())));
  o.Set("matmulStrided", Napi::Number::New(e, static_cast<double>(matmulStridedCacheSize())));
  o.Set("capacity", Napi::Number::New(e, static_cast<double>(dnn::cacheCapacity())));
  return o;
}

// setPrimitiveCacheCapacity(n): entries each primitive cache keeps (least recently used go first).
napi_value SetPrimitiveCacheCapacity(napi_env env, napi_callback_info info) {
  const i64 n = positiveArg(env, info, "setPrimitiveCacheCapacity");
  std::lock_guard<std::mutex> guard(dnn::lock());
  dnn::setCacheCapacity(static_cast<size_t>(n));
  return nullptr;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  LAPE_EXPORT(env, exports, "info", Info);
  LAPE_EXPORT(env, exports, "setThreads", SetThreads);
  LAPE_EXPORT(env, exports, "noop", Noop);
  LAPE_EXPORT(env, exports, "primitiveCache", PrimitiveCache);
  LAPE_EXPORT(env, exports, "setPrimitiveCacheCapacity", SetPrimitiveCacheCapacity);
  InitMatmul(env, exports);
  InitMatmulStrided(env, exports);
  InitCast(env, exports);
  InitEltwise(env, exports);
  InitBinary(env, exports);
  InitReduce(env, exports);
  InitCopy(env, exports);
  InitSoftmax(env, exports);
  InitLayerNorm(env, exports);
  InitDropout(env, exports);
  InitConv(env, exports);
  InitGather(env, exports);
  InitOptim(env, exports);
  return exports;
}

}  // namespace
}  // namespace lape

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return lape::Init(env, exports); }

NODE_API_MODULE(lape_native, InitModule)
