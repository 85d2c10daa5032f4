// Indexing and element-wise selection operators (MXNet's tensor/indexing_op, broadcast_reduce_op, control_flow):
// take, pick, one_hot, clip, where. Gathers read one source element per output element; the backward passes of
// take and pick gather per input-gradient element (take's through its indices grouped by row: index_groups.hpp;
// no scatter, no atomics).
#pragma once

#include <optional>

#include "../expr/reduce.hpp"
#include "index_groups.hpp"
#include "index_helpers.hpp"

namespace mixt::op {

namespace index_detail {

/// take: out[o, m, r] = a[o, fix(idx[m]), r].
template <class W>
struct TakeKernel {
  const W* a;
  const int64_t* idx;
  W* out;
  int64_t m, n, inner;
  int mode;
  MIXT_HD void operator()(int64_t i) const {
    const int64_t r = i % inner, t = i / inner, k = t % m, o = t / m;
    out[i] = a[(o * n + fix_index(idx[k], n, mode)) * inner + r];
  }
};
/// keys[k] = fix(idx[k]): the row of a that position k of take reads.
struct TakeKeysKernel {
  const int64_t* idx;
  int64_t* keys;
  int64_t n;
  int mode;
  MIXT_HD void operator()(int64_t k) const { keys[k] = fix_index(idx[k], n, mode); }
};
/// take's gradient: ga[o, j, r] = sum over k with keys[k] == j of g[o, k, r], in k's order (index_groups.hpp).
template <class T>
struct TakeBackwardKernel {
  const T* g;
  const int64_t* keys;
  const int64_t* sorted;
  T* ga;
  int64_t m, n, inner;
  MIXT_HD void operator()(int64_t i) const {
    using C = compute_type_t<T>;
    const int64_t r = i % inner, t = i / inner, j = t % n, o = t / n;
    C acc = C(0);
    for (int64_t p = group_begin(keys, sorted, m, j); p < m && keys[sorted[p]] == j; ++p)
      acc += static_cast<C>(g[(o * m + sorted[p]) * inner + r]);
    ga[i] = static_cast<T>(acc);
  }
};
/// pick: out[o, r] = x[o, fix(idx[o, r]), r].
template <class W>
struct PickKernel {
  const W* x;
  const int64_t* idx;
  W* out;
  int64_t n, inner;
  int mode;
  MIXT_HD void operator()(int64_t i) const {
    const int64_t r = i % inner, o = i / inner;
    out[i] = x[(o * n + fix_index(idx[i], n, mode)) * inner + r];
  }
};
/// pick's gradient: gx[o, j, r] = g[o, r] where j is the picked index, else 0.
template <class W>
struct PickBackwardKernel {
  const W* g;
  const int64_t* idx;
  W* gx;
  int64_t n, inner;
  int mode;
  MIXT_HD void operator()(int64_t i) const {
    const int64_t r = i % inner, t = i / inner, j = t % n, o = t / n;
    const int64_t at = o * inner + r;
    gx[i] = fix_index(idx[at], n, mode) == j ? g[at] : W(0);
  }
};
/// one_hot: out[m, k] = idx[m] == k ? on : off.
template <class T>
struct OneHotKernel {
  const int64_t* idx;
  T* out;
  int64_t depth;
  T on, off;
  MIXT_HD void operator()(int64_t i) const { out[i] = idx[i / depth] == i % depth ? on : off; }
};

}  // namespace index_detail

// ---------------------------------------------------------------------------------------------------- take
template <class = void>
struct TakeOp {
  static constexpr const char* name = "take";
  struct Param {
    int axis = 0;
    std::string mode = "clip";  ///< clip, wrap or raise
  };
  static std::vector<std::string> arguments(const Param&) { return {"a", "indices"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  /// The indices may have any dtype (read as integers); the output has a's.
  static void infer_type(const Param&, std::vector<DType>& in, std::vector<DType>& out, std::vector<DType>&) {
    out[0] = in[0];
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    index_detail::index_mode(name, p.mode, true);
    const Shape &a = in[0], &idx = in[1];
    if (a.ndim() == 0 || idx.ndim() == 0) {
      if (a.ndim()) Shape::normalize_axis(p.axis, a.ndim(), name);
      return;
    }
    const int axis = Shape::normalize_axis(p.axis, a.ndim(), name);
    std::vector<int64_t> o;
    for (int d = 0; d < axis; ++d) o.push_back(a[d]);
    for (int64_t e : idx) o.push_back(e);
    for (int d = axis + 1; d < a.ndim(); ++d) o.push_back(a[d]);
    assign_shape(name, "output", out[0], Shape(o));
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    index_detail::check_has_axis(name, "indices", in[1]);
    const NDArray& a = in[0];
    const int axis = Shape::normalize_axis(p.axis, a.ndim(), name);
    const int mode = int(index_detail::index_mode(name, p.mode, true));
    const index_detail::AxisSplit s = index_detail::split_at(a.shape(), axis);
    const NDArray idx = index_detail::as_index(in[1]);
    if (mode == int(index_detail::IndexMode::raise))
      for (int64_t j : idx.to_vector<int64_t>())
        if (j < 0 || j >= s.n)
          mixt::detail::fail(name, "argument 'indices': expected values in [0, ", s.n, ") with mode 'raise', received ", j);
    if (s.n == 0 && idx.size() != 0)
      mixt::detail::fail(name, "argument 'a': cannot take from an empty axis ", axis);
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) {
      word_switch(a.dtype(), [&](auto w) {
        using W = decltype(w);
        index_detail::push_launch(name, o.size(),
                            index_detail::TakeKernel<W>{static_cast<const W*>(a.raw_data()), idx.data<int64_t>(),
                                                  static_cast<W*>(o.raw_data()), idx.size(), s.n, s.inner, mode},
                            {a, idx}, {o});
      });
    });
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const NDArray& a = in[0];
    const int axis = Shape::normalize_axis(p.axis, a.ndim(), name);
    const int mode = int(index_detail::index_mode(name, p.mode, true));
    const index_detail::AxisSplit s = index_detail::split_at(a.shape(), axis);
    const NDArray idx = index_detail::as_index(in[1]);
    const NDArray g = og[0];
    const NDArray keys(Shape{idx.size()}, idx.ctx(), DType::int64);
    index_detail::push_launch(name, idx.size(),
                              index_detail::TakeKeysKernel{idx.data<int64_t>(), keys.data<int64_t>(), s.n, mode}, {idx},
                              {keys});
    const NDArray ws = index_detail::group_by_key(keys, name);
    index_detail::write_with(ig[0], req[0], [&](const NDArray& ga) {
      dtype_switch(ga.dtype(), [&](auto tag) {
        using T = decltype(tag);
        index_detail::push_launch(name, ga.size(),
                                  index_detail::TakeBackwardKernel<T>{static_cast<const T*>(g.raw_data()),
                                                                      keys.data<int64_t>(), ws.data<int64_t>(),
                                                                      static_cast<T*>(ga.raw_data()), idx.size(), s.n,
                                                                      s.inner},
                                  {g, keys, ws}, {ga});
      });
    });
    if (ig.size() > 1) index_detail::zero_grad(ig[1], req[1]);
  }
};
using Take = TakeOp<>;
template <class V> void visit(Take::Param& p, V&& v) { v("axis", p.axis); v("mode", p.mode); }

// ---------------------------------------------------------------------------------------------------- pick
template <class = void>
struct PickOp {
  static constexpr const char* name = "pick";
  struct Param {
    std::optional<int> axis = -1;  ///< None (the flattened array) is not supported
    bool keepdims = false;
    std::string mode = "clip";  ///< clip or wrap
  };
  static std::vector<std::string> arguments(const Param&) { return {"data", "index"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  /// The index may have any dtype (read as integers); the output has the data's.
  static void infer_type(const Param&, std::vector<DType>& in, std::vector<DType>& out, std::vector<DType>&) {
    out[0] = in[0];
  }
  static int get_axis(const Param& p, int ndim) {
    if (!p.axis) mixt::detail::fail(name, "attribute 'axis': expected an axis, received None (not supported)");
    return Shape::normalize_axis(*p.axis, ndim, name);
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    index_detail::index_mode(name, p.mode, false);
    const Shape& d = in[0];
    if (d.ndim() == 0) return;
    const int axis = get_axis(p, d.ndim());
    std::vector<int64_t> o(d.begin(), d.end());
    if (p.keepdims) o[size_t(axis)] = 1;
    else o.erase(o.begin() + axis);
    assign_shape(name, "index", in[1], Shape(o));
    assign_shape(name, "output", out[0], Shape(o));
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const NDArray& x = in[0];
    const index_detail::AxisSplit s = index_detail::split_at(x.shape(), get_axis(p, x.ndim()));
    const int mode = int(index_detail::index_mode(name, p.mode, false));
    const NDArray idx = index_detail::as_index(in[1]);
    if (s.n == 0 && idx.size() != 0)  // nothing to pick from: clip and wrap have no element to land on
      mixt::detail::fail(name, "argument 'data': cannot pick from the empty axis ", *p.axis, " of shape ", x.shape());
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) {
      word_switch(x.dtype(), [&](auto w) {
        using W = decltype(w);
        index_detail::push_launch(name, o.size(),
                            index_detail::PickKernel<W>{static_cast<const W*>(x.raw_data()), idx.data<int64_t>(),
                                                  static_cast<W*>(o.raw_data()), s.n, s.inner, mode},
                            {x, idx}, {o});
      });
    });
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const NDArray& x = in[0];
    const index_detail::AxisSplit s = index_detail::split_at(x.shape(), get_axis(p, x.ndim()));
    const int mode = int(index_detail::index_mode(name, p.mode, false));
    const NDArray idx = index_detail::as_index(in[1]);
    const NDArray g = og[0];
    index_detail::write_with(ig[0], req[0], [&](const NDArray& gx) {
      word_switch(gx.dtype(), [&](auto w) {
        using W = decltype(w);
        index_detail::push_launch(name, gx.size(),
                            index_detail::PickBackwardKernel<W>{static_cast<const W*>(g.raw_data()), idx.data<int64_t>(),
                                                          static_cast<W*>(gx.raw_data()), s.n, s.inner, mode},
                            {g, idx}, {gx});
      });
    });
    if (ig.size() > 1) index_detail::zero_grad(ig[1], req[1]);
  }
};
using Pick = PickOp<>;
template <class V> void visit(Pick::Param& p, V&& v) { v("axis", p.axis); v("keepdims", p.keepdims); v("mode", p.mode); }

// ------------------------------------------------------------------------------------------------- one_hot
template <class = void>
struct OneHotOp {
  static constexpr const char* name = "one_hot";
  struct Param {
    int depth = 0;  ///< required
    double on_value = 1;
    double off_value = 0;
    std::string dtype = "float32";
  };
  static std::vector<std::string> arguments(const Param&) { return {"indices"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    if (p.depth < 1) mixt::detail::fail(name, "attribute 'depth': expected >= 1, received ", p.depth);
    if (in[0].ndim() == 0) return;
    std::vector<int64_t> o(in[0].begin(), in[0].end());
    o.push_back(p.depth);
    assign_shape(name, "output", out[0], Shape(o));
  }
  static void infer_type(const Param& p, std::vector<DType>&, std::vector<DType>& out, std::vector<DType>&) {
    out[0] = index_detail::dtype_attr(name, p.dtype);
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    index_detail::check_has_axis(name, "indices", in[0]);
    const NDArray idx = index_detail::as_index(in[0]);
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) {
      dtype_switch(o.dtype(), [&](auto tag) {
        using T = decltype(tag);
        index_detail::push_launch(name, o.size(),
                            index_detail::OneHotKernel<T>{idx.data<int64_t>(), static_cast<T*>(o.raw_data()), int64_t(p.depth),
                                                    index_detail::from_double<T>(p.on_value),
                                                    index_detail::from_double<T>(p.off_value)},
                            {idx}, {o});
      });
    });
  }
  static void backward(const Param&, const OpContext&, const std::vector<NDArray>&, const std::vector<NDArray>&,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    index_detail::zero_grad(ig[0], req[0]);
  }
};
using OneHot = OneHotOp<>;
template <class V> void visit(OneHot::Param& p, V&& v) {
  v("depth", p.depth); v("on_value", p.on_value); v("off_value", p.off_value); v("dtype", p.dtype);
}

