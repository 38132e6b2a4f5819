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

// setThreads(n): OpenMP threads for both oneDNN and the own kernels (one shared pool).
napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args args(env, info, "setThreads");
  const i64 n = args.positive(0, "n");
  omp_set_num_threads(static_cast<int>(std::min<i64>(n, 1024)));
  return nullptr;
}

// noop(a): call-overhead probe (reads one Float32Array like every kernel does).
napi_value Noop(napi_env env, napi_callback_info info) {
  Args args(env, info, "noop");
  View<float> a = args.f32(0, "a");
  (void)a;
  return nullptr;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  LAPE_EXPORT(env, exports, "info", Info);
  LAPE_EXPORT(env, exports, "setThreads", SetThreads);
  LAPE_EXPORT(env, exports, "noop", Noop);
  InitMatmul(env, exports);
  InitMatmulStrided(env, exports);
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
