// oneDNN plumbing shared by the kernels that use it: one CPU engine and stream, a lock (the primitive
// caches and the shared scratchpad are not thread-safe), a grow-only scratchpad shared by every
// primitive (they all run on the calling thread, one at a time), an allocation-free execute, bounded
// (LRU) primitive caches, and the few calls whose form differs between oneDNN 2.x and 3.x.
#pragma once

#include <dnnl.hpp>

#include "common.h"

#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#if !defined(DNNL_VERSION_MAJOR) || DNNL_VERSION_MAJOR < 2 || (DNNL_VERSION_MAJOR == 2 && DNNL_VERSION_MINOR < 3)
#error "lape needs oneDNN 2.3 or newer (Debian/Ubuntu: apt-get install libdnnl-dev)"
#endif

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

/** oneDNN's data type of a floating-point buffer. */
inline dnnl::memory::data_type dataType(Float t) {
  return t == Float::BF16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

// ---- oneDNN 2.x / 3.x ---------------------------------------------------------------------------

/** Matmul primitive descriptor for src [.., m, k] x weights [.., k, n] -> dst, with an optional bias. */
inline dnnl::matmul::primitive_desc matmulDesc(const dnnl::memory::desc& a, const dnnl::memory::desc& b,
                                               const dnnl::memory::desc* bias, const dnnl::memory::desc& c,
                                               const dnnl::primitive_attr& attr) {
  try {
#if DNNL_VERSION_MAJOR >= 3
    return bias ? dnnl::matmul::primitive_desc(engine(), a, b, *bias, c, attr)
                : dnnl::matmul::primitive_desc(engine(), a, b, c, attr);
#else
    return bias ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, *bias, c), attr, engine())
                : dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), attr, engine());
#endif
  } catch (const dnnl::error& e) {
    // oneDNN has no bfloat16 GEMM below AVX-512: say so instead of oneDNN's generic message.
#if DNNL_VERSION_MAJOR >= 3
    const dnnl::memory::data_type in = a.get_data_type();
#else
    const dnnl::memory::data_type in = a.data_type();
#endif
    if (in == dnnl::memory::data_type::bf16)
      fail(std::string("bfloat16 matmul is not available on this CPU (oneDNN: ") + e.what() +
           "); autocast needs AVX-512 here: check bf16Support() or ampAvailable() first (the CLI's --amp falls back to float32)");
    throw;
  }
}

/**
 * A product scale (GEMM's alpha) given at execution time. oneDNN 2 scales the output (bias included);
 * oneDNN 3 scales the weights' contribution and adds the bias unscaled.
 */
inline void setRuntimeAlpha(dnnl::primitive_attr& attr) {
#if DNNL_VERSION_MAJOR >= 3
  attr.set_scales_mask(DNNL_ARG_WEIGHTS, 0);
#else
  attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
#endif
}
#if DNNL_VERSION_MAJOR >= 3
constexpr int kAlphaArg = DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS;
constexpr bool kAlphaScalesBias = false;
#else
constexpr int kAlphaArg = DNNL_ARG_ATTR_OUTPUT_SCALES;
constexpr bool kAlphaScalesBias = true;
#endif

// ---- bounded primitive caches ---------------------------------------------------------------------

/** Entries each primitive cache keeps (least recently used evicted first); settable at run time. */
size_t cacheCapacity();
void setCacheCapacity(size_t n);
/** Called by each cache to be told of capacity changes; returns the current capacity. */
size_t registerCache(std::function<void(size_t)> resize);

/**
 * A least-recently-used map from a primitive's problem to the primitive and its bound memories. Used
 * under dnn::lock(); a returned reference stays valid until the next insert into the same cache.
 */
template <class Key, class Value, class Hash>
class LruCache {
 public:
  LruCache() {
    capacity_ = registerCache([this](size_t n) {
      capacity_ = n;
      trim();
    });
  }
  Value* find(const Key& k) {
    auto it = index_.find(k);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }
  Value& insert(const Key& k, Value&& v) {
    order_.emplace_front(k, std::move(v));
    index_[k] = order_.begin();
    trim();
    return order_.front().second;
  }
  size_t size() const { return index_.size(); }

 private:
  void trim() {
    while (index_.size() > capacity_ && index_.size() > 1) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }
  std::list<std::pair<Key, Value>> order_;
  std::unordered_map<Key, typename std::list<std::pair<Key, Value>>::iterator, Hash> index_;
  size_t capacity_ = 0;
};

}  // namespace dnn

/** Entries in the matmul primitive caches (diagnostics and the cache-bound test). */
size_t matmulCacheSize();
size_t matmulStridedCacheSize();

}  // namespace lape
