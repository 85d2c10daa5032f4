// Copies that rearrange elements, as mx.nd's tile, repeat, reverse (alias flip) and swapaxes. Each is built from
// the views and strided copies of shape_ops.hpp, so it works for every dtype and context and is recorded by
// autograd through those pieces: tile and repeat are a broadcast between two reshapes (their gradient sums the
// copies back), swapaxes is a transpose, and reverse reads its source with negative strides (its gradient is the
// same reversal). stack, which needs Concat, lives with it in op/shape_ops.hpp.
#pragma once

#include <algorithm>
#include <optional>
#include <vector>

#include "shape_ops.hpp"

namespace mixt::detail {
/// tile's and repeat's copies: x viewed as `split` (extents of 1 where copies go), broadcast to `spread`, and the
/// result viewed as `merged`. Views, not reshape: reshape's code 0 would copy an extent instead of meaning 0.
inline NDArray spread_copies(const NDArray& x, const Shape& split, const Shape& spread, const Shape& merged) {
  const NDArray copies = x.view(split, x.byte_offset()).broadcast_to(spread);
  return copies.view(merged, copies.byte_offset());
}
}  // namespace mixt::detail

namespace mixt::nd {

// (Templates, as the operators are: a program compiles only the ones it calls.)

/// mx.nd.tile: the array repeated reps[d] times along each axis. With fewer reps than axes, reps is padded with
/// leading 1s; with more, the array gains leading axes of extent 1 (NumPy's tile). A rep of 0 gives an empty axis.
template <int = 0>
NDArray tile(const NDArray& a, const std::vector<int64_t>& reps,
             mixt::source_location where = mixt::source_location::current()) {
  return mixt::detail::at_location(where, [&] {
    mixt::detail::require_storage(a, "tile");
    const int n = std::max(a.ndim(), int(reps.size()));
    if (2 * n > kMaxDim)
      mixt::detail::fail("tile", "at most ", kMaxDim / 2, " axes (array and reps together), received ", n);
    for (int64_t r : reps)
      if (r < 0) mixt::detail::fail("tile", "argument 'reps': expected values >= 0, received ", r);
    // (1, d0, 1, d1, ...) broadcast to (r0, d0, r1, d1, ...), then merged pairwise: block i of axis k is a copy.
    std::vector<int64_t> split, merged;
    Shape spread;
    for (int k = 0; k < n; ++k) {
      const int src = k - (n - a.ndim()), rep = k - (n - int(reps.size()));
      const int64_t d = src >= 0 ? a.shape()[src] : 1, r = rep >= 0 ? reps[size_t(rep)] : 1;
      split.insert(split.end(), {1, d});
      spread.push_back(r);
      spread.push_back(d);
      merged.push_back(r * d);
    }
    return mixt::detail::spread_copies(a, Shape(split), spread, Shape(merged));
  });
}

/// mx.nd.repeat: each element repeated `repeats` times in a row along `axis`; without an axis, over the flattened
/// array (a 1-D result).
template <int = 0>
NDArray repeat(const NDArray& a, int64_t repeats, std::optional<int> axis = std::nullopt,
               mixt::source_location where = mixt::source_location::current()) {
  return mixt::detail::at_location(where, [&] {
    mixt::detail::require_storage(a, "repeat");
    if (repeats < 0) mixt::detail::fail("repeat", "argument 'repeats': expected a value >= 0, received ", repeats);
    const NDArray x = axis ? a : a.view(Shape{a.size()}, a.byte_offset());
    const int ax = Shape::normalize_axis(axis.value_or(0), x.ndim(), "repeat");
    if (x.ndim() + 1 > kMaxDim) mixt::detail::fail("repeat", "at most ", kMaxDim - 1, " axes, received ", x.ndim());
    std::vector<int64_t> split, merged;
    Shape spread;
    for (int d = 0; d < x.ndim(); ++d) {
      split.push_back(x.shape()[d]);
      spread.push_back(x.shape()[d]);
      merged.push_back(d == ax ? x.shape()[d] * repeats : x.shape()[d]);
      if (d == ax) {  // (.., n, 1, ..) broadcast to (.., n, repeats, ..): the copies of one element sit together
        split.push_back(1);
        spread.push_back(repeats);
      }
    }
    return mixt::detail::spread_copies(x, Shape(split), spread, Shape(merged));
  });
}

/// mx.nd.reverse (alias flip): the elements in reverse order along each of `axes`.
template <int = 0>
NDArray reverse(const NDArray& a, const std::vector<int>& axes,
                mixt::source_location where = mixt::source_location::current()) {
  return mixt::detail::at_location(where, [&] {
    mixt::detail::require_storage(a, "reverse");
    expr::StridedLeaf leaf{{}, a, {a.shape(), expr::contiguous_strides(a.shape())}, 0};
    std::vector<bool> seen(size_t(a.ndim()), false);
    for (int axis : axes) {
      const int d = Shape::normalize_axis(axis, a.ndim(), "reverse");
      if (seen[size_t(d)]) mixt::detail::fail("reverse", "axis ", axis, " appears twice in axes");
      seen[size_t(d)] = true;
      if (a.shape()[d] == 0) continue;
      leaf.offset += (a.shape()[d] - 1) * leaf.view.strides[size_t(d)];  // start at the last element
      leaf.view.strides[size_t(d)] = -leaf.view.strides[size_t(d)];
    }
    NDArray out(a.shape(), a.ctx(), a.dtype());
    mixt::detail::strided_copy(leaf, out, "reverse");
    autograd::detail::record_copy("reverse", a, out, [axes](const NDArray& g) { return reverse(g, axes); });
    return out;
  });
}
template <int = 0>
NDArray flip(const NDArray& a, const std::vector<int>& axes,
             mixt::source_location where = mixt::source_location::current()) {
  return reverse(a, axes, where);
}

/// mx.nd.swapaxes: axes dim1 and dim2 exchanged (a transpose, copied).
template <int = 0>
NDArray swapaxes(const NDArray& a, int dim1 = 0, int dim2 = 0,
                 mixt::source_location where = mixt::source_location::current()) {
  return mixt::detail::at_location(where, [&] {
    mixt::detail::require_storage(a, "swapaxes");
    const int d1 = Shape::normalize_axis(dim1, a.ndim(), "swapaxes");
    const int d2 = Shape::normalize_axis(dim2, a.ndim(), "swapaxes");
    std::vector<int> axes;
    for (int d = 0; d < a.ndim(); ++d) axes.push_back(d == d1 ? d2 : d == d2 ? d1 : d);
    return a.transpose(axes);
  });
}

}  // namespace mixt::nd
