// Shape manipulation: NDArray::slice_axis, broadcast_to and transpose (copies made in one strided pass), and the
// free functions of mx.nd that mirror the members: reshape, transpose, slice_axis, expand_dims, squeeze,
// broadcast_to, flatten.
//
// The copies read their source through an expr::StridedLeaf. For the dtypes fused expressions are compiled for
// (expr_dtypes.hpp) that is one fused expression evaluation (SIMD gathers on the CPU); every other dtype is moved
// by a small gather kernel instantiated per element size (1, 2, 4 or 8 bytes), so all 8 dtypes work at the cost
// of 4 kernels.
#pragma once

#include <optional>
#include <vector>

#include "../expr/strided.hpp"
#include "creation.hpp"
#include "ndarray_impl.hpp"

namespace mixt {

namespace detail {

/// The collapsed extents and source strides of a gather, passed by value into the kernel (a namespace-scope
/// type: nvcc rejects function-local types in device lambda captures).
struct GatherMap {
  int ndim;
  int64_t dims[kMaxDim];
  int64_t strides[kMaxDim];
};

/// out[i] = in[offset + sum_d idx_d * strides[d]] over the collapsed layout, for elements of W's size.
template <class W>
void gather_kernel(const engine::RunContext& rc, const void* src, void* dst, const GatherMap& m, int64_t size,
                   int64_t offset) {
  const W* in = static_cast<const W*>(src) + offset;
  W* out = static_cast<W*>(dst);
  expr::launch(rc, size, [=] MIXT_HD(int64_t i) {
    int64_t r = i, o = 0;
    for (int d = m.ndim - 1; d >= 0; --d) {
      o += (r % m.dims[d]) * m.strides[d];
      r /= m.dims[d];
    }
    out[i] = in[o];
  });
}

/// Writes the values `leaf` presents into `out` (a new contiguous array of the same dtype and context whose shape
/// the leaf broadcasts to).
inline void strided_copy(const expr::StridedLeaf& leaf, const NDArray& out, const char* op) {
  if (out.size() == 0) return;
  if (expr::expr_dtype_enabled(out.dtype())) {
    expr::evaluate_into<expr::save_write>(out, leaf, {}, op);
    return;
  }
  expr::LeafViews views;
  views.push_back(leaf.view);
  const expr::Layout layout = expr::make_layout(out.shape(), views);
  GatherMap m{};
  m.ndim = layout.ndim;
  for (int d = 0; d < layout.ndim; ++d) {
    m.dims[d] = layout.dims[d];
    m.strides[d] = layout.leaf_strides[0][d];
  }
  const NDArray src = leaf.array;
  const int64_t offset = leaf.offset, size = layout.size();
  engine::Engine::get().push(
      [src, out, m, size, offset](engine::RunContext rc) {
        switch (dtype_size(out.dtype())) {
          case 1: return gather_kernel<uint8_t>(rc, src.raw_data(), out.raw_data(), m, size, offset);
          case 2: return gather_kernel<uint16_t>(rc, src.raw_data(), out.raw_data(), m, size, offset);
          case 4: return gather_kernel<uint32_t>(rc, src.raw_data(), out.raw_data(), m, size, offset);
          default: return gather_kernel<uint64_t>(rc, src.raw_data(), out.raw_data(), m, size, offset);
        }
      },
      out.ctx(), {src.var()}, {out.var()}, engine::FnProperty::normal, op);
}

}  // namespace detail

inline NDArray NDArray::slice_axis(int axis, int64_t begin, std::optional<int64_t> end,
                                   mixt::source_location where) const {
  return detail::at_location(where, [&] {
    if (is_none()) detail::fail("slice_axis", "the array is empty (no storage)");
    if (ndim() == 0) detail::fail("slice_axis", "cannot slice a 0-d array");
    axis = Shape::normalize_axis(axis, ndim(), "slice_axis");
    const int64_t n = shape_[axis];
    int64_t b = begin < 0 ? begin + n : begin;
    int64_t e = end ? (*end < 0 ? *end + n : *end) : n;
    if (b < 0 || e > n || b > e)
      detail::fail("slice_axis", "begin = ", begin, ", end = ", end ? std::to_string(*end) : std::string("None"),
                   " select [", b, ", ", e, "), which is not a range within axis ", axis, " of extent ", n,
                   " (array of shape ", shape_, ")");
    if (axis == 0) return slice(b, e);
    Shape s = shape_;
    s[axis] = e - b;
    NDArray out(s, ctx_, dtype_);
    detail::strided_copy(expr::sliced(*this, axis, b, e), out, "slice_axis");
    autograd::detail::record_copy("slice_axis", *this, out, [shape = shape_, axis, b](const NDArray& g) {
      // g written into rows [b, b + len) of zeros, with the axis moved to the front so that those rows are a view
      std::vector<int> front{axis}, back(size_t(shape.ndim()));
      for (int d = 0; d < shape.ndim(); ++d)
        if (d != axis) front.push_back(d);
      for (int d = 0; d < shape.ndim(); ++d) back[size_t(front[size_t(d)])] = d;
      const NDArray gt = g.transpose(front);
      Shape whole = gt.shape();
      whole[0] = shape[axis];
      const int64_t len = g.shape()[axis];
      NDArray full = nd::zeros(whole, g.ctx(), g.dtype()), rows = full.slice(b, b + len);
      detail::copy_array(gt, rows, {});  // recorded as a whole below, not as a write into a view
      autograd::detail::record_copy("slice_axis", gt, full, [b, len](const NDArray& h) { return h.slice(b, b + len); });
      return full.transpose(back);
    });
    return out;
  });
}

inline NDArray NDArray::broadcast_to(const Shape& shape, mixt::source_location where) const {
  return detail::at_location(where, [&] {
    if (is_none()) detail::fail("broadcast_to", "the array is empty (no storage)");
    Shape target;
    bool ok = shape.ndim() >= ndim();
    for (int d = 0; d < shape.ndim(); ++d) {
      const int sd = d - (shape.ndim() - ndim());
      const int64_t have = sd >= 0 ? shape_[sd] : 1;
      const int64_t want = shape[d] == 0 && sd >= 0 ? have : shape[d];  // MXNet: 0 keeps the extent
      ok = ok && (have == want || have == 1);
      target.push_back(want);
    }
    if (!ok)
      detail::fail("broadcast_to", "cannot broadcast an array of shape ", shape_, " to shape ", shape,
                   " (each extent must equal the target's or be 1; shapes align from the right)");
    NDArray out(target, ctx_, dtype_);
    detail::strided_copy(expr::StridedLeaf{{}, *this, {shape_, expr::contiguous_strides(shape_)}, 0}, out,
                         "broadcast_to");
    autograd::detail::record_copy("broadcast_to", *this, out, [shape = shape_](const NDArray& g) {
      NDArray summed = autograd::detail::sum_to(g, shape, false);
      autograd::detail::record_copy("sum_to", g, summed,
                                    [from = g.shape()](const NDArray& h) { return h.broadcast_to(from); });
      return summed;
    });
    return out;
  });
}

inline NDArray NDArray::transpose(std::vector<int> axes, mixt::source_location where) const {
  return detail::at_location(where, [&] {
    if (is_none()) detail::fail("transpose", "the array is empty (no storage)");
    expr::StridedLeaf leaf = expr::permuted(*this, axes);  // checks the axes
    NDArray out(leaf.view.shape, ctx_, dtype_);
    detail::strided_copy(leaf, out, "transpose");
    if (autograd::is_recording() && autograd_entry()) {
      const int n = ndim();
      std::vector<int> inverse(static_cast<size_t>(n));
      for (int d = 0; d < n; ++d)
        inverse[size_t(axes.empty() ? n - 1 - d : (axes[size_t(d)] + n) % n)] = d;
      autograd::detail::record_copy("transpose", *this, out,
                                    [inverse](const NDArray& g) { return g.transpose(inverse); });
    }
    return out;
  });
}

namespace nd {

inline NDArray reshape(const NDArray& a, const std::vector<int64_t>& shape, bool reverse = false,
                       mixt::source_location where = mixt::source_location::current()) {
  return a.reshape(shape, reverse, where);
}
inline NDArray transpose(const NDArray& a, std::vector<int> axes = {},
                         mixt::source_location where = mixt::source_location::current()) {
  return a.transpose(std::move(axes), where);
}
inline NDArray slice_axis(const NDArray& a, int axis, int64_t begin, std::optional<int64_t> end,
                          mixt::source_location where = mixt::source_location::current()) {
  return a.slice_axis(axis, begin, end, where);
}
inline NDArray expand_dims(const NDArray& a, int axis, mixt::source_location where = mixt::source_location::current()) {
  return a.expand_dims(axis, where);
}
inline NDArray squeeze(const NDArray& a, std::vector<int> axes = {},
                       mixt::source_location where = mixt::source_location::current()) {
  return a.squeeze(std::move(axes), where);
}
template <std::integral I>
NDArray squeeze(const NDArray& a, I axis, mixt::source_location where = mixt::source_location::current()) {
  return a.squeeze(axis, where);
}
inline NDArray broadcast_to(const NDArray& a, const Shape& shape,
                            mixt::source_location where = mixt::source_location::current()) {
  return a.broadcast_to(shape, where);
}

/// mx.nd.flatten: the array as (N, product of the other extents), a view; a 1-D array becomes (N, 1).
inline NDArray flatten(const NDArray& a, mixt::source_location where = mixt::source_location::current()) {
  return a.flatten(where);
}

}  // namespace nd
}  // namespace mixt
