// How an expression's leaves map onto the output's index space: NumPy broadcasting of shapes, per-leaf element
// strides (0 along broadcast axes) and the collapse of adjacent axes that every leaf walks contiguously, so that
// most expressions run as one flat loop.
#pragma once

#include <array>

#include "../core/inline_vector.hpp"
#include "../core/shape.hpp"

namespace mixt::expr {

using Strides = std::array<int64_t, kMaxDim>;

/// The NumPy broadcast of two shapes, or a mixt::Error naming `op` and both shapes. Out of line: every binary
/// node of every expression calls it.
[[gnu::noinline]] inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  int n = std::max(a.ndim(), b.ndim());
  Shape out;
  for (int i = 0; i < n; ++i) {
    int ia = i - (n - a.ndim()), ib = i - (n - b.ndim());
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      detail::fail(op, "operands could not be broadcast together with shapes ", a.to_string(), " and ",
                   b.to_string());
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

/// Whether an array of shape `from` broadcasts to shape `to` (NumPy's rule, `to` unchanged).
inline bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.ndim() > to.ndim()) return false;
  for (int i = 1; i <= from.ndim(); ++i) {
    const int64_t e = from[from.ndim() - i];
    if (e != 1 && e != to[to.ndim() - i]) return false;
  }
  return true;
}

/// Row-major element strides of a contiguous array of `shape`.
inline Strides contiguous_strides(const Shape& shape) { return shape.strides(); }

/// One array leaf as the expression sees it: its (view) shape and element strides into its storage.
struct LeafView {
  Shape shape;
  Strides strides;
};

/// Leaves an evaluation keeps in place before its lists move to the heap.
inline constexpr size_t kInlineLeaves = 8;
using LeafViews = detail::InlineVector<LeafView, kInlineLeaves>;

// Out of line: every expression type visits its leaves, and inlining these into each visit grows every
// evaluation (and its compile time) for no speed: they run once per evaluation, not per element.
/// An array read as it is stored.
[[gnu::noinline]] inline LeafView contiguous_view(const Shape& shape) { return {shape, shape.strides()}; }
/// shape with its axes reversed.
[[gnu::noinline]] inline Shape reversed_shape(const Shape& shape) {
  Shape r;
  for (int d = shape.ndim() - 1; d >= 0; --d) r.push_back(shape[d]);
  return r;
}
/// An array read with its axes reversed (x.T()).
[[gnu::noinline]] inline LeafView reversed_view(const Shape& shape) {
  const Strides c = shape.strides();
  Strides r{};
  for (int d = 0; d < shape.ndim(); ++d) r[d] = c[shape.ndim() - 1 - d];
  return {reversed_shape(shape), r};
}

/// The collapsed output extents of one evaluation: all that its kernel needs besides the plan (the plan holds
/// the leaves' strides). Trivially copyable, so a kernel's closure is too (engine/task.hpp).
struct Extents {
  int ndim = 1;
  std::array<int64_t, kMaxDim> dims{1};
  /// One flat run in which every leaf is read contiguously: the fastest path.
  bool linear = true;

  int64_t size() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= dims[i];
    return n;
  }
};

/// The multi-index over L's outer axes (all but the last) of the row that holds flat index i (CPU loops).
inline void row_index(const Extents& L, int64_t i, int64_t* idx) {
  for (int64_t r = i / L.dims[size_t(L.ndim - 1)], d = L.ndim - 2; d >= 0; --d) {
    idx[d] = r % L.dims[size_t(d)];
    r /= L.dims[size_t(d)];
  }
}
/// Moves idx to the next row.
inline void next_row(const Extents& L, int64_t* idx) {
  for (int d = L.ndim - 2; d >= 0; --d) {
    if (++idx[d] < L.dims[size_t(d)]) break;
    idx[d] = 0;
  }
}

/// The iteration space of one evaluation: the extents and, for every array leaf in tree order, its strides over
/// them.
struct Layout : Extents {
  detail::InlineVector<Strides, kInlineLeaves> leaf_strides;
};

inline Layout make_layout(const Shape& out, const LeafViews& leaves) {
  const int n = out.ndim();
  const size_t nl = leaves.size();
  // Strides of every leaf over the output's axes (0 where the leaf is broadcast or the axis has extent 1).
  detail::InlineVector<Strides, kInlineLeaves> full;
  full.assign(nl, Strides{});
  for (size_t l = 0; l < nl; ++l) {
    const LeafView& v = leaves[l];
    int off = n - v.shape.ndim();
    for (int d = 0; d < n; ++d) {
      int ld = d - off;
      full[l][d] = (ld >= 0 && v.shape[ld] == out[d] && out[d] != 1) ? v.strides[ld] : 0;
    }
  }
  Layout L;
  L.ndim = 0;
  L.leaf_strides.assign(nl, Strides{});
  for (int d = 0; d < n; ++d) {
    if (out[d] == 1) continue;
    bool merge = L.ndim > 0;
    for (size_t l = 0; l < nl && merge; ++l)
      merge = L.leaf_strides[l][L.ndim - 1] == full[l][d] * out[d];
    if (merge) {
      L.dims[L.ndim - 1] *= out[d];
      for (size_t l = 0; l < nl; ++l) L.leaf_strides[l][L.ndim - 1] = full[l][d];
    } else {
      L.dims[L.ndim] = out[d];
      for (size_t l = 0; l < nl; ++l) L.leaf_strides[l][L.ndim] = full[l][d];
      ++L.ndim;
    }
  }
  if (L.ndim == 0) {  // a single element
    L.ndim = 1;
    L.dims[0] = 1;
    for (auto& s : L.leaf_strides) s[0] = 1;
  }
  L.linear = L.ndim == 1;
  for (auto& s : L.leaf_strides) L.linear = L.linear && s[0] == 1;
  return L;
}

}  // namespace mixt::expr
