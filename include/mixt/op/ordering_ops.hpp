// Ordering operators (MXNet's tensor/ordering_op): topk, sort, argsort. One launch index per row sorts that row's
// element indices into a workspace (a stable bottom-up merge sort, O(n log n): ties keep their order, as MXNet's
// stable sort does; NaN counts as the greatest value, as in PyTorch) and then writes the inverse permutation
// beside them; gathers read the values, write the indices or the mask, and route the gradient back (one index
// per input-gradient element, through the inverse: no scans, no atomics).
#pragma once

#include <optional>

#include "index_helpers.hpp"

namespace mixt::op {

namespace index_detail {

/// Workspace row `row` (2n int64): [0, n) the indices 0..n-1 of row (o, r) of x (outer, n, inner) sorted by
/// value; [n, 2n) the inverse, the sorted position of each element (the merge's scratch space before that).
template <class T>
struct SortRowsKernel {
  const T* x;
  int64_t* ws;
  int64_t n, inner;
  bool ascend;
  MIXT_HD void operator()(int64_t row) const {
    using C = compute_type_t<T>;
    const int64_t o = row / inner, r = row % inner;
    const T* base = x + o * n * inner + r;
    int64_t* const w = ws + row * 2 * n;
    int64_t *a = w, *b = w + n;
    for (int64_t t = 0; t < n; ++t) a[t] = t;
    for (int64_t width = 1; width < n; width *= 2) {  // merge runs of `width` from a into b
      for (int64_t lo = 0; lo < n; lo += 2 * width) {
        const int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
        int64_t i = lo, j = mid, d = lo;
        while (i < mid && j < hi) {
          const C vi = static_cast<C>(base[a[i] * inner]), vj = static_cast<C>(base[a[j] * inner]);
          b[d++] = strictly_first(vj, vi) ? a[j++] : a[i++];  // the right run only when strictly first
        }
        while (i < mid) b[d++] = a[i++];
        while (j < hi) b[d++] = a[j++];
      }
      int64_t* t = a;
      a = b;
      b = t;
    }
    if (a != w)
      for (int64_t t = 0; t < n; ++t) w[t] = a[t];
    for (int64_t t = 0; t < n; ++t) w[n + w[t]] = t;
  }
  /// Whether u sorts strictly before v. NaN counts as greater than every number, as in PyTorch: last when
  /// ascending, first when descending (so topk takes NaNs first), NaNs among themselves in their order. A plain
  /// `<` would leave each NaN wherever the merge met it.
  template <class C>
  MIXT_HD bool strictly_first(C u, C v) const {
    const bool u_nan = u != u, v_nan = v != v;  // never true for integers
    return ascend ? u < v || (v_nan && !u_nan) : u > v || (u_nan && !v_nan);
  }
};
/// out[o, t, r] = x[o, ws[row, t], r] for t < k.
template <class W>
struct SortedValuesKernel {
  const W* x;
  const int64_t* ws;
  W* out;
  int64_t n, k, inner;
  MIXT_HD void operator()(int64_t i) const {
    const int64_t r = i % inner, t = (i / inner) % k, o = i / (inner * k);
    out[i] = x[(o * n + ws[(o * inner + r) * 2 * n + t]) * inner + r];
  }
};
/// out[o, t, r] = ws[row, t] as T.
template <class T>
struct SortedIndicesKernel {
  const int64_t* ws;
  T* out;
  int64_t n, k, inner;
  MIXT_HD void operator()(int64_t i) const {
    const int64_t r = i % inner, t = (i / inner) % k, o = i / (inner * k);
    out[i] = static_cast<T>(static_cast<compute_type_t<T>>(ws[(o * inner + r) * 2 * n + t]));
  }
};
/// out[o, j, r] = 1 if j is among the row's first k sorted positions, else 0.
template <class T>
struct TopKMaskKernel {
  const int64_t* ws;
  T* out;
  int64_t n, k, inner;
  MIXT_HD void operator()(int64_t i) const {
    const int64_t r = i % inner, t = i / inner, j = t % n, o = t / n;
    const bool hit = ws[(o * inner + r) * 2 * n + n + j] < k;  // j's sorted position
    out[i] = static_cast<T>(static_cast<compute_type_t<T>>(hit ? 1 : 0));
  }
};
/// gx[o, j, r] = g[o, t, r] where ws[row, t] == j for some t < k, else 0.
template <class W>
struct SortedBackwardKernel {
  const W* g;
  const int64_t* ws;
  W* gx;
  int64_t n, k, inner;
  MIXT_HD void operator()(int64_t i) const {
    const int64_t r = i % inner, t = i / inner, j = t % n, o = t / n;
    const int64_t s = ws[(o * inner + r) * 2 * n + n + j];  // j's sorted position
    gx[i] = s < k ? g[(o * k + s) * inner + r] : W(0);
  }
};

/// The rows to sort: x seen as (outer, n, inner) around the axis (None: the flattened array).
struct SortPlan {
  AxisSplit s;
  int axis = 0;
  bool flat = false;
};
inline SortPlan sort_plan(const char* op, const Shape& x, const std::optional<int>& axis) {
  SortPlan p;
  if (!axis) {
    p.flat = true;
    p.s.n = x.size();
    return p;
  }
  if (x.ndim() == 0) mixt::detail::fail(op, "argument 'data': expected at least 1 dimension, received shape ()");
  p.axis = Shape::normalize_axis(*axis, x.ndim(), op);
  p.s = split_at(x, p.axis);
  return p;
}
/// k as used: k < 1 means the whole axis; k > n is an error.
inline int64_t effective_k(const char* op, int k, int64_t n) {
  if (k < 1) return n;
  if (k > n) mixt::detail::fail(op, "attribute 'k': expected at most ", n, " (the extent of the axis), received ", k);
  return k;
}
// Kernel-launching helpers are templates so that they, and their kernels for every dtype, are compiled only
// into programs that call them.
/// The sort workspace (rows x 2n, int64: sorted indices, then sorted positions) of x.
template <class = void>
NDArray sort_rows(const NDArray& x, const SortPlan& sp, bool ascend, const char* op) {
  const int64_t rows = sp.s.outer * sp.s.inner;
  NDArray ws(Shape{rows, 2 * sp.s.n}, x.ctx(), DType::int64);
  dtype_switch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    push_launch(op, rows * (sp.s.n > 0 ? 1 : 0),
                SortRowsKernel<T>{static_cast<const T*>(x.raw_data()), ws.data<int64_t>(), sp.s.n, sp.s.inner, ascend},
                {x}, {ws});
  });
  return ws;
}
/// The output shape: x's with the axis extent k (the flattened array: (k,)).
inline Shape sorted_shape(const Shape& x, const SortPlan& sp, int64_t k) {
  if (sp.flat) return Shape{k};
  Shape o = x;
  o[sp.axis] = k;
  return o;
}
template <class = void>
void write_values(const NDArray& x, const NDArray& ws, const SortPlan& sp, int64_t k, const NDArray& o,
                  const char* op) {
  word_switch(x.dtype(), [&](auto w) {
    using W = decltype(w);
    push_launch(op, o.size(),
                SortedValuesKernel<W>{static_cast<const W*>(x.raw_data()), ws.data<int64_t>(),
                                      static_cast<W*>(o.raw_data()), sp.s.n, k, sp.s.inner},
                {x, ws}, {o});
  });
}
/// The largest index dtype t holds exactly, every smaller one included (MXNet raises when indices do not fit).
inline int64_t largest_exact_index(DType t) {
  switch (t) {
    case DType::uint8: return 255;
    case DType::int8: return 127;
    case DType::bfloat16: return 256;
    case DType::float16: return 2048;
    case DType::float32: return int64_t(1) << 24;
    case DType::int32: return 2147483647;
    default: return int64_t(1) << 53;  // float64; int64 holds every index an array can have
  }
}

