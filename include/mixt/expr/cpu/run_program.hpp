// The CPU loop of a program (program_plan.hpp): cpu::run's walk over the layout, a chunk of a row at a time.
#pragma once

#include <algorithm>

#include "../../core/thread_pool.hpp"
#include "../layout.hpp"
#include "../program_plan.hpp"
#include "evaluate.hpp"

namespace mixt::expr::cpu {

/// out[i] = Saver(out[i], program(i)) over the whole layout; `out` is contiguous.
template <class Saver, class T, class S, class ET>
void run_program(const ProgramPlan<S, ET>& plan, T* out, const Extents& L) {
  using Plan = ProgramPlan<S, ET>;
  constexpr int W = Plan::W, C = Plan::kChunk;
  const int nd = L.ndim;
  const int64_t n = L.size(), inner = L.dims[nd - 1];
  if (n == 0) return;
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    Plan p = plan;
    alignas(64) ET r[kProgramMaxSlots][C];
    p.fill_constants(r);
    auto store = [&](T* o, int m) {  // o[0, m) from the output register
      const ET* v = r[p.out_slot];
      int q = 0;
      for (; q + W <= m; q += W) {
        auto x = pk::load<ET>(v + q);
        if constexpr (Saver::reads_dest) x = Saver::apply(pk::load<ET>(o + q), x);
        pk::store(o + q, x);
      }
      for (; q < m; ++q) {
        ET x = v[q];
        if constexpr (Saver::reads_dest) x = Saver::apply(static_cast<ET>(o[q]), x);
        o[q] = static_cast<T>(x);
      }
    };
    if (L.linear) {
      for (int64_t c = b; c < e; c += C) {
        const int m = int(std::min<int64_t>(C, e - c));
        p.run_chunk(r, c, m, true);
        store(out + c, m);
      }
      return;
    }
    int64_t idx[kMaxDim] = {};
    int64_t j = b % inner;
    row_index(L, b, idx);
    for (int64_t i = b; i < e; j = 0) {
      p.set_row(idx);
      const int64_t stop = std::min(inner, j + (e - i));
      T* o = out + (i - j);
      for (; j < stop; j += C) {
        const int m = int(std::min<int64_t>(C, stop - j));
        p.run_chunk(r, j, m, false);
        store(o + j, m);
      }
      i = (o - out) + stop;
      next_row(L, idx);
    }
  });
}

}  // namespace mixt::expr::cpu
