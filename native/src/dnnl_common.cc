#include "dnnl_common.h"

#include <cstdlib>
#include <new>
#include <stdexcept>

namespace lape {
namespace dnn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

std::mutex& lock() {
  static std::mutex m;
  return m;
}

std::string version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

namespace {
struct CacheRegistry {
  size_t capacity = 256;
  std::vector<std::function<void(size_t)>> resizers;
};
CacheRegistry& registry() {
  static CacheRegistry r = [] {
    CacheRegistry c;
    if (const char* env = std::getenv("LAPE_PRIMITIVE_CACHE_CAPACITY")) {
      const long v = std::strtol(env, nullptr, 10);
      if (v >= 1 && v <= 1 << 20) c.capacity = static_cast<size_t>(v);
    }
    return c;
  }();
  return r;
}
}  // namespace

size_t cacheCapacity() { return registry().capacity; }

void setCacheCapacity(size_t n) {
  CacheRegistry& r = registry();
  r.capacity = n < 1 ? 1 : n;
  for (auto& f : r.resizers) f(r.capacity);
}

size_t registerCache(std::function<void(size_t)> resize) {
  CacheRegistry& r = registry();
  r.resizers.push_back(std::move(resize));
  return r.capacity;
}

void* scratchpad(size_t bytes) {
  static void* p = nullptr;
  static size_t cap = 0;
  if (bytes > cap) {
    size_t want = (bytes + 4095) & ~size_t(4095);
    void* q = std::aligned_alloc(64, want);
    if (!q) throw std::bad_alloc();
    std::free(p);
    p = q;
    cap = want;
  }
  return p;
}

void execute(const dnnl::primitive& p, const Arg* args, int nargs) {
  dnnl_exec_arg_t a[16];
  if (nargs > 16) throw std::runtime_error("lape_native: too many primitive arguments");
  for (int i = 0; i < nargs; i++) {
    a[i].arg = args[i].kind;
    a[i].memory = args[i].mem->get();
  }
  dnnl_status_t st = dnnl_primitive_execute(p.get(), stream().get(), nargs, a);
  if (st != dnnl_success) throw std::runtime_error("lape_native: oneDNN primitive execution failed (status " + std::to_string(int(st)) + ")");
  st = dnnl_stream_wait(stream().get());
  if (st != dnnl_success) throw std::runtime_error("lape_native: oneDNN stream wait failed");
}

}  // namespace dnn
}  // namespace lape
