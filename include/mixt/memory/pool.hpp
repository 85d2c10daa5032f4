// A caching allocator shared by every device: freed blocks go to a free list keyed by their rounded size and
// are handed out again for the next request of that size class.
//
// Size classes: requests round up to a multiple of 256 bytes up to 1 MiB, to a power of two up to 32 MiB, and to
// a multiple of 4 MiB beyond. On an allocation failure the pool first asks its reclaim hook (if any) to return
// blocks that are only waiting for in-flight work (the GPU engine's stream-ordered frees), releases its cache and
// retries once, then raises a mixt::Error with the size asked for and the bytes in use (MXNet's GPU pool behaves
// the same way).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <new>

#include "../core/error.hpp"
#include "free_lists.hpp"

namespace mixt::memory {

/// Backend concept: `void* allocate(size_t)` (nullptr on failure), `void deallocate(void*, size_t)`,
/// `const char* name()`.
template <class Backend>
class Pool {
 public:
  static constexpr size_t kMaxBytes = size_t(1) << 62;

  explicit Pool(Backend backend = {}) : backend_(std::move(backend)) {}
  ~Pool() { release_cache(); }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// Returns a block of at least `bytes` bytes; nullptr for 0 bytes.
  void* allocate(size_t bytes) {
    if (bytes == 0) return nullptr;
    // No memory is this large, and rounding a size near 2^64 up (here or in a backend) would wrap to a tiny block.
    if (bytes > kMaxBytes)
      detail::fail(backend_.name(), "out of memory: ", bytes, " bytes requested, more than the ", kMaxBytes,
                   " any allocation can have");
    size_t rounded = round_size(bytes);
    std::unique_lock<std::mutex> lk(m_);
    if (void* p = take_cached_locked(rounded)) return p;
    void* p = backend_.allocate(rounded);
    if (!p) {
      if (reclaim_) {  // outside the lock: the blocks it returns come back through deallocate()
        std::function<void()> reclaim = reclaim_;
        lk.unlock();
        reclaim();
        lk.lock();
        if (void* q = take_cached_locked(rounded)) return q;
      }
      release_cache_locked();
      p = backend_.allocate(rounded);
    }
    if (!p)
      detail::fail(backend_.name(), "out of memory: ", bytes, " bytes requested (", rounded, " rounded) while ",
                   in_use_, " bytes are in use");
    in_use_ += rounded;
    return p;
  }

  /// Returns a block to the cache. `bytes` is the size that was asked for.
  void deallocate(void* p, size_t bytes) {
    if (!p) return;
    size_t rounded = round_size(bytes);
    std::lock_guard<std::mutex> lk(m_);
    in_use_ -= rounded;
    if (free_.push(rounded, p))
      cached_ += rounded;
    else  // no host memory left to remember it: give it back
      backend_.deallocate(p, rounded);
  }

  /// Sets what an allocation failure calls, before the retry, to get back blocks held by pending work.
  void set_reclaim(std::function<void()> reclaim) {
    std::lock_guard<std::mutex> lk(m_);
    reclaim_ = std::move(reclaim);
  }

  /// Gives every cached block back to the device.
  void release_cache() {
    std::lock_guard<std::mutex> lk(m_);
    release_cache_locked();
  }

  /// Bytes handed out and not yet returned (in rounded sizes).
  size_t bytes_in_use() const {
    std::lock_guard<std::mutex> lk(m_);
    return in_use_;
  }
  /// Bytes held in the cache, ready for reuse.
  size_t bytes_cached() const {
    std::lock_guard<std::mutex> lk(m_);
    return cached_;
  }

  static size_t round_size(size_t bytes) {
    constexpr size_t kSmall = 1 << 20, kMedium = size_t(32) << 20, kLargeStep = size_t(4) << 20;
    if (bytes <= kSmall) return (bytes + 255) & ~size_t(255);
    if (bytes <= kMedium) {
      size_t p = kSmall;
      while (p < bytes) p <<= 1;
      return p;
    }
    return (bytes + kLargeStep - 1) / kLargeStep * kLargeStep;
  }

 private:
  void* take_cached_locked(size_t rounded) {
    void* p = free_.pop(rounded);
    if (!p) return nullptr;
    cached_ -= rounded;
    in_use_ += rounded;
    return p;
  }

  void release_cache_locked() {
    free_.clear([](void* backend, void* p, size_t size) { static_cast<Backend*>(backend)->deallocate(p, size); },
                &backend_);
    cached_ = 0;
  }

  Backend backend_;
  mutable std::mutex m_;
  FreeLists free_;
  std::function<void()> reclaim_;
  size_t in_use_ = 0, cached_ = 0;
};

}  // namespace mixt::memory