template <class = void>
void write_indices(const NDArray& ws, const SortPlan& sp, int64_t k, const NDArray& o, const char* op) {
  if (sp.s.n - 1 > largest_exact_index(o.dtype()))
    mixt::detail::fail(op, "attribute 'dtype': ", dtype_name(o.dtype()), " cannot represent the indices of an axis ",
                       "of extent ", sp.s.n, " (up to ", largest_exact_index(o.dtype()), ")");
  dtype_switch(o.dtype(), [&](auto tag) {
    using T = decltype(tag);
    push_launch(op, o.size(),
                SortedIndicesKernel<T>{ws.data<int64_t>(), static_cast<T*>(o.raw_data()), sp.s.n, k, sp.s.inner},
                {ws}, {o});
  });
}
template <class = void>
void sorted_backward(const NDArray& g, const NDArray& ws, const SortPlan& sp, int64_t k, const NDArray& gx,
                     const char* op) {
  word_switch(gx.dtype(), [&](auto w) {
    using W = decltype(w);
    push_launch(op, gx.size(),
                SortedBackwardKernel<W>{static_cast<const W*>(g.raw_data()), ws.data<int64_t>(),
                                        static_cast<W*>(gx.raw_data()), sp.s.n, k, sp.s.inner},
                {g, ws}, {gx});
  });
}

}  // namespace index_detail