// ---------------------------------------------------------------------------------------------------- clip
template <class = void>
struct ClipOp {
  static constexpr const char* name = "clip";
  struct Param {
    double a_min = 0;  ///< required in MXNet
    double a_max = 0;
  };
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static std::vector<std::pair<int, int>> inplace(const Param&) { return {{0, 0}}; }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    if (p.a_min > p.a_max)
      mixt::detail::fail(name, "attribute 'a_max': expected >= a_min = ", p.a_min, ", received ", p.a_max);
    same_shape(name, in, out);
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    write(out[0], req[0], mixt::clip(in[0], p.a_min, p.a_max));
  }
  /// MXNet's clip gradient: g where a_min <= x <= a_max, else 0.
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const NDArray& x = in[0];
    write(ig[0], req[0], og[0] * (x >= p.a_min) * (x <= p.a_max));
  }
};
using Clip = ClipOp<>;
template <class V> void visit(Clip::Param& p, V&& v) { v("a_min", p.a_min); v("a_max", p.a_max); }

// --------------------------------------------------------------------------------------------------- where
template <class = void>
struct WhereOp {
  static constexpr const char* name = "where";
  struct Param {};
  static std::vector<std::string> arguments(const Param&) { return {"condition", "x", "y"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  /// The condition may have any dtype (nonzero is true); x and y share one, which the output takes.
  static void infer_type(const Param&, std::vector<DType>& in, std::vector<DType>& out, std::vector<DType>&) {
    if (in[2] != in[1])
      mixt::detail::fail(name, "argument 'y': expected dtype ", dtype_name(in[1]), " (x's), received ",
                         dtype_name(in[2]));
    out[0] = in[1];
  }
  static void infer_shape(const Param&, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    assign_shape(name, "y", in[2], in[1]);
    assign_shape(name, "x", in[1], in[2]);
    assign_shape(name, "output", out[0], in[1]);
    assign_shape(name, "x", in[1], out[0]);
    assign_shape(name, "y", in[2], out[0]);
    const Shape &c = in[0], &x = in[1];
    if (c.ndim() == 1 && x.ndim() > 1) {  // a 1-D condition selects rows
      if (c[0] != 0 && x[0] != 0 && c[0] != x[0])
        mixt::detail::fail(name, "argument 'condition': expected shape ", x.to_string(), " or (", x[0],
                           ",), received ", c.to_string());
    } else {
      assign_shape(name, "condition", in[0], in[1]);
    }
  }
  /// The condition in x's dtype, shaped to broadcast against x.
  static NDArray cond_view(const NDArray& c, const NDArray& x) {
    NDArray cc = c.dtype() == x.dtype() ? c : c.astype(x.dtype());
    if (c.ndim() == 1 && x.ndim() > 1) {
      std::vector<int64_t> s(size_t(x.ndim()), 1);
      s[0] = c.size();
      cc = cc.reshape(s);
    }
    return cc;
  }
  static void forward(const Param&, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    write(out[0], req[0], mixt::where(cond_view(in[0], in[1]), in[1], in[2]));
  }
  static void backward(const Param&, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const NDArray c = cond_view(in[0], in[1]);
    index_detail::zero_grad(ig[0], req[0]);
    write(ig[1], req[1], mixt::where(c, og[0], 0.f));
    write(ig[2], req[2], mixt::where(c, 0.f, og[0]));
  }
};
using Where = WhereOp<>;
template <class V> void visit(Where::Param&, V&&) {}

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray take(const NDArray& a, const NDArray& indices, const op::Take::Param& p = {},
             mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Take>(p, {a, indices}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray pick(const NDArray& data, const NDArray& index, const op::Pick::Param& p = {},
             mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Pick>(p, {data, index}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray one_hot(const NDArray& indices, const op::OneHot::Param& p,
                mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::OneHot>(p, {indices}, {}, autograd::is_training(), where)[0];
}
/// The clip operator (recorded as one node); nd::clip(x, a_min, a_max) is the fused expression.
template <int = 0>
NDArray clip(const NDArray& data, const op::Clip::Param& p,
             mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Clip>(p, {data}, {}, autograd::is_training(), where)[0];
}
/// The where operator (also a 1-D condition selecting rows); nd::where(c, x, y) is the fused expression.
template <int = 0>
NDArray where(const NDArray& condition, const NDArray& x, const NDArray& y, const op::Where::Param& p,
              mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Where>(p, {condition, x, y}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
