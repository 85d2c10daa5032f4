// Streaming (non-temporal) stores for large outputs of the CPU evaluator (cpu/evaluate.hpp). A normal store
// first reads the cache line it writes (write-allocate), so an output costs two passes over memory; a streaming
// store writes the line without reading it. An output far larger than the caches would not stay there for its
// reader anyway, so it is written with streaming stores. Over 2^24 floats on the AMD Zen 5 VM (both ways timed
// in turn in one process): the chains (a + b) / 10 * c - d and (a + b) / 10 * sigmoid(c) - d ran 4 - 26% faster
// on one thread and 7 - 17% on two; their unfused forms, which write four arrays, 6 - 50%. Eigen, mshadow and
// LibTorch store normally; glibc's memcpy streams above a fraction of the last-level cache.
//
// Choice: outputs of more than streaming_store_threshold() bytes (default 16 MiB: even a one-input operation
// then touches 32 MiB, the whole last-level cache of today's 2-core machines) are streamed, when every leaf is
// read contiguously and the output is only written (`=`, not `+=`), by each thread's range that starts at a
// packet-aligned address (cpu/evaluate.hpp). set_streaming_store_threshold() changes it; -1 streams every such
// output (tests), INT64_MAX none. x86 only (SSE2, AVX, AVX-512 packets of float and double); elsewhere stores
// stay normal.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

#include "packet.hpp"

namespace mixt {

namespace detail {
inline std::atomic<int64_t>& streaming_store_bytes() {
  static std::atomic<int64_t> bytes{int64_t(16) << 20};  // constant-initialized: no guard
  return bytes;
}
}  // namespace detail

/// Outputs of more than this many bytes are written with streaming stores (see the top of this file).
inline int64_t streaming_store_threshold() { return detail::streaming_store_bytes().load(std::memory_order_relaxed); }
/// Sets that threshold: -1 streams every eligible output, INT64_MAX none.
inline void set_streaming_store_threshold(int64_t bytes) {
  detail::streaming_store_bytes().store(bytes, std::memory_order_relaxed);
}

}  // namespace mixt

namespace mixt::pk {

/// Whether outputs stored as T can be streamed on this target.
template <class T>
inline constexpr bool can_stream =
#if defined(__x86_64__) || defined(__i386__)
    (std::is_same_v<T, float> || std::is_same_v<T, double>) && packet<T>::size > 1;
#else
    false;
#endif

/// Elements from p to the next packet-aligned address (streaming stores need aligned addresses).
template <class T>
inline int64_t until_aligned(const T* p) {
  return int64_t((-reinterpret_cast<uintptr_t>(p)) & uintptr_t(kPacketBytes - 1)) / int64_t(sizeof(T));
}

/// Writes a packet to a packet-aligned address without reading its cache line first (can_stream<T> only).
template <class T>
MIXT_INLINE void stream(T* p, packet_t<T> v) {
#if defined(__clang__)
  __builtin_nontemporal_store(v, reinterpret_cast<packet_t<T>*>(p));
#elif defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) __builtin_ia32_movntps512(p, v);
  else __builtin_ia32_movntpd512(p, v);
#elif defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) __builtin_ia32_movntps256(p, v);
  else __builtin_ia32_movntpd256(p, v);
#elif defined(__x86_64__) || defined(__i386__)
  if constexpr (std::is_same_v<T, float>) __builtin_ia32_movntps(p, v);
  else __builtin_ia32_movntpd(p, v);
#endif
}

/// Orders the streaming stores before what follows (they are weakly ordered): before a part of a loop reports
/// itself done.
MIXT_INLINE void stream_fence() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_sfence();
#endif
}

}  // namespace mixt::pk
