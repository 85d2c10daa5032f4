// The CPU reduction kernel. The expression under the reduction is evaluated inside the loop through its plan
// (no temporary array), over the index space of expr/reducers.hpp: output o = (o1, o2), element (o1, r, o2) at
// flat position (o1 * R + r) * inner + o2 of the plan's layout. Two loops cover every case:
//   runs (inner == 1: reduce-all, trailing axes, and the general case after the permutation): each output folds
//     one flat run of R elements, SIMD packets into four independent accumulators;
//   rows (inner > 1: leading axes, e.g. sum over axis 0 of (N, C)): each reduced position contributes a row of
//     `inner` values, folded into an accumulator row.
// Accuracy: values are folded in blocks (kReduceBlock elements, or kReduceRows rows) and the block results
// combined pairwise (Cascade), so the rounding error grows with log(n), not n: float32 sums of 2^24 elements
// stay within ~1e-6 of the exact sum (measured: 1e-8 for uniform values, 7e-7 for 10^7 copies of 0.1f). Big runs
// are split over the thread pool and the parts combined in order.
// Compile time: only the folds read the plan; the scheduling, the cascades and the output stores see it through
// a Folder (function pointers) and are compiled once per reducer and dtype, not once per expression (the
// training example instantiates sum over four expressions: about 2,000 optimized lines each saved).
#pragma once

#include <algorithm>
#include <bit>
#include <type_traits>
#include <vector>

#include "../../core/thread_pool.hpp"
#include "../reducers.hpp"
#include "packet.hpp"

namespace mixt::expr::cpu {

/// Flat elements folded in registers before the cascade: 64 sequential additions per float lane whatever the
/// SIMD width (4096 floats with AVX-512; a fixed 4096 gave SSE builds 256 per lane and a 2.4e-6 relative error
/// on 10^7 copies of 0.1f; now 5e-7 with SSE and AVX2, 7e-7 with AVX-512).
inline constexpr int64_t kReduceBlock = 64 * pk::kPacketBytes;
inline constexpr int64_t kReduceRows = 256;    ///< rows folded into an accumulator row before the cascade
inline constexpr int64_t kReduceGrain = 1 << 15;  ///< elements per thread, at least

template <class Red, class ET> using acc_t = typename Red::template acc_t<ET>;

/// Pairwise combination of a stream of partial results: a binary counter whose level l holds the result of 2^l
/// consecutive pushes.
template <class Red, class ET>
struct Cascade {
  using Acc = acc_t<Red, ET>;
  Acc level[64];
  uint64_t count = 0;

  void push(Acc x) {
    int l = 0;
    for (uint64_t c = count; c & 1; c >>= 1, ++l) x = Red::merge(level[l], x);
    level[l] = x;
    ++count;
  }
  Acc total() const {
    Acc t = Red::template init<ET>();
    for (int l = int(std::bit_width(count)) - 1; l >= 0; --l)  // the highest level holds the earliest values
      if ((count >> l) & 1) t = Red::merge(t, level[l]);
    return t;
  }
};

/// The same for rows of n partial results.
template <class Red, class ET>
struct RowCascade {
  using Acc = acc_t<Red, ET>;
  std::vector<std::vector<Acc>> level;
  uint64_t count = 0;

  /// Takes x's contents; x is left with some other buffer, to be refilled by the caller.
  void push(std::vector<Acc>& x) {
    size_t l = 0;
    for (uint64_t c = count; c & 1; c >>= 1, ++l)
      for (size_t i = 0; i < x.size(); ++i) x[i] = Red::merge(level[l][i], x[i]);
    if (level.size() <= l) level.resize(l + 1);
    std::swap(level[l], x);
    ++count;
  }
  void total(Acc* out, int64_t n) const {
    std::fill(out, out + n, Red::template init<ET>());
    for (size_t l = level.size(); l-- > 0;)
      if ((count >> l) & 1)
        for (int64_t i = 0; i < n; ++i) out[i] = Red::merge(out[i], level[l][size_t(i)]);
  }
};

/// Walks a flat range of a layout as segments of its rows: next() points the plan at the current row and returns
/// the segment [jb, je) of it.
struct RowCursor {
  const Extents* L;
  int64_t idx[kMaxDim] = {};
  int64_t j = 0;

