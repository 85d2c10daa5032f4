// Shape operators (MXNet's tensor/matrix_op and nn/concat): Flatten, Reshape (with MXNet's codes 0, -1, -2, -3,
// -4 and reverse), transpose, slice_axis, Concat, stack and SliceChannel (split). Forward and backward move elements
// with the block-copy kernels of index_helpers.hpp (every dtype) or reuse the NDArray methods.
#pragma once

#include <optional>

#include "../ndarray/reshape.hpp"
#include "../ndarray/shape_ops.hpp"
#include "index_helpers.hpp"

namespace mixt::op {

// ------------------------------------------------------------------------------------------------- Flatten
template <class = void>
struct FlattenOp {
  static constexpr const char* name = "Flatten";
  struct Param {};
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param&, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    const Shape& d = in[0];
    if (d.ndim() == 0) return;
    int64_t rest = 1;
    for (int k = 1; k < d.ndim(); ++k) rest *= d[k];
    assign_shape(name, "output", out[0], Shape{d[0], rest});
    if (d.ndim() == 2) assign_shape(name, "data", in[0], out[0]);
  }
  static void forward(const Param&, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) { index_detail::copy_elements(in[0], o); });
  }
  static void backward(const Param&, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>&,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    index_detail::write_with(ig[0], req[0], [&](const NDArray& g) { index_detail::copy_elements(og[0], g); });
  }
};
using Flatten = FlattenOp<>;
template <class V> void visit(Flatten::Param&, V&&) {}

// ------------------------------------------------------------------------------------------------- Reshape
template <class = void>
struct ReshapeOp {
  static constexpr const char* name = "Reshape";
  struct Param {
    IntTuple shape{};
    bool reverse = false;
    IntTuple target_shape{};    ///< MXNet's deprecated form, read when shape is empty: a 0 is inferred
    bool keep_highest = false;  ///< with target_shape: the first extent is the input's
  };
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  /// The reshape codes: shape, or target_shape in today's codes (its 0 is -1, keep_highest's first extent 0).
  static IntTuple codes(const Param& p) {
    if (!p.shape.empty() || p.target_shape.empty()) return p.shape;
    IntTuple c = p.target_shape;
    for (int64_t& v : c) v = v == 0 ? -1 : v;
    if (p.keep_highest) c[0] = 0;
    return c;
  }
  static void infer_shape(const Param& param, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    Param p = param;
    p.shape = codes(param);
    if (p.shape.empty()) mixt::detail::fail(name, "attribute 'shape': expected a non-empty tuple, received ()");
    if (p.shape != param.shape) p.reverse = false;  // target_shape has no reverse
    Shape& d = in[0];
    // Backward inference: one unknown input extent follows from a known output.
    if (d.ndim() != 0 && !shape_known(d) && shape_known(out[0])) {
      int unknown = 0, at = -1;
      int64_t known = 1;
      for (int k = 0; k < d.ndim(); ++k) {
        if (d[k] == 0) { ++unknown; at = k; }
        else known *= d[k];
      }
      if (unknown == 1 && out[0].size() % known == 0) d[at] = out[0].size() / known;
    }
    if (shape_known(d)) {
      assign_shape(name, "output", out[0], infer_reshape(d, p.shape, p.reverse, name));
    } else if (d.ndim() != 0 && out[0].ndim() == 0) {
      // An extent 0 is unknown here, or an empty axis in an imperative call: read as empty, the codes give the
      // output (unknown where they copy the 0). Codes that cannot be read that way leave the output to later.
      try {
        out[0] = infer_reshape(d, p.shape, p.reverse, name);
      } catch (const Error&) {
      }
    } else if (d.ndim() == 0) {
      bool all_positive = true;
      for (int64_t c : p.shape) all_positive = all_positive && c > 0;
      if (all_positive) assign_shape(name, "output", out[0], Shape(std::vector<int64_t>(p.shape)));
    }
  }
  static void forward(const Param&, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) { index_detail::copy_elements(in[0], o); });
  }
  static void backward(const Param&, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>&,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    index_detail::write_with(ig[0], req[0], [&](const NDArray& g) { index_detail::copy_elements(og[0], g); });
  }
};
using Reshape = ReshapeOp<>;
template <class V> void visit(Reshape::Param& p, V&& v) {
  v("shape", p.shape); v("reverse", p.reverse); v("target_shape", p.target_shape); v("keep_highest", p.keep_highest);
}

