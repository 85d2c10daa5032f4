// Gradients of gathers (take, Embedding): many positions may read the same source row, so the gradient of that
// row is a sum over a group of positions. Rather than scanning every position for every row (O(rows x positions))
// or scattering with atomics (a different summation order each run), the positions are sorted stably by the row
// they read (ordering_ops.hpp's merge sort), and one thread per gradient element binary-searches its group and
// sums it in the positions' original order: O(log m + group) per element, the same result every run.
#pragma once

#include "ordering_ops.hpp"

namespace mixt::op::index_detail {

// Kernel-launching helpers are templates so that they, and their kernels for every dtype, are compiled only
// into programs that call them.
/// The positions 0..m-1 of `keys` (int64, m values) sorted stably by key: row 0 of the workspace (its first m
/// entries; see SortRowsKernel).
template <class = void>
NDArray group_by_key(const NDArray& keys, const char* op) {
  SortPlan sp;
  sp.flat = true;
  sp.s.n = keys.size();
  return sort_rows(keys, sp, true, op);
}

/// The first sorted position p in [0, m) with keys[sorted[p]] >= k (m when there is none).
MIXT_HD inline int64_t group_begin(const int64_t* keys, const int64_t* sorted, int64_t m, int64_t k) {
  int64_t lo = 0, hi = m;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (keys[sorted[mid]] < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

}  // namespace mixt::op::index_detail
