// LinearRegressionOutput, LogisticRegressionOutput, MAERegressionOutput: loss heads whose backward ignores the
// head gradient and returns grad_scale / num_output * d(out, label), num_output = label.size() / label.shape[0]
// (MXNet's regression_output-inl.h):
//   Linear:   out = data,            d = out - label
//   Logistic: out = sigmoid(data),   d = out - label
//   MAE:      out = data,            d = sign(out - label)
#pragma once

#include "operator.hpp"

namespace mixt::op {

struct RegressionParam {
  float grad_scale = 1;
};
template <class V> void visit(RegressionParam& p, V&& v) { v("grad_scale", p.grad_scale); }

enum class RegressionKind { linear, logistic, mae };

template <RegressionKind Kind>
struct RegressionOutput {
  static constexpr const char* name = Kind == RegressionKind::linear   ? "LinearRegressionOutput"
                                      : Kind == RegressionKind::logistic ? "LogisticRegressionOutput"
                                                                        : "MAERegressionOutput";
  using Param = RegressionParam;
  static constexpr bool is_loss = true;
  static std::vector<std::string> arguments(const Param&) { return {"data", "label"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param&, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    assign_shape(name, "output", out[0], in[0]);
    // The label holds data's elements, as (N, ...) or flat (N,) when data is (N, 1).
    if (in[1].ndim() == 0 && shape_known(in[0])) {
      in[1] = in[0].ndim() == 2 && in[0][1] == 1 ? Shape{in[0][0]} : in[0];
    } else if (in[1].ndim() != 0 && shape_known(in[0]) &&
               (in[1].size() != in[0].size() || (in[0].ndim() > 0 && in[1][0] != in[0][0]))) {
      // MXNet checks the batch extent too: the gradient's scale divides by the label's elements per row.
      mixt::detail::fail(name, "argument 'label': expected ", in[0].size(), " elements in ", in[0][0],
                         " rows (data shape ", in[0], "), received shape ", in[1]);
    }
  }
  static void forward(const Param&, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    if constexpr (Kind == RegressionKind::logistic) write(out[0], req[0], sigmoid(in[0]));
    else write(out[0], req[0], in[0]);
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>&, const std::vector<NDArray>& in,
                       const std::vector<NDArray>& out, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const NDArray label = in[1].view(out[0].shape(), in[1].byte_offset());  // not reshape: its code 0 copies
    int64_t rows = in[1].ndim() ? in[1].shape()[0] : 1;
    float scale = p.grad_scale / float(rows ? in[1].size() / rows : 1);
    if constexpr (Kind == RegressionKind::mae) write(ig[0], req[0], sign(out[0] - label) * scale);
    else write(ig[0], req[0], (out[0] - label) * scale);
    if (req.size() > 1) write(ig[1], req[1], 0.f);
  }
};

using LinearRegressionOutput = RegressionOutput<RegressionKind::linear>;
using LogisticRegressionOutput = RegressionOutput<RegressionKind::logistic>;
using MAERegressionOutput = RegressionOutput<RegressionKind::mae>;

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray LinearRegressionOutput(const NDArray& data, const NDArray& label, const op::RegressionParam& p = {},
                               mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::LinearRegressionOutput>(p, {data, label}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray LogisticRegressionOutput(const NDArray& data, const NDArray& label, const op::RegressionParam& p = {},
                                 mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::LogisticRegressionOutput>(p, {data, label}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray MAERegressionOutput(const NDArray& data, const NDArray& label, const op::RegressionParam& p = {},
                            mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::MAERegressionOutput>(p, {data, label}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