// ----------------------------------------------------------------------------------------------- transpose
template <class = void>
struct TransposeOp {
  static constexpr const char* name = "transpose";
  struct Param {
    IntTuple axes{};  ///< empty: reverse the axes
  };
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  /// The permutation for ndim axes, checked.
  static std::vector<int> perm(const Param& p, int ndim) {
    std::vector<int> a;
    if (p.axes.empty()) {
      for (int d = ndim - 1; d >= 0; --d) a.push_back(d);
      return a;
    }
    if (int(p.axes.size()) != ndim)
      mixt::detail::fail(name, "attribute 'axes': expected ", ndim, " axes for an input of ", ndim,
                         " dimensions, received ", attr::format(p.axes));
    std::vector<bool> seen(size_t(ndim), false);
    for (int64_t x : p.axes) {
      if (x < -ndim || x >= ndim)
        mixt::detail::fail(name, "attribute 'axes': expected axes in [", -ndim, ", ", ndim, "), received ",
                           attr::format(p.axes));
      const int ax = int(x < 0 ? x + ndim : x);
      if (seen[size_t(ax)])
        mixt::detail::fail(name, "attribute 'axes': expected a permutation, received ", attr::format(p.axes),
                           " (axis ", ax, " repeats)");
      seen[size_t(ax)] = true;
      a.push_back(ax);
    }
    return a;
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    const int ndim = in[0].ndim() ? in[0].ndim() : out[0].ndim();
    if (ndim == 0) return;
    std::vector<int> a = perm(p, ndim);
    if (in[0].ndim() == 0) in[0] = Shape(std::vector<int64_t>(size_t(ndim), 0));
    Shape o = Shape(std::vector<int64_t>(size_t(ndim), 0)), i = o;
    for (int d = 0; d < ndim; ++d) o[d] = in[0][a[size_t(d)]];
    assign_shape(name, "output", out[0], o);
    for (int d = 0; d < ndim; ++d) i[a[size_t(d)]] = out[0][d];
    assign_shape(name, "data", in[0], i);
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const std::vector<int> a = perm(p, in[0].ndim());
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) {
      mixt::detail::strided_copy(expr::permuted(in[0], a), o, name);
    });
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const std::vector<int> a = perm(p, in[0].ndim());
    std::vector<int> inv(a.size());
    for (size_t d = 0; d < a.size(); ++d) inv[size_t(a[d])] = int(d);
    index_detail::write_with(ig[0], req[0], [&](const NDArray& g) {
      mixt::detail::strided_copy(expr::permuted(og[0], inv), g, name);
    });
  }
};
using Transpose = TransposeOp<>;
template <class V> void visit(Transpose::Param& p, V&& v) { v("axes", p.axes); }

// ---------------------------------------------------------------------------------------------- slice_axis
template <class = void>
struct SliceAxisOp {
  static constexpr const char* name = "slice_axis";
  struct Param {
    int axis = 0;
    int64_t begin = 0;
    std::optional<int64_t> end = std::nullopt;  ///< None: the extent of the axis
  };
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  /// [b, e) within an axis of extent n, checked.
  static std::pair<int64_t, int64_t> range(const Param& p, int64_t n) {
    const int64_t b = p.begin < 0 ? p.begin + n : p.begin;
    const int64_t e = p.end ? (*p.end < 0 ? *p.end + n : *p.end) : n;
    if (b < 0 || b >= n)
      mixt::detail::fail(name, "attribute 'begin': expected a value in [", -n, ", ", n, ") for an axis of extent ", n,
                         ", received ", p.begin);
    if (e <= b || e > n)
      mixt::detail::fail(name, "attribute 'end': expected a value in (", b, ", ", n, "] (or negative from the end) for "
                         "begin ", p.begin, " and an axis of extent ", n, ", received ", attr::format(p.end));
    return {b, e};
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    const Shape& d = in[0];
    if (d.ndim() == 0) return;
    const int axis = Shape::normalize_axis(p.axis, d.ndim(), name);
    Shape o = d;
    if (d[axis] != 0) {
      auto [b, e] = range(p, d[axis]);
      o[axis] = e - b;
    } else {
      o[axis] = (p.begin >= 0 && p.end && *p.end > p.begin) ? *p.end - p.begin : 0;
    }
    assign_shape(name, "output", out[0], o);
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const NDArray& x = in[0];
    const int axis = Shape::normalize_axis(p.axis, x.ndim(), name);
    const index_detail::AxisSplit s = index_detail::split_at(x.shape(), axis);
    const std::pair<int64_t, int64_t> block = range(p, s.n);
    const int64_t b = block.first, e = block.second;
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) {
      index_detail::block_copy(x, o, s.outer, s.inner, e - b, s.n, b, e - b, 0, name);
    });
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const int axis = Shape::normalize_axis(p.axis, in[0].ndim(), name);
    const index_detail::AxisSplit s = index_detail::split_at(in[0].shape(), axis);
    const std::pair<int64_t, int64_t> block = range(p, s.n);
    const int64_t b = block.first, e = block.second;
    const NDArray g = og[0];
    if (req[0] == Req::add) {  // only the sliced block changes
      NDArray tmp(g.shape(), g.ctx(), g.dtype());
      index_detail::block_copy(ig[0], tmp, s.outer, s.inner, e - b, s.n, b, e - b, 0, name);
      tmp += g;
      index_detail::block_copy(tmp, ig[0], s.outer, s.inner, e - b, e - b, 0, s.n, b, name);
      return;
    }
    if (req[0] == Req::null) return;
    word_switch(g.dtype(), [&](auto w) {
      using W = decltype(w);
      index_detail::push_launch(name, ig[0].size(),
                          index_detail::PadCopyKernel<W>{static_cast<const W*>(g.raw_data()),
                                                   static_cast<W*>(ig[0].raw_data()), e - b, s.inner, s.n, b},
                          {g}, {ig[0]});
    });
  }
};
using SliceAxis = SliceAxisOp<>;
template <class V> void visit(SliceAxis::Param& p, V&& v) { v("axis", p.axis); v("begin", p.begin); v("end", p.end); }

