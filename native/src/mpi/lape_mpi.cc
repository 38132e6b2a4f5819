// lape_mpi: the MPI binding of lape's data-parallel training (see src/dist/mpi.ts for the JavaScript
// side). A separate addon from the kernels, built only when Open MPI is installed, so lape builds and
// runs without it.
//
// Every function is called from the main JavaScript thread only (MPI_THREAD_FUNNELED); collectives
// are blocking and work in place on typed arrays.
#include <dlfcn.h>
#include <mpi.h>
#include <napi.h>

#include <climits>
#include <cstdint>
#include <string>

namespace {

using i64 = int64_t;

struct State {
  bool initialized = false;
  int rank = 0;
  int size = 1;
  int localRank = 0;
  int localSize = 1;
  std::string host;
  std::string library;
};

State state;

[[noreturn]] void fail(Napi::Env env, const std::string& msg) {
  throw Napi::Error::New(env, "lape_mpi: " + msg);
}

void check(Napi::Env env, int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail(env, std::string(what) + " failed: " + std::string(text, len));
}

void requireInit(Napi::Env env, const char* what) {
  int fin = 0;
  MPI_Finalized(&fin);
  if (!state.initialized || fin) fail(env, std::string(what) + ": MPI is not initialized (call init() first)");
}

// Open MPI loads its transport components as plug-ins that resolve symbols of libmpi itself. Node
// loads this addon (and with it libmpi) with RTLD_LOCAL, which hides those symbols from the plug-ins;
// re-opening libmpi with RTLD_GLOBAL makes them visible (what mpi4py does too).
void promoteLibmpi() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &info) != 0 && info.dli_fname != nullptr) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  }
}

struct Buffer {
  void* data;
  i64 length;  // elements
  MPI_Datatype type;
  int elementSize;
};

Buffer bufferOf(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray()) fail(env, std::string(what) + ": expected a typed array");
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  auto* base = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  switch (t.TypedArrayType()) {
    case napi_float32_array: return {base, static_cast<i64>(t.ElementLength()), MPI_FLOAT, 4};
    case napi_float64_array: return {base, static_cast<i64>(t.ElementLength()), MPI_DOUBLE, 8};
    case napi_int32_array: return {base, static_cast<i64>(t.ElementLength()), MPI_INT, 4};
    case napi_uint8_array: return {base, static_cast<i64>(t.ElementLength()), MPI_BYTE, 1};
    default: fail(env, std::string(what) + ": expected a Float32Array, Float64Array, Int32Array or Uint8Array");
  }
}

MPI_Op opOf(Napi::Env env, const Napi::Value& v) {
  const std::string name = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string("sum");
  if (name == "sum") return MPI_SUM;
  if (name == "max") return MPI_MAX;
  if (name == "min") return MPI_MIN;
  fail(env, "reduction must be 'sum', 'max' or 'min', got '" + name + "'");
}

// The largest chunk one MPI call moves: counts are C ints.
constexpr i64 kChunk = 1 << 30;

Napi::Object Info(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", state.rank);
  o.Set("size", state.size);
  o.Set("localRank", state.localRank);
  o.Set("localSize", state.localSize);
  o.Set("host", state.host);
  o.Set("library", state.library);
  return o;
}

// init() -> { rank, size, localRank, localSize, host, library }; idempotent.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state.initialized) return Info(env);
  int fin = 0;
  MPI_Finalized(&fin);
  if (fin) fail(env, "init: MPI was already finalized in this process");
  promoteLibmpi();
  int provided = 0;
  check(env, MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  state.initialized = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &state.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &state.size);
  MPI_Comm local;
  check(env, MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, state.rank, MPI_INFO_NULL, &local),
        "MPI_Comm_split_type");
  MPI_Comm_rank(local, &state.localRank);
  MPI_Comm_size(local, &state.localSize);
  MPI_Comm_free(&local);
  char host[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(host, &len);
  state.host.assign(host, len);
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  MPI_Get_library_version(lib, &len);
  std::string l(lib, len);
  state.library = l.substr(0, l.find_first_of(",\n"));
  return Info(env);
}

// allreduce(array, op = 'sum'): in place, every rank gets the result.
Napi::Value Allreduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env, "allreduce");
  Buffer b = bufferOf(env, info[0], "allreduce");
  if (b.type == MPI_BYTE) fail(env, "allreduce: bytes cannot be reduced");
  MPI_Op op = opOf(env, info[1]);
  auto* p = static_cast<uint8_t*>(b.data);
  for (i64 off = 0; off < b.length; off += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, b.length - off));
    check(env, MPI_Allreduce(MPI_IN_PLACE, p + off * b.elementSize, n, b.type, op, MPI_COMM_WORLD),
          "MPI_Allreduce");
  }
  return env.Undefined();
}

// broadcast(array, root): rank `root`'s contents replace everyone else's (any typed array, as bytes).
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env, "broadcast");
  Buffer b = bufferOf(env, info[0], "broadcast");
  const int root = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (root < 0 || root >= state.size) fail(env, "broadcast: root " + std::to_string(root) + " is not a rank");
  const i64 bytes = b.length * b.elementSize;
  auto* p = static_cast<uint8_t*>(b.data);
  for (i64 off = 0; off < bytes; off += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, bytes - off));
    check(env, MPI_Bcast(p + off, n, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  return env.Undefined();
}

// allgather(bytes) -> Uint8Array of size * bytes.length: rank r's bytes at offset r * bytes.length.
// Every rank must pass the same length.
Napi::Value Allgather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env, "allgather");
  Buffer b = bufferOf(env, info[0], "allgather");
  if (b.type != MPI_BYTE) fail(env, "allgather: expected a Uint8Array");
  if (b.length * state.size > INT_MAX) fail(env, "allgather: at most 2^31-1 bytes in all");
  Napi::Uint8Array out = Napi::Uint8Array::New(env, static_cast<size_t>(b.length * state.size));
  check(env,
        MPI_Allgather(b.data, static_cast<int>(b.length), MPI_BYTE, out.Data(), static_cast<int>(b.length),
                      MPI_BYTE, MPI_COMM_WORLD),
        "MPI_Allgather");
  return out;
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env, "barrier");
  check(env, MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  return env.Undefined();
}

// abort(code): ends every rank of the job at once (used when one rank fails on its own).
Napi::Value Abort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env, "abort");
  const int code = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  MPI_Abort(MPI_COMM_WORLD, code);
  return env.Undefined();
}

// finalize(): collective; call it on every rank before exiting normally. Idempotent.
Napi::Value Finalize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fin = 0;
  MPI_Finalized(&fin);
  if (!state.initialized || fin) return env.Undefined();
  check(env, MPI_Finalize(), "MPI_Finalize");
  return env.Undefined();
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("allreduce", Napi::Function::New(env, Allreduce, "allreduce"));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast, "broadcast"));
  exports.Set("allgather", Napi::Function::New(env, Allgather, "allgather"));
  exports.Set("barrier", Napi::Function::New(env, Barrier, "barrier"));
  exports.Set("abort", Napi::Function::New(env, Abort, "abort"));
  exports.Set("finalize", Napi::Function::New(env, Finalize, "finalize"));
  return exports;
}

}  // namespace

NODE_API_MODULE(lape_mpi, Module)
