// sum_to(g, leaf, transposed): a leaf's gradient from the gradient of the expression that read it. g is summed
// over the axes along which the leaf was broadcast and, when the expression read the leaf transposed (x.T()),
// transposed back.
//
// One small kernel rather than the general reduction and a transposed copy: it is compiled into every program
// that records an expression, and those two cost such a program more than a second of compile time. Each output
// element sums its own inputs in double; a leaf with few elements broadcast over a huge gradient therefore sums on
// few threads.
#pragma once

#include <cstdint>

#include "../core/dtype.hpp"
#include "../expr/expr_dtypes.hpp"
#include "../expr/launch.hpp"

namespace mixt::autograd::detail {

/// out[o] = sum of g over the reduced axes at the kept position of o. Kernel index i enumerates the kept axes of g
/// in g's order; keep_out_stride places each kept axis in the leaf's own (possibly reversed) layout.
template <class T>
struct SumToKernel {
  const T* g;
  T* out;
  int n_keep = 0, n_reduce = 0;
  int64_t keep_extent[kMaxDim] = {}, keep_g_stride[kMaxDim] = {}, keep_out_stride[kMaxDim] = {};
  int64_t reduce_extent[kMaxDim] = {}, reduce_g_stride[kMaxDim] = {};

  MIXT_HD void operator()(int64_t i) const {
    int64_t g_off = 0, out_off = 0;
    for (int k = n_keep - 1; k >= 0; --k) {
      const int64_t x = i % keep_extent[k];
      i /= keep_extent[k];
      g_off += x * keep_g_stride[k];
      out_off += x * keep_out_stride[k];
    }
    double sum = 0;
    int64_t idx[kMaxDim] = {};
    for (;;) {  // odometer over the reduced axes
      sum += static_cast<double>(static_cast<compute_type_t<T>>(g[g_off]));
      int k = n_reduce - 1;
      for (; k >= 0; --k) {
        g_off += reduce_g_stride[k];
        if (++idx[k] < reduce_extent[k]) break;
        g_off -= reduce_g_stride[k] * reduce_extent[k];
        idx[k] = 0;
      }
      if (k < 0) break;
    }
    out[out_off] = static_cast<T>(static_cast<compute_type_t<T>>(sum));
  }
};

/// g (contiguous) reduced to `leaf`'s shape; `transposed`: the expression saw the leaf with its axes reversed.
inline NDArray sum_to(const NDArray& g, const Shape& leaf, bool transposed) {
  const int n = g.ndim(), m = leaf.ndim();
  const auto leaf_strides = leaf.strides();
  const auto g_strides = g.shape().strides();
  NDArray out(leaf, g.ctx(), g.dtype());
  expr::expr_dtype_switch(g.dtype(), "backward", [&](auto tag) {
    using T = decltype(tag);
    SumToKernel<T> k{static_cast<const T*>(g.raw_data()), out.data<T>()};
    for (int d = 0; d < n; ++d) {
      const int v = d - (n - m);  // the axis of the leaf as the expression saw it (right-aligned)
      const int own = transposed ? m - 1 - v : v;  // that axis in the leaf's own layout
      const bool kept = v >= 0 && !(leaf[own] == 1 && g.shape()[d] != 1);
      if (kept) {
        k.keep_extent[k.n_keep] = g.shape()[d];
        k.keep_g_stride[k.n_keep] = g_strides[d];
        k.keep_out_stride[k.n_keep++] = leaf_strides[own];
      } else {
        k.reduce_extent[k.n_reduce] = g.shape()[d];
        k.reduce_g_stride[k.n_reduce++] = g_strides[d];
      }
    }
    const int64_t count = out.size();
    if (count == 0) return;
    if (g.size() == 0) return mixt::detail::fill(out, 0.0, {});  // summed over an empty axis
    engine::Engine::get().push([k, count](engine::RunContext rc) { expr::launch(rc, count, k); }, g.ctx(),
                               {g.var()}, {out.var()}, engine::FnProperty::normal, "backward");
  });
  return out;
}

}  // namespace mixt::autograd::detail