// ---------------------------------------------------------------------------------------------------- topk
template <class = void>
struct TopKOp {
  static constexpr const char* name = "topk";
  struct Param {
    std::optional<int> axis = -1;  ///< None: the flattened array
    int k = 1;                     ///< < 1: the whole axis
    std::string ret_typ = "indices";  ///< value, indices, mask or both (value and indices)
    bool is_ascend = false;
    std::string dtype = "float32";  ///< of the indices
  };
  static void check(const Param& p) {
    if (p.ret_typ != "value" && p.ret_typ != "indices" && p.ret_typ != "mask" && p.ret_typ != "both")
      mixt::detail::fail(name, "attribute 'ret_typ': expected one of value, indices, mask, both; received '", p.ret_typ,
                         "'");
  }
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param& p) {
    if (p.ret_typ == "both") return {"output0", "output1"};
    return {"output"};
  }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    check(p);
    if (in[0].ndim() == 0) return;
    const index_detail::SortPlan sp = index_detail::sort_plan(name, in[0], p.axis);
    if (p.ret_typ == "mask") {
      assign_shape(name, "output", out[0], in[0]);
      return;
    }
    if (sp.s.n == 0 && !sp.flat) {  // unknown extent
      assign_shape(name, "output", out[0], index_detail::sorted_shape(in[0], sp, p.k < 1 ? 0 : p.k));
    } else {
      const int64_t k = index_detail::effective_k(name, p.k, sp.s.n);
      for (size_t i = 0; i < out.size(); ++i) assign_shape(name, "output", out[i], index_detail::sorted_shape(in[0], sp, k));
    }
    if (out.size() > 1) assign_shape(name, "output", out[1], out[0]);
  }
  static void infer_type(const Param& p, std::vector<DType>& in, std::vector<DType>& out, std::vector<DType>&) {
    const DType idx = index_detail::dtype_attr(name, p.dtype);
    if (p.ret_typ == "indices") out[0] = idx;
    else out[0] = in[0];
    if (out.size() > 1) out[1] = idx;
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    check(p);
    const NDArray& x = in[0];
    const index_detail::SortPlan sp = index_detail::sort_plan(name, x.shape(), p.axis);
    const int64_t k = index_detail::effective_k(name, p.k, sp.s.n);
    const NDArray ws = index_detail::sort_rows(x, sp, p.is_ascend, name);
    if (p.ret_typ == "mask") {
      index_detail::write_with(out[0], req[0], [&](const NDArray& o) {
        dtype_switch(o.dtype(), [&](auto tag) {
          using T = decltype(tag);
          index_detail::push_launch(name, o.size(),
                              index_detail::TopKMaskKernel<T>{ws.data<int64_t>(), static_cast<T*>(o.raw_data()), sp.s.n, k,
                                                        sp.s.inner},
                              {ws}, {o});
        });
      });
      return;
    }
    if (p.ret_typ == "indices") {
      index_detail::write_with(out[0], req[0], [&](const NDArray& o) { index_detail::write_indices(ws, sp, k, o, name); });
      return;
    }
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) { index_detail::write_values(x, ws, sp, k, o, name); });
    if (p.ret_typ == "both")
      index_detail::write_with(out[1], req[1], [&](const NDArray& o) { index_detail::write_indices(ws, sp, k, o, name); });
  }
  /// The values route their gradient back to where they came from; indices and mask have none.
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    if (p.ret_typ != "value" && p.ret_typ != "both") return index_detail::zero_grad(ig[0], req[0]);
    const NDArray& x = in[0];
    const index_detail::SortPlan sp = index_detail::sort_plan(name, x.shape(), p.axis);
    const int64_t k = index_detail::effective_k(name, p.k, sp.s.n);
    const NDArray ws = index_detail::sort_rows(x, sp, p.is_ascend, name);
    const NDArray g = og[0];
    index_detail::write_with(ig[0], req[0], [&](const NDArray& gx) { index_detail::sorted_backward(g, ws, sp, k, gx, name); });
  }
};
using TopK = TopKOp<>;
template <class V> void visit(TopK::Param& p, V&& v) {
  v("axis", p.axis); v("k", p.k); v("ret_typ", p.ret_typ); v("is_ascend", p.is_ascend); v("dtype", p.dtype);
}

