// Plans: the device-side evaluators of expression nodes (mshadow's Plan, Eigen's TensorEvaluator). A plan is a
// small trivially copyable struct passed by value into the CPU loop or the CUDA kernel. Three ways to read one:
//   lin(i)             element i of a linear layout (every leaf contiguous);
//   at(idx)            the element at a multi-index over the layout's collapsed axes (CUDA general path);
//   set_row(idx) then row(j) / packet(j)       the CPU general path: one output row at a time; packet<true>
//                      reads every leaf contiguously along the row (valid when unit_stride() holds).
//   wide<W>(i)         elements i .. i + W - 1 of a linear layout, each leaf read with one wide load (CUDA; valid
//                      when leaves_wide_aligned<W>() holds and i is a multiple of W; wide.hpp).
// unit_stride() tells whether every array leaf has inner stride 1 (so packets need no per-leaf stride test).
#pragma once

#include <cstdint>

#include "../core/config.hpp"
#include "cpu/packet.hpp"
#include "wide.hpp"

namespace mixt::expr {

/// An array leaf stored as S, computed in ET.
template <class S, class ET>
struct ArrayPlan {
  const S* ptr;
  int64_t strides[kMaxDim];
  int ndim;
  int64_t base = 0;

  MIXT_HD ET lin(int64_t i) const { return static_cast<ET>(ptr[i]); }
  template <int W> MIXT_HD Wide<ET, W> wide(int64_t i) const { return wide_load<ET, W>(ptr + i); }
  template <int W> bool leaves_wide_aligned() const { return wide_aligned<W>(ptr); }
  MIXT_HD ET at(const int64_t* idx) const {
    int64_t o = 0;
    for (int d = 0; d < ndim; ++d) o += idx[d] * strides[d];
    return static_cast<ET>(ptr[o]);
  }
  void set_row(const int64_t* idx) {
    base = 0;
    for (int d = 0; d + 1 < ndim; ++d) base += idx[d] * strides[d];
  }
  ET row(int64_t j) const { return static_cast<ET>(ptr[base + j * strides[ndim - 1]]); }
  bool unit_stride() const { return strides[ndim - 1] == 1; }
  template <bool Linear>
  MIXT_INLINE pk::packet_t<ET> packet(int64_t j) const {
    if constexpr (Linear) {
      return pk::load<ET>(ptr + base + j);
    } else {
      int64_t s = strides[ndim - 1];
      if (s == 1) return pk::load<ET>(ptr + base + j);
      if (s == 0) return pk::splat<ET>(static_cast<ET>(ptr[base]));
      return pk::load_strided<ET>(ptr + base + j * s, s);
    }
  }
};

template <class ET>
struct ScalarPlan {
  ET value;
  MIXT_HD ET lin(int64_t) const { return value; }
  template <int W> MIXT_HD Wide<ET, W> wide(int64_t) const {
    Wide<ET, W> r;
    for (int k = 0; k < W; ++k) r.v[k] = value;
    return r;
  }
  template <int W> bool leaves_wide_aligned() const { return true; }
  MIXT_HD ET at(const int64_t*) const { return value; }
  void set_row(const int64_t*) {}
  ET row(int64_t) const { return value; }
  bool unit_stride() const { return true; }
  template <bool Linear>
  MIXT_INLINE pk::packet_t<ET> packet(int64_t) const { return pk::splat<ET>(value); }
};

template <class F, class A>
struct UnaryPlan {
  A a;
  MIXT_HD auto lin(int64_t i) const { return F::apply(a.lin(i)); }
  template <int W> MIXT_HD auto wide(int64_t i) const { return wide_apply<F>(a.template wide<W>(i)); }
  template <int W> bool leaves_wide_aligned() const { return a.template leaves_wide_aligned<W>(); }
  MIXT_HD auto at(const int64_t* idx) const { return F::apply(a.at(idx)); }
  void set_row(const int64_t* idx) { a.set_row(idx); }
  auto row(int64_t j) const { return F::apply(a.row(j)); }
  bool unit_stride() const { return a.unit_stride(); }
  template <bool Linear>
  MIXT_INLINE auto packet(int64_t j) const { return F::apply(a.template packet<Linear>(j)); }
};

template <class F, class A, class B>
struct BinaryPlan {
  A a;
  B b;
  MIXT_HD auto lin(int64_t i) const { return F::apply(a.lin(i), b.lin(i)); }
  template <int W> MIXT_HD auto wide(int64_t i) const {
    return wide_apply<F>(a.template wide<W>(i), b.template wide<W>(i));
  }
  template <int W> bool leaves_wide_aligned() const {
    return a.template leaves_wide_aligned<W>() && b.template leaves_wide_aligned<W>();
  }
  MIXT_HD auto at(const int64_t* idx) const { return F::apply(a.at(idx), b.at(idx)); }
  void set_row(const int64_t* idx) { a.set_row(idx); b.set_row(idx); }
  auto row(int64_t j) const { return F::apply(a.row(j), b.row(j)); }
  bool unit_stride() const { return a.unit_stride() && b.unit_stride(); }
  template <bool Linear>
  MIXT_INLINE auto packet(int64_t j) const {
    return F::apply(a.template packet<Linear>(j), b.template packet<Linear>(j));
  }
};

template <class F, class A, class B, class C>
struct TernaryPlan {
  A a;
  B b;
  C c;
  MIXT_HD auto lin(int64_t i) const { return F::apply(a.lin(i), b.lin(i), c.lin(i)); }
  template <int W> MIXT_HD auto wide(int64_t i) const {
    return wide_apply<F>(a.template wide<W>(i), b.template wide<W>(i), c.template wide<W>(i));
  }
  template <int W> bool leaves_wide_aligned() const {
    return a.template leaves_wide_aligned<W>() && b.template leaves_wide_aligned<W>() &&
           c.template leaves_wide_aligned<W>();
  }
  MIXT_HD auto at(const int64_t* idx) const { return F::apply(a.at(idx), b.at(idx), c.at(idx)); }
  void set_row(const int64_t* idx) { a.set_row(idx); b.set_row(idx); c.set_row(idx); }
  auto row(int64_t j) const { return F::apply(a.row(j), b.row(j), c.row(j)); }
  bool unit_stride() const { return a.unit_stride() && b.unit_stride() && c.unit_stride(); }
  template <bool Linear>
  MIXT_INLINE auto packet(int64_t j) const {
    return F::apply(a.template packet<Linear>(j), b.template packet<Linear>(j), c.template packet<Linear>(j));
  }
};

}  // namespace mixt::expr
