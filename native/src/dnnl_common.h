// oneDNN plumbing shared by the kernels that use it: one CPU engine and stream, a lock (the primitive
// caches and the shared scratchpad are not thread-safe), a grow-only scratchpad shared by every
// primitive (they all run on the calling thread, one at a time), and an allocation-free execute.
#pragma once

#include <dnnl.hpp>

#include <cstddef>
#include <mutex>
#include <string>

namespace lape {
namespace dnn {

dnnl::engine& engine();
dnnl::stream& stream();
std::mutex& lock();
std::string version();

/** Scratchpad of at least `bytes` bytes, 64-byte aligned. Valid until the next call. */
void* scratchpad(size_t bytes);

struct Arg {
  int kind;
  const dnnl::memory* mem;
};

/** Executes `p` with the given arguments through the C API (no std::unordered_map per call). */
void execute(const dnnl::primitive& p, const Arg* args, int nargs);

/** A memory object without a handle, to be pointed at user data with set_data_handle per call. */
inline dnnl::memory unbound(const dnnl::memory::desc& md) { return dnnl::memory(md, engine(), DNNL_MEMORY_NONE); }

/** Primitive attributes with a user-managed scratchpad. */
inline dnnl::primitive_attr userScratchpadAttr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

/** Scratchpad memory for a primitive descriptor (empty when it needs none). */
struct ScratchMem {
  dnnl::memory mem;
  size_t bytes = 0;
  void init(const dnnl::memory::desc& md) {
    bytes = md.get_size();
    if (bytes) mem = unbound(md);
  }
  /** Points the memory at the shared scratchpad; returns whether it should be passed. */
  bool bind() {
    if (!bytes) return false;
    mem.set_data_handle(scratchpad(bytes));
    return true;
  }
};

}  // namespace dnn
}  // namespace lape