// -------------------------------------------------------------------------------------------------- Concat
template <class = void>
struct ConcatOp {
  static constexpr const char* name = "Concat";
  struct Param {
    int num_args = 0;  ///< the number of inputs (required; nd::Concat sets it)
    int dim = 1;
  };
  static void check(const Param& p) {
    if (p.num_args < 1) mixt::detail::fail(name, "attribute 'num_args': expected >= 1, received ", p.num_args);
  }
  static std::vector<std::string> arguments(const Param& p) {
    check(p);
    std::vector<std::string> a;
    for (int i = 0; i < p.num_args; ++i) a.push_back("arg" + std::to_string(i));
    return a;
  }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    check(p);
    int ndim = out[0].ndim();
    for (const Shape& s : in) if (s.ndim()) { ndim = s.ndim(); break; }
    if (ndim == 0) return;
    const int axis = Shape::normalize_axis(p.dim, ndim, name);
    Shape common(std::vector<int64_t>(size_t(ndim), 0));
    auto merge = [&](const Shape& s, const std::string& arg) {
      if (s.ndim() == 0) return;
      if (s.ndim() != ndim)
        mixt::detail::fail(name, "argument '", arg, "': expected ", ndim, " dimensions, received shape ", s.to_string());
      for (int d = 0; d < ndim; ++d) {
        if (d == axis || s[d] == 0) continue;
        if (common[d] != 0 && common[d] != s[d])
          mixt::detail::fail(name, "argument '", arg, "': expected the other inputs' extent ", common[d],
                             " along axis ", d, " (inputs may differ only along dim ", axis, "), received shape ",
                             s.to_string());
        common[d] = s[d];
      }
    };
    for (size_t i = 0; i < in.size(); ++i) merge(in[i], "arg" + std::to_string(i));
    merge(out[0], "output");
    int64_t sum = 0;
    int unknown = 0, which = -1;
    for (size_t i = 0; i < in.size(); ++i) {
      const int64_t e = in[i].ndim() ? in[i][axis] : 0;
      if (e == 0) { ++unknown; which = int(i); }
      else sum += e;
    }
    int64_t total = out[0].ndim() ? out[0][axis] : 0;
    for (size_t i = 0; i < in.size(); ++i) {
      Shape s = common;
      s[axis] = in[i].ndim() ? in[i][axis] : 0;
      if (int(i) == which && unknown == 1 && total != 0) {
        if (total <= sum)
          mixt::detail::fail(name, "argument 'output': extent ", total, " along dim ", axis,
                             " leaves nothing for input 'arg", i, "' (the others sum to ", sum, ")");
        s[axis] = total - sum;
      }
      assign_shape(name, ("arg" + std::to_string(i)).c_str(), in[i], s);
    }
    Shape o = common;
    o[axis] = unknown == 0 ? sum : 0;
    assign_shape(name, "output", out[0], o);
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const int axis = Shape::normalize_axis(p.dim, out[0].ndim(), name);
    const index_detail::AxisSplit so = index_detail::split_at(out[0].shape(), axis);
    int64_t total = 0;
    for (const NDArray& x : in) total += x.shape()[axis];
    if (total != out[0].shape()[axis])  // an input's extent 0 read as "unknown" left the output's unknown
      mixt::detail::fail(name, "the inputs' extents along dim ", axis, " sum to ", total, ", the output has ",
                         out[0].shape()[axis]);
    index_detail::write_with(out[0], req[0], [&](const NDArray& o) {
      int64_t off = 0;
      for (const NDArray& x : in) {
        const int64_t len = x.shape()[axis];
        index_detail::block_copy(x, o, so.outer, so.inner, len, len, 0, so.n, off, name);
        off += len;
      }
    });
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const int axis = Shape::normalize_axis(p.dim, og[0].ndim(), name);
    const index_detail::AxisSplit so = index_detail::split_at(og[0].shape(), axis);
    int64_t off = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const int64_t len = in[i].shape()[axis];
      index_detail::write_with(ig[i], req[i], [&](const NDArray& g) {
        index_detail::block_copy(og[0], g, so.outer, so.inner, len, so.n, off, len, 0, name);
      });
      off += len;
    }
  }
};
using Concat = ConcatOp<>;
template <class V> void visit(Concat::Param& p, V&& v) { v("num_args", p.num_args); v("dim", p.dim); }

