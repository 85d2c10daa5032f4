// softmax and log_softmax along an axis (MXNet's nn/softmax-inl.h): the maximum is subtracted first (the minimum
// for a negative temperature), so inputs near the float limits stay finite. temperature T divides the input; 0 and
// non-finite T are errors (MXNet returns NaN).
//   softmax:      y = exp((x - max) / T) / sum(...);        dx = y (g - sum(g y)) / T
//   log_softmax:  y = (x - max) / T - log(sum(exp(...)));   dx = (g - exp(y) sum(g)) / T
// On a GPU with cuDNN, temperature 1 runs on cuDNN (op/cuda/cudnn_softmax.hpp); MXNet's softmax has no cudnn_off
// attribute, so the process-wide switch (MIXT_CUDNN=0, cudnn::set_enabled) is the way to the own kernels there.
#pragma once

#include <cmath>
#include <optional>

#include "../core/config.hpp"
#include "../expr/reduce.hpp"
#include "operator.hpp"
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
#include "cuda/cudnn_softmax.hpp"
#endif

namespace mixt::op {

struct SoftmaxParam {
  int axis = -1;
  std::optional<double> temperature;
};
template <class V> void visit(SoftmaxParam& p, V&& v) { v("axis", p.axis); v("temperature", p.temperature); }

template <bool Log>
struct SoftmaxOp {
  static constexpr const char* name = Log ? "log_softmax" : "softmax";
  using Param = SoftmaxParam;
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    // MXNet divides by it unchecked, so 0 gives NaN or inf; a negative temperature is the softmax of -x / |T|.
    if (p.temperature && !(std::isfinite(*p.temperature) && *p.temperature != 0))
      mixt::detail::fail(name, "attribute 'temperature': expected a finite nonzero value, received ", *p.temperature);
    if (in[0].ndim()) Shape::normalize_axis(p.axis, in[0].ndim(), name);
    same_shape(name, in, out);
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const NDArray& x = in[0];
    const int axis = Shape::normalize_axis(p.axis, x.ndim(), name);
    if (x.size() == 0) return;  // an empty axis (or batch): an empty output, not an empty max
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (req[0] != Req::null && p.temperature.value_or(1.0) == 1.0 &&
        cudnn::softmax_forward(name, Log, x, axis, out[0], req[0]))
      return;
#endif
    const double inv_t = 1.0 / p.temperature.value_or(1.0);
    // Shifted so that the largest (x / T) is 0: by max(x), or by min(x) = -max(-x) for a negative temperature.
    const float sign = inv_t > 0 ? 1.f : -1.f;
    NDArray shifted = expr::evaluate((x - nd::max(x * sign, {axis}, true) * sign) * inv_t);
    NDArray e = expr::evaluate(exp(shifted));
    NDArray s = nd::sum(e, {axis}, true);
    if constexpr (Log) write(out[0], req[0], shifted - log(s));
    else write(out[0], req[0], e / s);
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>&,
                       const std::vector<NDArray>& out, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const NDArray &g = og[0], &y = out[0];
    const int axis = Shape::normalize_axis(p.axis, y.ndim(), name);
    if (y.size() == 0) return;
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (req[0] != Req::null && p.temperature.value_or(1.0) == 1.0 &&
        cudnn::softmax_backward(name, Log, y, g, axis, ig[0], req[0]))
      return;
#endif
    const double inv_t = 1.0 / p.temperature.value_or(1.0);
    if constexpr (Log) write(ig[0], req[0], (g - exp(y) * nd::sum(g, {axis}, true)) * inv_t);
    else write(ig[0], req[0], y * (g - nd::sum(g * y, {axis}, true)) * inv_t);
  }
};

using Softmax = SoftmaxOp<false>;
using LogSoftmax = SoftmaxOp<true>;

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray softmax(const NDArray& data, const op::SoftmaxParam& p = {},
                mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Softmax>(p, {data}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray log_softmax(const NDArray& data, const op::SoftmaxParam& p = {},
                    mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::LogSoftmax>(p, {data}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
