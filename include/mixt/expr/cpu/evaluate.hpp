// The CPU evaluation loop of a fused expression: a flat SIMD loop over a linear layout, otherwise one output row
// at a time with the leaves' row offsets updated like an odometer. Split over the kernel thread pool above
// kGrain elements.
#pragma once

#include "../../core/thread_pool.hpp"
#include "../layout.hpp"
#include "packet.hpp"

namespace mixt::expr::cpu {

inline constexpr int64_t kGrain = 1 << 15;

template <class Saver, class T, class Plan>
MIXT_INLINE void run_span(Plan& p, T* out, int64_t begin, int64_t end, int64_t out_base) {
  using ET = compute_type_t<T>;
  constexpr int W = pk::packet<ET>::size;
  int64_t j = begin;
  constexpr bool Linear = false;
  for (; j + W <= end; j += W) {
    auto v = p.template packet<Linear>(j);
    if constexpr (Saver::reads_dest) v = Saver::apply(pk::load<ET>(out + out_base + j), v);
    pk::store(out + out_base + j, v);
  }
  for (; j < end; ++j) {
    ET v = p.row(j);
    if constexpr (Saver::reads_dest) v = Saver::apply(static_cast<ET>(out[out_base + j]), v);
    out[out_base + j] = static_cast<T>(v);
  }
}

/// out[i] = Saver(out[i], plan(i)) over the whole layout. `out` is contiguous.
template <class Saver, class T, class Plan>
void run(const Plan& plan, T* out, const Layout& L) {
  using ET = compute_type_t<T>;
  constexpr int W = pk::packet<ET>::size;
  const int64_t n = L.size();
  if (L.linear) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
      const Plan p = plan;
      int64_t i = b;
      for (; i + W <= e; i += W) {
        auto v = p.template packet<true>(i);
        if constexpr (Saver::reads_dest) v = Saver::apply(pk::load<ET>(out + i), v);
        pk::store(out + i, v);
      }
      for (; i < e; ++i) {
        ET v = p.lin(i);
        if constexpr (Saver::reads_dest) v = Saver::apply(static_cast<ET>(out[i]), v);
        out[i] = static_cast<T>(v);
      }
    });
    return;
  }
  const int nd = L.ndim;
  const int64_t inner = L.dims[nd - 1];
  const int64_t rows = inner ? n / inner : 0;
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t rb, int64_t re) {
    Plan p = plan;
    int64_t idx[kMaxDim] = {};
    for (int64_t r = rb, d = nd - 2; d >= 0; --d) {  // the multi-index of row rb
      idx[d] = r % L.dims[d];
      r /= L.dims[d];
    }
    for (int64_t r = rb; r < re; ++r) {
      p.set_row(idx);
      run_span<Saver>(p, out, 0, inner, r * inner);
      for (int d = nd - 2; d >= 0; --d) {  // next row
        if (++idx[d] < L.dims[d]) break;
        idx[d] = 0;
      }
    }
  });
}

}  // namespace mixt::expr::cpu