// -------------------------------------------------------------------------------------------- SliceChannel
template <class = void>
struct SliceChannelOp {
  static constexpr const char* name = "SliceChannel";
  struct Param {
    int num_outputs = 0;  ///< required
    int axis = 1;
    bool squeeze_axis = false;
  };
  static void check(const Param& p) {
    if (p.num_outputs < 1)
      mixt::detail::fail(name, "attribute 'num_outputs': expected >= 1, received ", p.num_outputs);
  }
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param& p) {
    check(p);
    std::vector<std::string> o;
    for (int i = 0; i < p.num_outputs; ++i) o.push_back("output" + std::to_string(i));
    return o;
  }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    check(p);
    const int64_t k = p.num_outputs;
    if (in[0].ndim() == 0) {  // backward inference from a known output
      for (const Shape& o : out) {
        if (o.ndim() == 0) continue;
        const int nd = o.ndim() + (p.squeeze_axis ? 1 : 0);
        const int axis = Shape::normalize_axis(p.axis, nd, name);
        std::vector<int64_t> d(o.begin(), o.end());
        if (p.squeeze_axis) d.insert(d.begin() + axis, k);
        else d[size_t(axis)] *= k;
        in[0] = Shape(d);
        break;
      }
      if (in[0].ndim() == 0) return;
    }
    const Shape& d = in[0];
    const int axis = Shape::normalize_axis(p.axis, d.ndim(), name);
    if (d[axis] != 0 && d[axis] % k != 0)
      mixt::detail::fail(name, "argument 'data': expected an extent along axis ", axis, " divisible by num_outputs = ",
                         k, ", received shape ", d.to_string());
    if (p.squeeze_axis && d[axis] != 0 && d[axis] != k)
      mixt::detail::fail(name, "argument 'data': squeeze_axis needs an extent along axis ", axis,
                         " equal to num_outputs = ", k, ", received shape ", d.to_string());
    std::vector<int64_t> o(d.begin(), d.end());
    if (p.squeeze_axis) o.erase(o.begin() + axis);
    else o[size_t(axis)] = d[axis] / k;
    for (int i = 0; i < p.num_outputs; ++i) assign_shape(name, ("output" + std::to_string(i)).c_str(), out[size_t(i)], Shape(o));
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const int axis = Shape::normalize_axis(p.axis, in[0].ndim(), name);
    const index_detail::AxisSplit s = index_detail::split_at(in[0].shape(), axis);
    const int64_t len = s.n / p.num_outputs;
    for (size_t i = 0; i < out.size(); ++i)
      index_detail::write_with(out[i], req[i], [&](const NDArray& o) {
        index_detail::block_copy(in[0], o, s.outer, s.inner, len, s.n, int64_t(i) * len, len, 0, name);
      });
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const int axis = Shape::normalize_axis(p.axis, in[0].ndim(), name);
    const index_detail::AxisSplit s = index_detail::split_at(in[0].shape(), axis);
    const int64_t len = s.n / p.num_outputs;
    index_detail::write_with(ig[0], req[0], [&](const NDArray& g) {
      for (size_t i = 0; i < og.size(); ++i)
        index_detail::block_copy(og[i], g, s.outer, s.inner, len, len, 0, s.n, int64_t(i) * len, name);
    });
  }
};
using SliceChannel = SliceChannelOp<>;
template <class V> void visit(SliceChannel::Param& p, V&& v) {
  v("num_outputs", p.num_outputs); v("axis", p.axis); v("squeeze_axis", p.squeeze_axis);
}

}  // namespace mixt::op