  RowCursor(const Extents& layout, int64_t flat) : L(&layout) {
    j = flat % L->dims[L->ndim - 1];
    row_index(layout, flat, idx);
  }
  template <class Plan>
  MIXT_INLINE void next(Plan& p, int64_t remaining, int64_t& jb, int64_t& je) {
    const int nd = L->ndim;
    const int64_t inner = L->dims[nd - 1];
    p.set_row(idx);
    jb = j;
    je = std::min(inner, j + remaining);
    if (je < inner) {
      j = je;
      return;
    }
    j = 0;
    next_row(*L, idx);
  }
};

/// Folds the flat range [f0, f1) (reduced positions r0, r0 + 1, ...) into one partial result.
template <class Red, class ET, class Plan>
acc_t<Red, ET> fold_run(Plan& p, const Extents& L, int64_t f0, int64_t f1, int64_t r0) {
  RowCursor cur(L, f0);
  if constexpr (Red::vectorizable) {
    using V = pk::packet_t<ET>;
    constexpr int W = pk::packet<ET>::size;
    const ET id = Red::template init<ET>();
    V a0 = pk::splat<ET>(id), a1 = a0, a2 = a0, a3 = a0;
    ET s = id;
    // Four accumulators hide the add latency where every leaf is read contiguously; a broadcast or strided leaf
    // takes the one-accumulator loop, whose per-packet stride tests would otherwise be compiled four times.
    const bool unit = p.unit_stride();
    for (int64_t f = f0; f < f1;) {
      int64_t j, je;
      cur.next(p, f1 - f, j, je);
      f += je - j;
      if (unit) {
        for (; j + 4 * W <= je; j += 4 * W) {
          a0 = Red::vstep(a0, p.template packet<true>(j));
          a1 = Red::vstep(a1, p.template packet<true>(j + W));
          a2 = Red::vstep(a2, p.template packet<true>(j + 2 * W));
          a3 = Red::vstep(a3, p.template packet<true>(j + 3 * W));
        }
      }
      for (; j + W <= je; j += W) a0 = Red::vstep(a0, p.template packet<false>(j));
      for (; j < je; ++j) s = Red::step(s, static_cast<ET>(p.row(j)), 0);
    }
    a0 = Red::vmerge(Red::vmerge(a0, a1), Red::vmerge(a2, a3));
    if constexpr (W == 1) {
      s = Red::merge(s, a0);
    } else {
      for (int i = 0; i < W; ++i) s = Red::merge(s, a0[i]);
    }
    return s;
  } else {
    acc_t<Red, ET> s = Red::template init<ET>();
    int64_t r = r0;
    for (int64_t f = f0; f < f1;) {
      int64_t j, je;
      cur.next(p, f1 - f, j, je);
      f += je - j;
      for (; j < je; ++j) s = Red::step(s, static_cast<ET>(p.row(j)), r++);
    }
    return s;
  }
}

/// Folds rows [rb, re) of output block o into acc[0, inner).
template <class Red, class ET, class Plan>
void fold_rows(Plan& p, const ReduceSpace& sp, int64_t o, int64_t rb, int64_t re, acc_t<Red, ET>* acc) {
  if (rb == re) return;  // nothing to fold (an empty reduced axis), and the cursor needs a non-empty layout
  const int64_t C = sp.inner;
  int64_t f = (o * sp.reduced + rb) * C;
  const int64_t f1 = (o * sp.reduced + re) * C;
  int64_t c = 0, r = rb;
  RowCursor cur(sp.layout, f);
  while (f < f1) {
    int64_t j, je;
    cur.next(p, f1 - f, j, je);
    f += je - j;
    while (j < je) {  // a layout row may hold parts of several accumulator rows, and the reverse
      const int64_t n = std::min(je - j, C - c);
      acc_t<Red, ET>* a = acc + c;
      int64_t k = 0;
      if constexpr (Red::vectorizable) {
        constexpr int W = pk::packet<ET>::size;
        for (; k + W <= n; k += W) pk::store(a + k, Red::vstep(pk::load<ET>(a + k), p.template packet<false>(j + k)));
      }
      for (; k < n; ++k) a[k] = Red::step(a[k], static_cast<ET>(p.row(j + k)), r);
      j += n;
      if ((c += n) == C) {
        c = 0;
        ++r;
      }
    }
  }
}

/// The plan-dependent half of a reduction, seen without the plan's type: a per-thread copy of the plan (the
/// folds move its row offsets) and the two folds over it.
template <class Red, class ET>
struct Folder {
  using Acc = acc_t<Red, ET>;
  const void* plan;
  /// Runs body(copy, arg) on a copy of *plan.
  void (*with_copy)(const void* plan, void (*body)(void* copy, void* arg), void* arg);
  /// fold_run over flat [f0, f1) of the layout, reduced positions from r0.
  Acc (*run)(void* copy, const Extents& layout, int64_t f0, int64_t f1, int64_t r0);
  /// fold_rows: rows [rb, re) of output block o into acc[0, inner).
  void (*rows)(void* copy, const ReduceSpace& sp, int64_t o, int64_t rb, int64_t re, Acc* acc);

