// FullyConnected (MXNet's nn/fully_connected-inl.h): y = x W^T + b, one GEMM plus a broadcast add.
// With flatten (default) data (N, d1, ..., dk) is read as (N, d1*...*dk), so 1-D data (N,) is N rows of one
// feature (as MXNet's shape inference has it); without, data (..., K) gives (..., H).
#pragma once

#include "../blas/blas.hpp"
#include "../expr/reduce.hpp"
#include "operator.hpp"

namespace mixt::op {

template <class = void>
struct FullyConnectedOp {
  static constexpr const char* name = "FullyConnected";
  struct Param {
    int num_hidden = 0;
    bool no_bias = false;
    bool flatten = true;
  };
  static std::vector<std::string> arguments(const Param& p) {
    if (p.no_bias) return {"data", "weight"};
    return {"data", "weight", "bias"};
  }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }

  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    if (p.num_hidden < 1) mixt::detail::fail(name, "attribute 'num_hidden': expected >= 1, received ", p.num_hidden);
    const int64_t H = p.num_hidden;
    Shape& data = in[0];
    if (data.ndim() != 0) {
      if (data.ndim() < 1) mixt::detail::fail(name, "argument 'data': expected at least 1 dimension");
      int64_t K = 1;
      if (p.flatten) for (int d = 1; d < data.ndim(); ++d) K *= data[d];
      else K = data[data.ndim() - 1];
      // Backward inference: an unknown input extent comes from the weight.
      if (K == 0 && in[1].ndim() == 2 && in[1][1] != 0 && (data.ndim() == 2 || !p.flatten)) {
        data[data.ndim() - 1] = in[1][1];
        K = in[1][1];
      }
      assign_shape(name, "weight", in[1], Shape{H, K});
      Shape o;
      if (p.flatten) o = Shape{data[0], H};
      else { o = data; o[o.ndim() - 1] = H; }
      assign_shape(name, "output", out[0], o);
    } else if (in[1].ndim() != 0) {
      assign_shape(name, "weight", in[1], Shape{H, 0});
    }
    if (!p.no_bias) assign_shape(name, "bias", in[2], Shape{H});
  }

  /// data viewed as the 2-D matrix the GEMM reads, as infer_shape sees it. A view with
  /// the extents spelled out: reshape's codes would read a batch of 0 as "copy this extent".
  static NDArray as_matrix(const NDArray& x, const Param& p) {
    const Shape& s = x.shape();
    const int n = s.ndim();
    if (n == 0)  // shape inference reads () as unknown, so a 0-d array gets this far
      mixt::detail::fail(name, "argument 'data': expected at least 1 dimension, received shape ()");
    int64_t rows = 1, cols = 1;
    if (p.flatten) {
      rows = s[0];
      for (int d = 1; d < n; ++d) cols *= s[d];
    } else {
      cols = s[n - 1];
      for (int d = 0; d < n - 1; ++d) rows *= s[d];
    }
    return x.view(Shape{rows, cols}, x.byte_offset());
  }
  /// The output (or its gradient) as (rows, num_hidden).
  static NDArray rows_of(const NDArray& y, const Param& p) {
    return y.view(Shape{y.size() / p.num_hidden, int64_t(p.num_hidden)}, y.byte_offset());
  }

  /// The GEMM's dtypes, checked here so that the error names this operator rather than the dot inside it.
  static void check_dtypes(const std::vector<NDArray>& in) {
    const DType t = in[0].dtype();
    if (t != DType::float32 && t != DType::float64)
      mixt::detail::fail(name, "argument 'data': expected dtype float32 or float64, received ", dtype_name(t));
  }

  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    check_dtypes(in);
    if (req[0] == Req::null) return;
    NDArray x = as_matrix(in[0], p), y = rows_of(out[0], p);
    write(y, req[0], nd::dot(x, in[1], false, true));
    if (!p.no_bias) y += in[2].reshape({1, int64_t(p.num_hidden)});
  }

  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    NDArray g = rows_of(og[0], p);
    NDArray x = as_matrix(in[0], p);
    if (req[0] != Req::null) write(as_matrix(ig[0], p), req[0], nd::dot(g, in[1]));
    if (req[1] != Req::null) write(ig[1], req[1], nd::dot(g, x, true, false));
    if (!p.no_bias && req[2] != Req::null) write(ig[2], req[2], nd::sum(g, {0}));
  }
};
using FullyConnected = FullyConnectedOp<>;
template <class V> void visit(FullyConnected::Param& p, V&& v) {
  v("num_hidden", p.num_hidden); v("no_bias", p.no_bias); v("flatten", p.flatten);
}

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray FullyConnected(const NDArray& data, const NDArray& weight, const NDArray& bias,
                       const op::FullyConnected::Param& p,
                       mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::FullyConnected>(p, {data, weight, bias}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray FullyConnected(const NDArray& data, const NDArray& weight, const op::FullyConnected::Param& p,
                       mixt::source_location where = mixt::source_location::current()) {
  op::FullyConnected::Param q = p;
  q.no_bias = true;
  return op::invoke<op::FullyConnected>(q, {data, weight}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
