// Reductions: sum, mean, prod, max, min, norm, argmax, argmin over an NDArray or a fused expression, with MXNet's
// parameters (axis: one axis or several, negative counting from the end, none meaning all; keepdims; exclude:
// reduce over the axes NOT listed). Each call is an evaluation point: it returns a new NDArray and pushes ONE
// engine operation, whose kernel evaluates the expression under the reduction element by element (no temporary).
//
// Shapes: reducing every axis without keepdims gives a 0-d array, shape () (NumPy's and MXNet's np-mode
// convention). argmax/argmin take one axis (none: the index into the flattened input) and return float32 indices.
#pragma once

#include <algorithm>
#include <concepts>
#include <optional>
#include <string>
#include <vector>

#include "../autograd/state.hpp"
#include "../core/source_location.hpp"
#include "cpu/reduce.hpp"
#include "evaluate.hpp"
#include "operators.hpp"
#include "program.hpp"
#include "reducers.hpp"
#if MIXT_USE_CUDA
#include "cuda/reduce.cuh"
#endif

namespace mixt::expr {

/// The `axis` argument of a reduction: one axis, a list of axes, or nothing (every axis).
struct Axes {
  std::vector<int> list;

  Axes() = default;
  Axes(int axis) : list{axis} {}
  Axes(std::initializer_list<int> axes) : list(axes) {}
  Axes(std::vector<int> axes) : list(std::move(axes)) {}
};

/// Everything about a reduction that does not depend on the expression's type, computed by non-template code.
struct ReducePrep {
  Shape out_shape;
  Shape keep_shape;  ///< out_shape as keepdims gives it: 1 on the reduced axes (what autograd broadcasts back)
  ReduceSpace space;
  Layout layout;  ///< space.layout with the leaves' strides, for building the plan
  detail::InlineVector<engine::Var*, kInlineLeaves> reads;
  bool nothing_to_do = false;  ///< the output is empty
};

inline std::string axes_string(const std::vector<int>& axes) {
  std::string s = "(";
  for (size_t i = 0; i < axes.size(); ++i) s += (i ? ", " : "") + std::to_string(axes[i]);
  return s + (axes.size() == 1 ? ",)" : ")");
}

/// Which axes of an ndim-dimensional input are reduced. Errors name the op and the offending axis.
inline std::array<bool, kMaxDim> reduced_axes(int ndim, const std::vector<int>& axes, bool exclude, const char* op) {
  std::array<bool, kMaxDim> red{};
  if (axes.empty()) {  // MXNet: no axis means every axis, with or without exclude
    for (int d = 0; d < ndim; ++d) red[d] = true;
    return red;
  }
  for (int a : axes) {
    int d = Shape::normalize_axis(a, ndim, op);
    if (red[d])
      detail::fail(op, "axis ", a, " appears more than once in axis=", axes_string(axes),
                   " (expected distinct axes; ", a, " and another entry both name axis ", d, ")");
    red[d] = true;
  }
  if (exclude)
    for (int d = 0; d < ndim; ++d) red[d] = !red[d];
  return red;
}

/// The index space of a reduction of `in` (see ReduceSpace); `layout` receives it with the leaves' strides
/// permuted to match.
inline ReduceSpace reduce_space(const Shape& in, const std::array<bool, kMaxDim>& red,
                                const LeafViews& leaves, Layout& layout) {
  const int n = in.ndim();
  ReduceSpace sp;
  int suffix = n;  // the trailing kept axes (extent-1 axes go anywhere)
  while (suffix > 0 && (!red[suffix - 1] || in[suffix - 1] == 1)) --suffix;
  int perm[kMaxDim], np = 0;
  for (int d = 0; d < suffix; ++d)
    if (!red[d]) perm[np++] = d, sp.outer *= in[d];
  for (int d = 0; d < suffix; ++d)
    if (red[d]) perm[np++] = d, sp.reduced *= in[d];
  for (int d = suffix; d < n; ++d) perm[np++] = d, sp.inner *= in[d];
  Shape permuted;
  for (int i = 0; i < n; ++i) permuted.push_back(in[perm[i]]);
  LeafViews views;
  for (const LeafView& v : leaves) {
    Strides full{}, p{};
    const int off = n - v.shape.ndim();
    for (int d = 0; d < n; ++d) {
      const int ld = d - off;
      full[d] = (ld >= 0 && v.shape[ld] == in[d] && in[d] != 1) ? v.strides[ld] : 0;
    }
    for (int i = 0; i < n; ++i) p[i] = full[perm[i]];
    views.push_back(LeafView{permuted, p});
  }
  layout = make_layout(permuted, views);
  sp.layout = layout;
  return sp;
}

inline ReducePrep prepare_reduce(const Shape& in, const LeafList& leaves, const std::vector<int>& axes,
                                 bool keepdims, bool exclude, const char* op, bool needs_values,
                                 const mixt::source_location& where) {
  ReducePrep prep;
  detail::at_location(where, [&] {
    std::array<bool, kMaxDim> red = reduced_axes(in.ndim(), axes, exclude, op);
    for (int d = 0; d < in.ndim(); ++d) {
      if (!red[d]) prep.out_shape.push_back(in[d]);
      else if (keepdims) prep.out_shape.push_back(1);
      prep.keep_shape.push_back(red[d] ? 1 : in[d]);
    }
    prep.space = reduce_space(in, red, leaves.views, prep.layout);
  });
  const int64_t outputs = prep.space.outer * prep.space.inner;
  if (outputs == 0) {
    prep.nothing_to_do = true;
    return prep;
  }
  if (prep.space.reduced == 0 && needs_values)
    detail::fail_at(where, op, "cannot reduce zero elements: the input of shape ", in, " is empty along the reduced ",
                    "axes axis=", axes.empty() ? std::string("None") : axes_string(axes),
                    " (expected at least one element; ", op, " of nothing is undefined)");
  for (const NDArray* a : leaves.arrays) prep.reads.push_back(a->var());  // the engine drops duplicates
  return prep;
}

/// Pushes out = Red(e) over `axes` and returns out.
template <class Red, FusedNode E>
NDArray reduce(const E& e, const std::vector<int>& axes, bool keepdims, bool exclude,
               const mixt::source_location& where) {
  const LeafList leaves = collect_leaves(e, Red::name, where);
  const NDArray& first = first_array(leaves, Red::name);
  const Shape in = value_shape(e, where);
  check_leaves(leaves, first.dtype(), first.ctx(), Red::name, where);
  ReducePrep prep = prepare_reduce(in, leaves, axes, keepdims, exclude, Red::name, Red::needs_values, where);
  NDArray out(prep.out_shape, first.ctx(), Red::returns_index ? DType::float32 : first.dtype());
  if constexpr (!Red::returns_index) {  // an index has no gradient: argmax and argmin stay off the tape
    if (autograd::is_recording()) {  // the recorder (autograd/record_reduction.hpp) decides whether e is tracked
      ProgramDraft p;
      to_program(p, e);
      autograd::detail::state().reduction_recorder(p, Red::name, prep.keep_shape, out, where);
    }
  }
  if (prep.nothing_to_do) return out;
  expr_dtype_switch(first.dtype(), Red::name, [&](auto tag) {
    using T = decltype(tag);
    using ET = compute_type_t<T>;
    using OutT = std::conditional_t<Red::returns_index, float, T>;
    int k = 0;
    auto plan = e.template plan<ET, T>(prep.layout, k);
    OutT* dst = static_cast<OutT*>(out.raw_data());
    engine::Engine::get().push(
        // Raw pointers suffice: memory is freed through the engine, after every operation on its variable.
        [plan, dst, space = prep.space](engine::RunContext rc) {
#if MIXT_USE_CUDA
          if (rc.ctx.is_gpu()) return cuda::reduce<Red, ET>(plan, dst, space, rc.stream);
#endif
          (void)rc;
          cpu::reduce<Red, ET>(plan, dst, space);
        },
        out.ctx(), prep.reads, {out.var()}, engine::FnProperty::normal, Red::name, where);
  }, where);
  return out;
}

#define MIXT_REDUCTION(NAME)                                                                              \
  template <ArrayOperand E>                                                                               \
  NDArray NAME(const E& e, Axes axis = {}, bool keepdims = false, bool exclude = false,                   \
               mixt::source_location where = mixt::source_location::current()) {                           \
    return reduce<red::NAME>(as_node(e), axis.list, keepdims, exclude, where);                            \
  }

/// sum(e, axis, keepdims, exclude) and the others: e reduced over `axis` (none: every axis).
MIXT_REDUCTION(sum)
MIXT_REDUCTION(mean)
MIXT_REDUCTION(prod)
MIXT_REDUCTION(max)
MIXT_REDUCTION(min)
/// The L2 norm over `axis` (MXNet's norm with ord=2).
MIXT_REDUCTION(norm)
#undef MIXT_REDUCTION

/// MXNet's norm attributes: norm(e, NormParam{.ord = 1, .axis = 1}).
struct NormParam {
  int ord = 2;     ///< 1: the sum of absolute values; 2: the L2 norm (MXNet's two)
  Axes axis = {};  ///< none: every axis
  bool keepdims = false;
};
/// norm with MXNet's `ord`. Errors name norm, whichever reduction computes it. P is deduced, so that only a
/// NormParam matches: a braced list such as norm(x, {1, -1}) stays the axes of the overload above.
template <ArrayOperand E, std::same_as<NormParam> P>
NDArray norm(const E& e, const P& p, mixt::source_location where = mixt::source_location::current()) {
  return mixt::detail::as_operator("norm", where, [&] {
    if (p.ord == 1) return reduce<red::sum>(as_node(abs(e)), p.axis.list, p.keepdims, false, where);
    if (p.ord != 2) mixt::detail::fail("norm", "attribute 'ord': expected 1 or 2, received ", p.ord);
    return reduce<red::norm>(as_node(e), p.axis.list, p.keepdims, false, where);
  });
}

/// The index (as float32) of the first maximum along `axis`; without an axis, into the flattened input.
template <ArrayOperand E>
NDArray argmax(const E& e, std::optional<int> axis = std::nullopt, bool keepdims = false,
               mixt::source_location where = mixt::source_location::current()) {
  return reduce<red::argmax>(as_node(e), axis ? std::vector<int>{*axis} : std::vector<int>{}, keepdims, false, where);
}
/// The index (as float32) of the first minimum along `axis`; without an axis, into the flattened input.
template <ArrayOperand E>
NDArray argmin(const E& e, std::optional<int> axis = std::nullopt, bool keepdims = false,
               mixt::source_location where = mixt::source_location::current()) {
  return reduce<red::argmin>(as_node(e), axis ? std::vector<int>{*axis} : std::vector<int>{}, keepdims, false, where);
}

}  // namespace mixt::expr

namespace mixt {
using expr::Axes;
using expr::NormParam;
using expr::sum; using expr::mean; using expr::prod; using expr::max; using expr::min; using expr::norm;
using expr::argmax; using expr::argmin;
namespace nd {
using expr::sum; using expr::mean; using expr::prod; using expr::max; using expr::min; using expr::norm;
using expr::argmax; using expr::argmin;
}  // namespace nd
}  // namespace mixt