  /// body(copy) on a copy of the plan.
  template <class Body>
  void with_plan(Body&& body) const {
    with_copy(plan, [](void* copy, void* b) { (*static_cast<std::remove_reference_t<Body>*>(b))(copy); }, &body);
  }
};

template <class Red, class ET, class Plan>
Folder<Red, ET> make_folder(const Plan& plan) {
  return {&plan,
          [](const void* p, void (*body)(void*, void*), void* arg) {
            Plan copy = *static_cast<const Plan*>(p);
            body(&copy, arg);
          },
          [](void* p, const Extents& layout, int64_t f0, int64_t f1, int64_t r0) {
            return fold_run<Red, ET>(*static_cast<Plan*>(p), layout, f0, f1, r0);
          },
          [](void* p, const ReduceSpace& sp, int64_t o, int64_t rb, int64_t re, acc_t<Red, ET>* acc) {
            fold_rows<Red, ET>(*static_cast<Plan*>(p), sp, o, rb, re, acc);
          }};
}

/// The partial result of reduced positions [rb, re) of output o (inner == 1), with plan copy p.
template <class Red, class ET>
acc_t<Red, ET> reduce_run(const Folder<Red, ET>& f, void* p, const ReduceSpace& sp, int64_t o, int64_t rb, int64_t re) {
  const int64_t start = o * sp.reduced;
  if (re - rb <= kReduceBlock && rb < re)  // one block: no cascade needed
    return f.run(p, sp.layout, start + rb, start + re, rb);
  Cascade<Red, ET> c;
  for (int64_t b = rb; b < re; b += kReduceBlock) {
    const int64_t be = std::min(re, b + kReduceBlock);
    c.push(f.run(p, sp.layout, start + b, start + be, b));
  }
  return c.total();
}

/// The partial results of rows [rb, re) of output block o (inner > 1), written to out[0, inner).
template <class Red, class ET>
void reduce_rows(const Folder<Red, ET>& f, void* p, const ReduceSpace& sp, int64_t o, int64_t rb, int64_t re,
                 acc_t<Red, ET>* out) {
  const int64_t C = sp.inner;
  if (re - rb <= kReduceRows) {  // one block: no cascade needed
    std::fill(out, out + C, Red::template init<ET>());
    f.rows(p, sp, o, rb, re, out);
    return;
  }
  RowCascade<Red, ET> cascade;
  std::vector<acc_t<Red, ET>> block;
  for (int64_t b = rb; b < re; b += kReduceRows) {
    block.assign(size_t(C), Red::template init<ET>());
    const int64_t be = std::min(re, b + kReduceRows);
    f.rows(p, sp, o, b, be, block.data());
    cascade.push(block);
  }
  cascade.total(out, C);
}

/// out[o1 * inner + o2] = Red over r of the folder's plan at (o1, r, o2), for every output: the scheduling,
/// compiled once per reducer, dtype and output type.
template <class Red, class ET, class OutT>
void reduce_with(const Folder<Red, ET>& f, OutT* out, const ReduceSpace& sp) {
  using Acc = acc_t<Red, ET>;
  const int64_t O = sp.outer, R = sp.reduced, C = sp.inner;
  if (O * C == 0) return;
  const int64_t threads = num_threads();
  // Many outputs: each thread takes whole outputs. Few: each output's reduced range is split over the threads.
  const bool split_outputs = O >= 4 * threads || R * C < 2 * kReduceGrain;
  if (C == 1) {
    if (split_outputs) {
      parallel_for(O, std::max<int64_t>(1, kReduceGrain / std::max<int64_t>(R, 1)), [&](int64_t b, int64_t e) {
        f.with_plan([&](void* p) {
          for (int64_t o = b; o < e; ++o) out[o] = static_cast<OutT>(Red::finish(reduce_run(f, p, sp, o, 0, R), R));
        });
      });
      return;
    }
    const int64_t blocks = (R + kReduceBlock - 1) / kReduceBlock;
    const int64_t parts = std::min<int64_t>({threads, blocks, std::max<int64_t>(1, R / kReduceGrain)});
    std::vector<Acc> partial(static_cast<size_t>(parts));
    for (int64_t o = 0; o < O; ++o) {
      parallel_for(parts, 1, [&](int64_t b, int64_t e) {
        f.with_plan([&](void* p) {
          for (int64_t i = b; i < e; ++i) {
            const int64_t rb = std::min(R, blocks * i / parts * kReduceBlock);
            const int64_t re = std::min(R, blocks * (i + 1) / parts * kReduceBlock);
            partial[size_t(i)] = reduce_run(f, p, sp, o, rb, re);
          }
        });
      });
      Acc t = partial[0];
      for (int64_t i = 1; i < parts; ++i) t = Red::merge(t, partial[size_t(i)]);
      out[o] = static_cast<OutT>(Red::finish(t, R));
    }
    return;
  }
  if (split_outputs) {
    parallel_for(O, std::max<int64_t>(1, kReduceGrain / std::max<int64_t>(R * C, 1)), [&](int64_t b, int64_t e) {
      f.with_plan([&](void* p) {
        std::vector<Acc> acc(static_cast<size_t>(C));
        for (int64_t o = b; o < e; ++o) {
          reduce_rows(f, p, sp, o, 0, R, acc.data());
          for (int64_t k = 0; k < C; ++k) out[o * C + k] = static_cast<OutT>(Red::finish(acc[size_t(k)], R));
        }
      });
    });
    return;
  }
  const int64_t parts = std::min<int64_t>(threads, std::max<int64_t>(1, R * C / kReduceGrain));
  std::vector<std::vector<Acc>> partial(static_cast<size_t>(parts), std::vector<Acc>(static_cast<size_t>(C)));
  for (int64_t o = 0; o < O; ++o) {
    parallel_for(parts, 1, [&](int64_t b, int64_t e) {
      f.with_plan([&](void* p) {
        for (int64_t i = b; i < e; ++i)
          reduce_rows(f, p, sp, o, R * i / parts, R * (i + 1) / parts, partial[size_t(i)].data());
      });
    });
    for (int64_t k = 0; k < C; ++k) {
      Acc t = partial[0][size_t(k)];
      for (int64_t i = 1; i < parts; ++i) t = Red::merge(t, partial[size_t(i)][size_t(k)]);
      out[o * C + k] = static_cast<OutT>(Red::finish(t, R));
    }
  }
}

/// out[o1 * inner + o2] = Red over r of plan(o1, r, o2), for every output.
template <class Red, class ET, class OutT, class Plan>
void reduce(const Plan& plan, OutT* out, const ReduceSpace& sp) {
  reduce_with<Red, ET>(make_folder<Red, ET>(plan), out, sp);
}

}  // namespace mixt::expr::cpu
