// softmax, log_softmax and softmin along an axis (MXNet's nn/softmax-inl.h): the maximum is subtracted first (the
// minimum for a negative temperature), so inputs near the float limits stay finite. temperature T divides the
// input; 0 and non-finite T are errors (MXNet returns NaN). softmin is softmax with T negated.
//   softmax:      y = exp((x - max) / T) / sum(...);        dx = y (g - sum(g y)) / T
//   log_softmax:  y = (x - max) / T - log(sum(exp(...)));   dx = (g - exp(y) sum(g)) / T
// use_length (MXNet's masked softmax) takes a second input `length`, of data's shape without `axis` and of any
// dtype: along the axis only the first length[...] positions take part, and the others output 0 (log_softmax
// too) with gradient 0; a length of 0 gives a line of zeros. The length gets a zero gradient.
// dtype (MXNet's: None, float16, float32 or float64) sets the output's dtype, for float16 training that wants its
// probabilities in float32. The arithmetic runs in the wider of the data's and the output's dtype, and the data's
// gradient comes back in the data's dtype.
// On a GPU with cuDNN, temperature 1 without use_length runs on cuDNN (op/cuda/cudnn_softmax.hpp); MXNet's
// softmax has no cudnn_off attribute, so the process-wide switch (MIXT_CUDNN=0, cudnn::set_enabled) is the way to
// the own kernels there.
#pragma once

#include <cmath>
#include <optional>
#include <string>

#include "../core/config.hpp"
#include "../expr/reduce.hpp"
#include "operator.hpp"
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
#include "cuda/cudnn_softmax.hpp"
#endif