// ---------------------------------------------------------------------------------------------------- sort
template <class = void>
struct SortOp {
  static constexpr const char* name = "sort";
  struct Param {
    std::optional<int> axis = -1;  ///< None: the flattened array
    bool is_ascend = true;
  };
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    if (in[0].ndim() == 0) return;
    const index_detail::SortPlan sp = index_detail::sort_plan(name, in[0], p.axis);
    assign_shape(name, "output", out[0], sp.flat ? Shape{in[0].size()} : in[0]);
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const index_detail::SortPlan sp = index_detail::sort_plan(name, in[0].shape(), p.axis);
    const NDArray ws = index_detail::sort_rows(in[0], sp, p.is_ascend, name);
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) { index_detail::write_values(in[0], ws, sp, sp.s.n, o, name); });
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const index_detail::SortPlan sp = index_detail::sort_plan(name, in[0].shape(), p.axis);
    const NDArray ws = index_detail::sort_rows(in[0], sp, p.is_ascend, name);
    const NDArray g = og[0];
    index_detail::write_with(ig[0], req[0], [&](const NDArray& gx) { index_detail::sorted_backward(g, ws, sp, sp.s.n, gx, name); });
  }
};
using Sort = SortOp<>;
template <class V> void visit(Sort::Param& p, V&& v) { v("axis", p.axis); v("is_ascend", p.is_ascend); }

// ------------------------------------------------------------------------------------------------- argsort
template <class = void>
struct ArgSortOp {
  static constexpr const char* name = "argsort";
  struct Param {
    std::optional<int> axis = -1;  ///< None: the flattened array
    bool is_ascend = true;
    std::string dtype = "float32";
  };
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    if (in[0].ndim() == 0) return;
    const index_detail::SortPlan sp = index_detail::sort_plan(name, in[0], p.axis);
    assign_shape(name, "output", out[0], sp.flat ? Shape{in[0].size()} : in[0]);
  }
  static void infer_type(const Param& p, std::vector<DType>&, std::vector<DType>& out, std::vector<DType>&) {
    out[0] = index_detail::dtype_attr(name, p.dtype);
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const index_detail::SortPlan sp = index_detail::sort_plan(name, in[0].shape(), p.axis);
    const NDArray ws = index_detail::sort_rows(in[0], sp, p.is_ascend, name);
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) { index_detail::write_indices(ws, sp, sp.s.n, o, name); });
  }
  static void backward(const Param&, const OpContext&, const std::vector<NDArray>&, const std::vector<NDArray>&,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    index_detail::zero_grad(ig[0], req[0]);
  }
};
using ArgSort = ArgSortOp<>;
template <class V> void visit(ArgSort::Param& p, V&& v) { v("axis", p.axis); v("is_ascend", p.is_ascend); v("dtype", p.dtype); }

}  // namespace mixt::op

namespace mixt::nd {
/// topk's first output (ret_typ both: the values; topk_both gives both).
template <int = 0>
NDArray topk(const NDArray& data, const op::TopK::Param& p = {},
             mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::TopK>(p, {data}, {}, autograd::is_training(), where)[0];
}
/// topk with ret_typ = both: {values, indices}.
template <int = 0>
std::vector<NDArray> topk_both(const NDArray& data, op::TopK::Param p = {},
                               mixt::source_location where = mixt::source_location::current()) {
  p.ret_typ = "both";
  return op::invoke<op::TopK>(p, {data}, {}, autograd::is_training(), where);
}
template <int = 0>
NDArray sort(const NDArray& data, const op::Sort::Param& p = {},
             mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Sort>(p, {data}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray argsort(const NDArray& data, const op::ArgSort::Param& p = {},
                mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::ArgSort>(p, {data}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
