// Host memory: 64-byte aligned blocks (one cache line, enough for any SIMD load) from a process-wide Pool.
//
// Huge pages (opt-in, Linux): with MIXT_HUGE_PAGES=1 in the environment, or after set_huge_pages(true), blocks
// of 2 MiB and more are 2 MiB-aligned and advised MADV_HUGEPAGE, so that the kernel backs them with transparent
// huge pages where it has them (a hint: nothing changes where THP is off). One TLB entry then covers 2 MiB
// instead of 4 KiB: sums over 2^24 float32 read 1.14 - 1.43x as fast (benchmarks/RESULTS.md). Off by
// default, as in PyTorch (THP_MEM_ALLOC_ENABLE): under the kernel's default defrag policy a fault in such a block
// compacts memory until it finds a huge page, and on a fragmented machine the first touch of a 64 MiB block took
// 220 ms instead of 30. The pool keeps its blocks, so that cost comes once per block.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "pool.hpp"

namespace mixt::memory {

/// Whether new host blocks of 2 MiB and more ask for huge pages (MIXT_HUGE_PAGES=1 at first use, else off).
inline std::atomic<bool>& huge_pages_wanted() {
  static std::atomic<bool> wanted{[] {
    const char* e = std::getenv("MIXT_HUGE_PAGES");
    return e && std::strcmp(e, "1") == 0;
  }()};
  return wanted;
}

struct CpuBackend {
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kHugePage = size_t(1) << 21;
  void* allocate(size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= kHugePage && huge_pages_wanted().load(std::memory_order_relaxed)) {
      const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
      void* p = std::aligned_alloc(kHugePage, rounded);
      if (p) madvise(p, rounded, MADV_HUGEPAGE);  // a hint: its failure (no THP in this kernel) changes nothing
      return p;
    }
#endif
    return std::aligned_alloc(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  }
  void deallocate(void* p, size_t) { std::free(p); }
  const char* name() const { return "cpu memory pool"; }
};

inline Pool<CpuBackend>& cpu_pool() {
  static auto* pool = new Pool<CpuBackend>();  // never destroyed: blocks may be returned during static destruction
  return *pool;
}

}  // namespace mixt::memory

namespace mixt {
/// Asks for transparent huge pages for host blocks of 2 MiB and more allocated from now on (memory/cpu_allocator.hpp:
/// opt-in, Linux only). Blocks already cached by the pool keep their pages.
inline void set_huge_pages(bool on) { memory::huge_pages_wanted().store(on, std::memory_order_relaxed); }
}  // namespace mixt
