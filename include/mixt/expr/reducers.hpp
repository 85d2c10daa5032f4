// What the reduction kernels share between the CPU and CUDA: the reducers (sum, mean, prod, max, min, norm,
// argmax, argmin) and the index space a reduction walks.
//
// A reducer folds values of the compute type ET into an accumulator:
//   init()               the identity;
//   step(acc, x, r)      fold value x found at reduced position r (r is used by argmax/argmin only);
//   merge(a, b)          combine two partial results (any grouping: the result must not depend on it, up to
//                        rounding);
//   finish(acc, count)   the output value (mean divides by count, norm takes the square root).
// `vectorizable` reducers also fold whole SIMD packets with vstep(acc, packet) and combine packets with
// vmerge (the same formulas, lane-wise) and keep acc == ET, which is what the CPU fast paths need.
// vstep/vmerge are host-only: GCC vector types do not exist in CUDA device code.
// `needs_values`: reducing nothing is an error (max of an empty array); `returns_index`: the output is float32.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

#include "../core/config.hpp"
#include "element_ops.hpp"
#include "layout.hpp"
#include "scalar_math.hpp"

namespace mixt::expr {

/// A reduction's index space. The input's broadcast shape is permuted to (O1 axes, R axes, O2 axes): O2 is the
/// block of trailing kept axes, O1 the other kept axes, R the reduced ones. Element (o1, r, o2) sits at flat
/// index (o1 * reduced + r) * inner + o2 of that permuted shape, whose collapsed extents are `layout`; the output
/// element is o1 * inner + o2. Trivially copyable: kernels capture it (the leaves' strides live in their plans).
struct ReduceSpace {
  int64_t outer = 1, reduced = 1, inner = 1;
  Extents layout;
};

namespace red {

template <class ET>
MIXT_HD MIXT_INLINE bool is_nan(ET x) {
  if constexpr (std::is_floating_point_v<ET>) return x != x;
  else return false;
}

struct sum {
  static constexpr const char* name = "sum";
  static constexpr bool vectorizable = true, needs_values = false, returns_index = false;
  template <class ET> using acc_t = ET;
  template <class ET> MIXT_HD MIXT_INLINE static ET init() { return ET(0); }
  template <class V> MIXT_INLINE static V vstep(V a, V x) { return pk::add(a, x); }  // V may be a scalar (int)
  template <class V> MIXT_INLINE static V vmerge(V a, V b) { return pk::add(a, b); }
  // pk::add and pk::mul: integer sums and products wrap instead of overflowing (element_ops.hpp)
  template <class ET> MIXT_HD MIXT_INLINE static ET step(ET a, ET x, int64_t) { return pk::add(a, x); }
  template <class ET> MIXT_HD MIXT_INLINE static ET merge(ET a, ET b) { return pk::add(a, b); }
  template <class ET> MIXT_HD MIXT_INLINE static ET finish(ET a, int64_t) { return a; }
};

struct mean : sum {
  static constexpr const char* name = "mean";
  template <class ET> MIXT_HD MIXT_INLINE static ET finish(ET a, int64_t n) {
    // The count divides in int64: as ET it wrapped (256 is 0 in uint8, a division by zero).
    if constexpr (std::is_integral_v<ET>) return n ? ET(int64_t(a) / n) : ET(0);
    else return a / ET(n);  // an empty mean is NaN, as in NumPy
  }
};

/// The L2 norm: the square root of the sum of squares (MXNet's norm with its default ord=2).
struct norm : sum {
  static constexpr const char* name = "norm";
  template <class V> MIXT_INLINE static V vstep(V a, V x) { return pk::add(a, pk::mul(x, x)); }
  template <class ET> MIXT_HD MIXT_INLINE static ET step(ET a, ET x, int64_t) { return pk::add(a, pk::mul(x, x)); }
  template <class ET> MIXT_HD MIXT_INLINE static ET finish(ET a, int64_t) {
    // Saturating: an integer sum of squares that wrapped negative has a NaN root.
    return math::saturate_cast<ET>(math::sqrt(static_cast<double>(a)));
  }
};

struct prod {
  static constexpr const char* name = "prod";
  static constexpr bool vectorizable = true, needs_values = false, returns_index = false;
  template <class ET> using acc_t = ET;
  template <class ET> MIXT_HD MIXT_INLINE static ET init() { return ET(1); }
  template <class V> MIXT_INLINE static V vstep(V a, V x) { return pk::mul(a, x); }
  template <class V> MIXT_INLINE static V vmerge(V a, V b) { return pk::mul(a, b); }
  template <class ET> MIXT_HD MIXT_INLINE static ET step(ET a, ET x, int64_t) { return pk::mul(a, x); }
  template <class ET> MIXT_HD MIXT_INLINE static ET merge(ET a, ET b) { return pk::mul(a, b); }
  template <class ET> MIXT_HD MIXT_INLINE static ET finish(ET a, int64_t) { return a; }
};

/// max and min propagate NaN (a NaN anywhere gives NaN), as MXNet's and NumPy's do.
struct max {
  static constexpr const char* name = "max";
  static constexpr bool vectorizable = true, needs_values = true, returns_index = false;
  template <class ET> using acc_t = ET;
  template <class ET> MIXT_HD MIXT_INLINE static ET init() {
    if constexpr (std::numeric_limits<ET>::has_infinity) return -std::numeric_limits<ET>::infinity();
    else return std::numeric_limits<ET>::lowest();
  }
  template <class V> MIXT_INLINE static V vstep(V a, V x) { return ((a > x) | (a != a)) ? a : x; }
  template <class V> MIXT_INLINE static V vmerge(V a, V b) { return vstep(a, b); }
  template <class ET> MIXT_HD MIXT_INLINE static ET step(ET a, ET x, int64_t) { return (a > x || is_nan(a)) ? a : x; }
  template <class ET> MIXT_HD MIXT_INLINE static ET merge(ET a, ET b) { return step(a, b, 0); }
  template <class ET> MIXT_HD MIXT_INLINE static ET finish(ET a, int64_t) { return a; }
};

struct min {
  static constexpr const char* name = "min";
  static constexpr bool vectorizable = true, needs_values = true, returns_index = false;
  template <class ET> using acc_t = ET;
  template <class ET> MIXT_HD MIXT_INLINE static ET init() {
    if constexpr (std::numeric_limits<ET>::has_infinity) return std::numeric_limits<ET>::infinity();
    else return std::numeric_limits<ET>::max();
  }
  template <class V> MIXT_INLINE static V vstep(V a, V x) { return ((a < x) | (a != a)) ? a : x; }
  template <class V> MIXT_INLINE static V vmerge(V a, V b) { return vstep(a, b); }
  template <class ET> MIXT_HD MIXT_INLINE static ET step(ET a, ET x, int64_t) { return (a < x || is_nan(a)) ? a : x; }
  template <class ET> MIXT_HD MIXT_INLINE static ET merge(ET a, ET b) { return step(a, b, 0); }
  template <class ET> MIXT_HD MIXT_INLINE static ET finish(ET a, int64_t) { return a; }
};

/// A value and where it was found.
template <class ET>
struct ValueIndex {
  ET value;
  int64_t index;
};

/// argmax / argmin: the first position of the extreme value (ties and NaNs as NumPy: the first NaN wins).
/// The index is returned as float32, as MXNet does.
template <bool Max>
struct arg_extreme {
  static constexpr const char* name = Max ? "argmax" : "argmin";
  static constexpr bool vectorizable = false, needs_values = true, returns_index = true;
  template <class ET> using acc_t = ValueIndex<ET>;
  template <class ET> MIXT_HD MIXT_INLINE static ValueIndex<ET> init() {
    return {Max ? max::init<ET>() : min::init<ET>(), std::numeric_limits<int64_t>::max()};
  }
  /// True when (x, i) should replace (a, ai).
  template <class ET> MIXT_HD MIXT_INLINE static bool better(ET x, int64_t i, ET a, int64_t ai) {
    if (is_nan(a)) return is_nan(x) && i < ai;
    if (is_nan(x)) return true;
    if (x == a) return i < ai;
    return Max ? x > a : x < a;
  }
  template <class ET> MIXT_HD MIXT_INLINE static ValueIndex<ET> step(ValueIndex<ET> a, ET x, int64_t r) {
    return better(x, r, a.value, a.index) ? ValueIndex<ET>{x, r} : a;
  }
  template <class ET> MIXT_HD MIXT_INLINE static ValueIndex<ET> merge(ValueIndex<ET> a, ValueIndex<ET> b) {
    return better(b.value, b.index, a.value, a.index) ? b : a;
  }
  template <class ET> MIXT_HD MIXT_INLINE static float finish(ValueIndex<ET> a, int64_t) {
    return static_cast<float>(a.index);
  }
};
using argmax = arg_extreme<true>;
using argmin = arg_extreme<false>;

}  // namespace red
}  // namespace mixt::expr