namespace mixt::nd {
/// MXNet's Flatten operator (the autograd-recorded counterpart of nd::flatten's view).
template <int = 0>
NDArray Flatten(const NDArray& data, mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Flatten>({}, {data}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray Reshape(const NDArray& data, const op::Reshape::Param& p,
                mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Reshape>(p, {data}, {}, autograd::is_training(), where)[0];
}
/// The transpose operator (a copy, recorded by autograd); nd::transpose(a, axes) is the NDArray method.
template <int = 0>
NDArray transpose(const NDArray& data, const op::Transpose::Param& p,
                  mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Transpose>(p, {data}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray slice_axis(const NDArray& data, const op::SliceAxis::Param& p,
                   mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::SliceAxis>(p, {data}, {}, autograd::is_training(), where)[0];
}
namespace concat_detail {
/// The inputs without those of extent 0 along `dim`, which add nothing: operator shapes read extent 0 as
/// "unknown", so one of them would make the output's extent unknown (0) too. They must still match the others.
inline std::vector<NDArray> nonempty_parts(const std::vector<NDArray>& data, int dim,
                                           const mixt::source_location& where) {
  auto empty_along = [&](const NDArray& x) {
    const int n = x.ndim();
    return !x.is_none() && n > 0 && dim >= -n && dim < n && x.shape()[dim < 0 ? dim + n : dim] == 0;
  };
  std::vector<NDArray> parts;
  for (const NDArray& x : data)
    if (!empty_along(x)) parts.push_back(x);
  if (parts.empty() || parts.size() == data.size()) return data;
  const NDArray& ref = parts[0];
  for (size_t i = 0; i < data.size(); ++i) {
    const NDArray& x = data[i];
    if (!empty_along(x) || ref.is_none() || x.ndim() != ref.ndim()) continue;
    const int axis = dim < 0 ? dim + x.ndim() : dim;
    for (int d = 0; d < x.ndim(); ++d)
      if (d != axis && x.shape()[d] != ref.shape()[d])
        mixt::detail::fail_at(where, "Concat", "argument 'arg", i, "': expected the other inputs' extent ",
                              ref.shape()[d], " along axis ", d, " (inputs may differ only along dim ", axis,
                              "), received shape ", x.shape());
  }
  return parts;
}
}  // namespace concat_detail

/// Concat of the inputs along p.dim; p.num_args is set from the number of inputs. Inputs of extent 0 along p.dim
/// are left out (NumPy's result), unless every input is.
template <int = 0>
NDArray Concat(const std::vector<NDArray>& data, op::Concat::Param p = {},
               mixt::source_location where = mixt::source_location::current()) {
  const std::vector<NDArray> parts = concat_detail::nonempty_parts(data, p.dim, where);
  p.num_args = int(parts.size());
  return op::invoke<op::Concat>(p, parts, {}, autograd::is_training(), where)[0];
}
/// MXNet's lower-case alias of Concat.
template <int = 0>
NDArray concat(const std::vector<NDArray>& data, op::Concat::Param p = {},
               mixt::source_location where = mixt::source_location::current()) {
  return Concat(data, p, where);
}
/// mx.nd.stack: arrays of one shape joined along a new axis (-(ndim + 1) <= axis <= ndim): expand_dims views
/// concatenated, so autograd records it through those two.
template <int = 0>
NDArray stack(const std::vector<NDArray>& data, int axis = 0,
              mixt::source_location where = mixt::source_location::current()) {
  return mixt::detail::as_operator("stack", where, [&] {
    if (data.empty()) mixt::detail::fail("stack", "expected at least one array, received none");
    std::vector<NDArray> parts;
    for (size_t i = 0; i < data.size(); ++i) {
      if (data[i].is_none()) mixt::detail::fail("stack", "argument 'arg", i, "' is an empty NDArray");
      if (!(data[i].shape() == data[0].shape()))
        mixt::detail::fail("stack", "argument 'arg", i, "': expected shape ", data[0].shape(),
                           " (the first array's), received ", data[i].shape());
      parts.push_back(data[i].expand_dims(axis));
    }
    const int dim = axis < 0 ? axis + data[0].ndim() + 1 : axis;
    return Concat(parts, {.dim = dim});
  });
}
template <int = 0>
std::vector<NDArray> SliceChannel(const NDArray& data, const op::SliceChannel::Param& p,
                                  mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::SliceChannel>(p, {data}, {}, autograd::is_training(), where);
}
template <int = 0>
std::vector<NDArray> split(const NDArray& data, const op::SliceChannel::Param& p,
                           mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::SliceChannel>(p, {data}, {}, autograd::is_training(), where);
}
}  // namespace mixt::nd
