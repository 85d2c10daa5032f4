// FullyConnected (MXNet's nn/fully_connected-inl.h): y = x W^T + b, one GEMM plus a broadcast add.
// With flatten (default) data (N, d1, ..., dk) is read as (N, d1*...*dk); without, data (..., K) gives (..., H).
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
      if (p.flatten && data.ndim() == 1) K = data[0];
      // Backward inference: an unknown input extent comes from the weight.
      if (K == 0 && in[1].ndim() == 2 && in[1][1] != 0 && (data.ndim() == 2 || !p.flatten)) {
        data[data.ndim() - 1] = in[1][1];
        K = in[1][1];
      }
      assign_shape(name, "weight", in[1], Shape{H, K});
      Shape o;
      if (p.flatten) o = data.ndim() == 1 ? Shape{1, H} : Shape{data[0], H};
      else { o = data; o[o.ndim() - 1] = H; }
      assign_shape(name, "output", out[0], o);
    } else if (in[1].ndim() != 0) {
      assign_shape(name, "weight", in[1], Shape{H, 0});
    }
    if (!p.no_bias) assign_shape(name, "bias", in[2], Shape{H});
  }

  /// data viewed as the 2-D matrix the GEMM reads.
  static NDArray as_matrix(const NDArray& x, const Param& p) {
    if (p.flatten) return x.reshape({x.ndim() ? x.shape()[0] : 1, -1});
    return x.reshape({-1, x.shape()[x.ndim() - 1]});
  }

  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    if (req[0] == Req::null) return;
    NDArray x = as_matrix(in[0], p), y = out[0].reshape({-1, int64_t(p.num_hidden)});
    write(y, req[0], nd::dot(x, in[1], false, true));
    if (!p.no_bias) y += in[2].reshape({1, int64_t(p.num_hidden)});
  }

  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    NDArray g = og[0].reshape({-1, int64_t(p.num_hidden)});
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
                              const op::FullyConnected::Param& p) {
  return op::invoke<op::FullyConnected>(p, {data, weight, bias})[0];
}
template <int = 0>
NDArray FullyConnected(const NDArray& data, const NDArray& weight, const op::FullyConnected::Param& p) {
  op::FullyConnected::Param q = p;
  q.no_bias = true;
  return op::invoke<op::FullyConnected>(q, {data, weight})[0];
}
}  // namespace mixt::nd
