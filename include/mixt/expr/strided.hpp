// A leaf read through arbitrary element strides and an element offset: a transpose with any axis order, a slice
// along any axis, a broadcast (stride 0). As an expression operand it fuses like any array leaf, so a transpose
// or a slice plus arithmetic is one pass over memory.
#pragma once

#include <vector>

#include "nodes.hpp"

namespace mixt::expr {

struct StridedLeaf : ExprTag {
  static constexpr int leaf_count = 1;
  NDArray array;  ///< the storage read (its byte offset included)
  LeafView view;  ///< the shape this leaf presents and its element strides into `array`
  int64_t offset = 0;  ///< in elements, added to array's first element

  Shape shape() const { return view.shape; }
  template <class F> void for_each_leaf(F&& f) const { f(array, view); }
  template <class ET, class S>
  ArrayPlan<S, ET> plan(const Layout& L, int& k) const {
    ArrayPlan<S, ET> p = ArrayLeaf::make_array_plan<ET, S>(array, L, k);
    p.ptr += offset;
    return p;
  }
};

/// `a` with its axes permuted: axis d of the result is axis axes[d] of a. axes must be a permutation of
/// 0..ndim-1 (negative values count from the end); empty means reversed.
inline StridedLeaf permuted(const NDArray& a, std::vector<int> axes = {}) {
  const int n = a.ndim();
  if (axes.empty())
    for (int d = n - 1; d >= 0; --d) axes.push_back(d);
  if (int(axes.size()) != n)
    detail::fail("transpose", "axes name ", axes.size(), " axes, the array of shape ", a.shape(), " has ", n);
  std::vector<bool> seen(size_t(n), false);
  const Strides s = contiguous_strides(a.shape());
  StridedLeaf leaf{{}, a, {}, 0};
  for (int d = 0; d < n; ++d) {
    const int ax = Shape::normalize_axis(axes[size_t(d)], n, "transpose");
    if (seen[size_t(ax)]) detail::fail("transpose", "axis ", axes[size_t(d)], " appears twice in axes");
    seen[size_t(ax)] = true;
    leaf.view.shape.push_back(a.shape()[ax]);
    leaf.view.strides[size_t(d)] = s[size_t(ax)];
  }
  return leaf;
}

/// Elements [begin, end) of `a` along `axis` (already normalized and checked).
inline StridedLeaf sliced(const NDArray& a, int axis, int64_t begin, int64_t end) {
  StridedLeaf leaf{{}, a, {a.shape(), contiguous_strides(a.shape())}, 0};
  leaf.view.shape[axis] = end - begin;
  leaf.offset = begin * leaf.view.strides[size_t(axis)];
  return leaf;
}

}  // namespace mixt::expr