namespace mixt::op {

struct SoftmaxParam {
  int axis = -1;
  std::optional<double> temperature = std::nullopt;  // initialized, so that -Wextra is quiet when it is skipped
  bool use_length = false;
  std::optional<std::string> dtype = std::nullopt;  ///< the output's: float16, float32 or float64; None: the data's
};
template <class V> void visit(SoftmaxParam& p, V&& v) {
  v("axis", p.axis); v("temperature", p.temperature); v("use_length", p.use_length); v("dtype", p.dtype);
}

/// softmin (Min) is MXNet's softmax of -x: the same kernels with the temperature's sign flipped.
template <bool Log, bool Min = false>
struct SoftmaxOp {
  static_assert(!(Log && Min), "MXNet has no log_softmin");
  static constexpr const char* name = Min ? "softmin" : Log ? "log_softmax" : "softmax";
  using Param = SoftmaxParam;
  static std::vector<std::string> arguments(const Param& p) {
    if (p.use_length) return {"data", "length"};
    return {"data"};
  }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    // MXNet divides by it unchecked, so 0 gives NaN or inf; a negative temperature is the softmax of -x / |T|.
    if (p.temperature && !(std::isfinite(*p.temperature) && *p.temperature != 0))
      mixt::detail::fail(name, "attribute 'temperature': expected a finite nonzero value, received ", *p.temperature);
    if (in[0].ndim()) {
      const int axis = Shape::normalize_axis(p.axis, in[0].ndim(), name);
      if (p.use_length && shape_known(in[0])) {
        std::vector<int64_t> lines(in[0].begin(), in[0].end());
        lines.erase(lines.begin() + axis);
        assign_shape(name, "length", in[1], Shape(lines));
      }
    }
    same_shape(name, in, out);
  }
  /// The length may have any dtype (it is compared with positions); the output has the data's unless `dtype`.
  static void infer_type(const Param& p, std::vector<DType>& in, std::vector<DType>& out, std::vector<DType>&) {
    out[0] = in[0];
    if (!p.dtype) return;
    if (*p.dtype == "float16") out[0] = DType::float16;
    else if (*p.dtype == "float32") out[0] = DType::float32;
    else if (*p.dtype == "float64") out[0] = DType::float64;
    else
      mixt::detail::fail(name, "attribute 'dtype': expected None, float16, float32 or float64, received '", *p.dtype,
                         "'");
  }
  /// The dtype the arithmetic runs in: the wider of the data's and the output's.
  static DType compute_dtype(DType data, DType output) {
    return dtype_size(output) > dtype_size(data) ? output : data;
  }
  static NDArray as_dtype(const NDArray& a, DType t) { return a.dtype() == t ? a : a.astype(t); }
  /// write() of a value computed in another dtype than the destination's.
  static void write_as(const NDArray& out, Req req, const NDArray& value) {
    write(out, req, as_dtype(value, out.dtype()));
  }
  /// use_length's mask over x's shape: 1 where the position along `axis` is below the line's length, else 0.
  static NDArray length_mask(const NDArray& x, const NDArray& length, int axis) {
    std::vector<int64_t> at_axis(size_t(x.ndim()), 1);
    at_axis[size_t(axis)] = x.shape()[axis];
    const NDArray positions = nd::arange(0, double(x.shape()[axis]), 1, 1, x.ctx(), x.dtype());
    const NDArray len = (length.dtype() == x.dtype() ? length : length.astype(x.dtype())).expand_dims(axis);
    return expr::evaluate(positions.view(Shape(at_axis), positions.byte_offset()) < len);
  }
  static void forward(const Param& p, const OpContext& ctx, const std::vector<NDArray>& in,
                      const std::vector<Req>& req, const std::vector<NDArray>& out, const std::vector<NDArray>& aux) {
    const int axis = Shape::normalize_axis(p.axis, in[0].ndim(), name);
    if (in[0].size() == 0) return;  // an empty axis (or batch): an empty output, not an empty max
    const DType c = compute_dtype(in[0].dtype(), out[0].dtype());
    if (in[0].dtype() != c || out[0].dtype() != c) {  // dtype: run in c, write the output in its own dtype
      if (req[0] == Req::null) return;
      NDArray y = nd::empty(out[0].shape(), out[0].ctx(), c);
      std::vector<NDArray> ins = in;
      ins[0] = as_dtype(in[0], c);
      forward(p, ctx, ins, {Req::write}, {y}, aux);
      write_as(out[0], req[0], y);
      return;
    }
    const NDArray& x = in[0];
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (req[0] != Req::null && !Min && p.temperature.value_or(1.0) == 1.0 && !p.use_length &&
        cudnn::softmax_forward(name, Log, x, axis, out[0], req[0]))
      return;
#endif
    const double inv_t = (Min ? -1.0 : 1.0) / p.temperature.value_or(1.0);
    // Shifted so that the largest (x / T) is 0: by max(x), or by min(x) = -max(-x) for a negative temperature.
    const float sign = inv_t > 0 ? 1.f : -1.f;
    if (p.use_length) {  // the same over the masked positions; a fully masked line gives zeros, not NaN
      const NDArray m = length_mask(x, in[1], axis);
      NDArray shifted = expr::evaluate((x - nd::max(where(m, x * sign, -INFINITY), {axis}, true) * sign) * inv_t);
      NDArray e = expr::evaluate(where(m, exp(shifted), 0.f));
      NDArray s = nd::sum(e, {axis}, true);
      if constexpr (Log) write(out[0], req[0], where(m, shifted - log(s), 0.f));
      else write(out[0], req[0], where(m, e / s, 0.f));
      return;
    }
    NDArray shifted = expr::evaluate((x - nd::max(x * sign, {axis}, true) * sign) * inv_t);
    NDArray e = expr::evaluate(exp(shifted));
    NDArray s = nd::sum(e, {axis}, true);
    if constexpr (Log) write(out[0], req[0], shifted - log(s));
    else write(out[0], req[0], e / s);
  }
  static void backward(const Param& p, const OpContext& ctx, const std::vector<NDArray>& og,
                       const std::vector<NDArray>& in, const std::vector<NDArray>& out, const std::vector<Req>& req,
                       const std::vector<NDArray>& ig, const std::vector<NDArray>& aux) {
    const int axis = Shape::normalize_axis(p.axis, out[0].ndim(), name);
    if (p.use_length && req.size() > 1) write(ig[1], req[1], 0.f);
    if (out[0].size() == 0) return;
    const DType c = compute_dtype(ig[0].dtype(), out[0].dtype());
    if (ig[0].dtype() != c || out[0].dtype() != c) {  // dtype: as the forward, in c; the gradient in data's dtype
      if (req[0] == Req::null) return;
      NDArray gx = nd::empty(ig[0].shape(), ig[0].ctx(), c);
      backward(p, ctx, {as_dtype(og[0], c)}, in, {as_dtype(out[0], c)}, {Req::write}, {gx}, aux);
      write_as(ig[0], req[0], gx);
      return;
    }
    const NDArray &g = og[0], &y = out[0];
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (req[0] != Req::null && !Min && p.temperature.value_or(1.0) == 1.0 && !p.use_length &&
        cudnn::softmax_backward(name, Log, y, g, axis, ig[0], req[0]))
      return;
#endif
    const double inv_t = (Min ? -1.0 : 1.0) / p.temperature.value_or(1.0);
    // Masked positions hold y = 0: softmax's formula gives them 0 already; log_softmax's needs the mask.
    if (Log && p.use_length) {
      const NDArray m = length_mask(y, in[1], axis);
      write(ig[0], req[0], where(m, (g - exp(y) * nd::sum(where(m, g, 0.f), {axis}, true)) * inv_t, 0.f));
      return;
    }
    if constexpr (Log) write(ig[0], req[0], (g - exp(y) * nd::sum(g, {axis}, true)) * inv_t);
    else write(ig[0], req[0], y * (g - nd::sum(g * y, {axis}, true)) * inv_t);
  }
};

using Softmax = SoftmaxOp<false>;
using LogSoftmax = SoftmaxOp<true>;
using Softmin = SoftmaxOp<false, true>;

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
template <int = 0>
NDArray softmin(const NDArray& data, const op::SoftmaxParam& p = {},
                mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Softmin>(p, {data}, {}, autograd::is_training(), where)[0];
}
/// With use_length = true: softmax(data, length, {.use_length = true}), MXNet's masked softmax.
template <int = 0>
NDArray softmax(const NDArray& data, const NDArray& length, const op::SoftmaxParam& p,
                mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Softmax>(p, {data, length}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray log_softmax(const NDArray& data, const NDArray& length, const op::SoftmaxParam& p,
                    mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::LogSoftmax>(p, {data, length}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
