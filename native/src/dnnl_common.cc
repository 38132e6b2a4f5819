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
