// Host memory: 64-byte aligned blocks (one cache line, enough for any SIMD load) from a process-wide Pool.
#pragma once

#include <cstdlib>

#include "pool.hpp"

namespace mixt::memory {

struct CpuBackend {
  static constexpr size_t kAlignment = 64;
  void* allocate(size_t bytes) { return std::aligned_alloc(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment); }
  void deallocate(void* p, size_t) { std::free(p); }
  const char* name() const { return "cpu memory pool"; }
};

inline Pool<CpuBackend>& cpu_pool() {
  static auto* pool = new Pool<CpuBackend>();  // never destroyed: blocks may be returned during static destruction
  return *pool;
}

}  // namespace mixt::memory
