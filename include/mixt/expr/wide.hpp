// Wide loads for the CUDA evaluation of a linear layout: a thread reads W consecutive elements of every leaf with
// one 16-byte load each (float4 for float32, 8 halves, 2 doubles) and writes its W results with one store. Fewer,
// wider memory instructions keep more bytes in flight per thread, which a memory-bound chain needs to approach
// the copy bandwidth. Written as plain host/device code so the CPU tests run the same per-thread logic.
#pragma once

#include <cstdint>

#include "../core/config.hpp"
#include "../core/dtype.hpp"

namespace mixt::expr {

/// W values computed for W consecutive elements.
template <class T, int W>
struct Wide {
  T v[W];
};

/// W elements stored as S, aligned as one memory transaction.
template <class S, int W>
struct alignas(W * sizeof(S)) WideRaw {
  S s[W];
};

/// Elements per wide access for storage type T: 16 bytes' worth (1 for types of 16 bytes or more).
template <class T>
inline constexpr int wide_width = sizeof(T) >= 16 ? 1 : int(16 / sizeof(T));

/// F applied to W values of each operand.
template <class F, int W, class... X>
MIXT_HD MIXT_INLINE auto wide_apply(const Wide<X, W>&... x) {
  Wide<decltype(F::apply(x.v[0]...)), W> r;
  for (int k = 0; k < W; ++k) r.v[k] = F::apply(x.v[k]...);
  return r;
}

/// Whether p may be read or written as WideRaw<S, W>.
template <int W, class S>
inline bool wide_aligned(const S* p) {
  return reinterpret_cast<uintptr_t>(p) % alignof(WideRaw<S, W>) == 0;
}

/// p[0..W) as compute type E; p must be wide_aligned<W>.
template <class E, int W, class S>
MIXT_HD MIXT_INLINE Wide<E, W> wide_load(const S* p) {
  const WideRaw<S, W> raw = *reinterpret_cast<const WideRaw<S, W>*>(p);
  Wide<E, W> r;
  for (int k = 0; k < W; ++k) r.v[k] = static_cast<E>(raw.s[k]);
  return r;
}

/// Writes v to p[0..W); p must be wide_aligned<W>.
template <int W, class T, class E>
MIXT_HD MIXT_INLINE void wide_store(T* p, const Wide<E, W>& v) {
  WideRaw<T, W> raw;
  for (int k = 0; k < W; ++k) raw.s[k] = static_cast<T>(v.v[k]);
  *reinterpret_cast<WideRaw<T, W>*>(p) = raw;
}

/// Plans of expression nodes read wide; a program's plan (program_plan.hpp) does not.
template <class Plan, int W>
concept ReadsWide = W > 1 && requires(const Plan& p) { p.template wide<W>(0); };

/// Whether plan and out allow the wide path of width W: every array leaf and the output aligned.
template <int W, class T, class Plan>
inline bool wide_ready(const Plan& plan, const T* out) {
  if constexpr (!ReadsWide<Plan, W>) return false;
  else return wide_aligned<W>(out) && plan.template leaves_wide_aligned<W>();
}

/// One thread's share of out[i] = Saver(out[i], plan.lin(i)) for i in [0, n), with `first` its index among
/// `step` threads. Wide (W > 1): groups of W elements first, first + step, ...; then, one at a time, the
/// elements after the last whole group. Otherwise the elements first, first + step, ...
template <int W, class Saver, class T, class Plan>
MIXT_HD void eval_linear_share(const Plan& plan, T* out, int64_t n, int64_t first, int64_t step) {
  using ET = compute_type_t<T>;
  int64_t done = 0;
  if constexpr (W > 1) {
    const int64_t groups = n / W;
    for (int64_t g = first; g < groups; g += step) {
      const int64_t i = g * W;
      const auto got = plan.template wide<W>(i);
      Wide<ET, W> v;
      for (int k = 0; k < W; ++k) v.v[k] = static_cast<ET>(got.v[k]);
      if constexpr (Saver::reads_dest) {
        const Wide<ET, W> d = wide_load<ET, W>(out + i);
        for (int k = 0; k < W; ++k) v.v[k] = Saver::apply(d.v[k], v.v[k]);
      }
      wide_store<W>(out + i, v);
    }
    done = groups * W;
  }
  for (int64_t i = done + first; i < n; i += step) {
    ET v = plan.lin(i);
    if constexpr (Saver::reads_dest) v = Saver::apply(static_cast<ET>(out[i]), v);
    out[i] = static_cast<T>(v);
  }
}

}  // namespace mixt::expr
