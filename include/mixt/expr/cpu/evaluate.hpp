// The CPU evaluation loop of a fused expression, split over the kernel thread pool above kGrain elements.
#pragma once

#include <algorithm>
#include <type_traits>

#include "../../core/dtype.hpp"
#include "../../core/thread_pool.hpp"
#include "../layout.hpp"
#include "packet.hpp"
#include "stream_store.hpp"

namespace mixt::expr::cpu {

inline constexpr int64_t kGrain = 1 << 15;

/// out[i] = Saver(out[i], plan(i)) over the whole layout; `out` is contiguous. Threads take ranges of the flat
/// index. A linear layout (every leaf contiguous: most evaluations) runs a plain loop; any other walks its range
/// row by row, moving the leaves' row offsets like an odometer and testing each leaf's inner stride per packet.
/// That test cost the memory-bound chains of bench_elementwise about a tenth of their speed on 2 threads, which
/// is why the linear loop exists, at the price of a second, short copy of each kernel's packet code (its last
/// partial packet goes through the general loop). A linear output larger than streaming_store_threshold() is
/// written with streaming stores (stream_store.hpp) by each range that starts at a packet-aligned address:
/// fresh arrays are 64-byte aligned, and so are the ranges of outputs whose size is a multiple of 16 per thread.
template <class Saver, class T, class Plan>
void run(const Plan& plan, T* out, const Extents& L) {
  using ET = compute_type_t<T>;
  constexpr int W = pk::packet<ET>::size;
  constexpr bool streamable = pk::can_stream<T> && std::is_same_v<T, ET> && !Saver::reads_dest;
  const int nd = L.ndim;
  const int64_t n = L.size(), inner = L.dims[nd - 1];
  if (n == 0) return;
  const bool big = streamable && L.linear && n * int64_t(sizeof(T)) > streaming_store_threshold();
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    Plan p = plan;
    if (L.linear) {  // every leaf contiguous: plain loads, no stride test per packet
      // A local copy: stores go through memcpy, which may alias anything, so `out` read through the capture
      // would be loaded again after every store.
      T* const dst = out;
      const bool stream = big && pk::until_aligned(dst + b) == 0;
      for (; b + W <= e; b += W) {
        auto v = p.template packet<true>(b);
        if constexpr (Saver::reads_dest) v = Saver::apply(pk::load<ET>(dst + b), v);
        if constexpr (streamable) {
          if (stream) {
            pk::stream(dst + b, v);
            continue;
          }
        }
        pk::store(dst + b, v);
      }
      if (stream) pk::stream_fence();
      if (b == e) return;  // else the general loop below takes the last few elements (a single row)
    }
    int64_t idx[kMaxDim] = {};
    int64_t j = b % inner;
    row_index(L, b, idx);
    for (int64_t i = b; i < e; j = 0) {
      p.set_row(idx);
      const int64_t stop = std::min(inner, j + (e - i));
      T* o = out + (i - j);
      for (; j + W <= stop; j += W) {
        auto v = p.template packet<false>(j);
        if constexpr (Saver::reads_dest) v = Saver::apply(pk::load<ET>(o + j), v);
        pk::store(o + j, v);
      }
      for (; j < stop; ++j) {
        ET v = p.row(j);
        if constexpr (Saver::reads_dest) v = Saver::apply(static_cast<ET>(o[j]), v);
        o[j] = static_cast<T>(v);
      }
      i = (o - out) + stop;
      next_row(L, idx);
    }
  });
}

}  // namespace mixt::expr::cpu
