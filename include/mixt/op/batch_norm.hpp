// BatchNorm (MXNet's nn/batch_norm-inl.h, batch_norm.cc): per-channel normalization along `axis`.
//
// Inputs data, gamma, beta (gamma and beta of shape (C,), C = data.shape[axis]); auxiliary states moving_mean and
// moving_var (C,), updated in place in training mode. Outputs: output, mean, var; mean and var are hidden unless
// output_mean_var (they are saved for backward either way). As in MXNet (batch_norm.cc, and its test_batchnorm),
// the 'var' output holds the inverse standard deviation 1 / sqrt(var + eps) of the statistics used, not the variance.
//   training (is_train and not use_global_stats): mean and biased variance over every axis but `axis`,
//     y = (x - mean) / sqrt(var + eps) * gamma + beta,
//     moving_mean = moving_mean * momentum + mean * (1 - momentum), the same for moving_var;
//   otherwise: the moving statistics normalize and nothing is updated (mean = moving_mean, var output =
//   1 / sqrt(moving_var + eps)).
// fix_gamma: gamma is written to 1 in forward, as MXNet does (so saved parameters match, and a later
// fix_gamma = false starts from 1), and its gradient is 0. Backward: the full batch-norm gradient
// in training mode, the affine one (statistics held constant) with the moving statistics. Gradients flowing into
// the mean / var outputs are ignored, as in MXNet. On a GPU with cuDNN (and cudnn_off false) the forward and the
// batch-statistics backward run on cuDNN, with the same results (op/cuda/cudnn_batch_norm.hpp says how and when).
// min_calib_range / max_calib_range are read and ignored, as MXNet's float BatchNorm ignores them: they describe
// the output range for its quantized (int8) graphs, and symbol files of such models carry them.
#pragma once

#include <optional>

#include "../core/config.hpp"
#include "../expr/reduce.hpp"
#include "operator.hpp"
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
#include "cuda/cudnn_batch_norm.hpp"
#endif

namespace mixt::op {

template <class = void>
struct BatchNormOp {
  static constexpr const char* name = "BatchNorm";
  struct Param {
    double eps = 1e-3;
    float momentum = 0.9f;
    bool fix_gamma = true;
    bool use_global_stats = false;
    bool output_mean_var = false;
    int axis = 1;
    bool cudnn_off = false;
    std::optional<float> min_calib_range{};  ///< ignored (quantization only)
    std::optional<float> max_calib_range{};  ///< ignored (quantization only)
  };
  static std::vector<std::string> arguments(const Param&) { return {"data", "gamma", "beta"}; }
  static std::vector<std::string> outputs(const Param& p) {
    if (p.output_mean_var) return {"output", "mean", "var"};
    return {"output"};
  }
  static int num_outputs(const Param&) { return 3; }
  static std::vector<std::string> aux_states(const Param&) { return {"moving_mean", "moving_var"}; }

  static void check(const Param& p) {
    if (!(p.eps > 0)) mixt::detail::fail(name, "attribute 'eps': expected > 0, received ", p.eps);
    if (!(p.momentum >= 0 && p.momentum <= 1))
      mixt::detail::fail(name, "attribute 'momentum': expected a value in [0, 1], received ", p.momentum);
  }
  /// axis in [0, ndim), or a failure naming the attribute.
  static int channel_axis(const Param& p, int ndim) {
    int a = p.axis < 0 ? p.axis + ndim : p.axis;
    if (a < 0 || a >= ndim)
      mixt::detail::fail(name, "attribute 'axis': expected a value in [", -ndim, ", ", ndim, ") for data of ", ndim,
                         " dimensions, received ", p.axis);
    return a;
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>& aux) {
    check(p);
    aux.resize(2);
    same_shape(name, in, out);
    // C from data when known, else from any of the per-channel arrays.
    int64_t C = 0;
    int axis = -1;
    if (in[0].ndim() != 0) {
      axis = channel_axis(p, in[0].ndim());
      C = in[0][axis];
    }
    const Shape* chan[] = {&in[1], &in[2], &aux[0], &aux[1], &out[1], &out[2]};
    const char* chan_name[] = {"gamma", "beta", "moving_mean", "moving_var", "mean", "var"};
    for (int k = 0; k < 6 && C == 0; ++k)
      if (chan[k]->ndim() == 1 && (*chan[k])[0] != 0) C = (*chan[k])[0];
    if (axis >= 0 && in[0][axis] == 0 && C != 0) {
      in[0][axis] = C;
      same_shape(name, in, out);
    }
    if (C == 0 && in[0].ndim() == 0) {
      bool any = false;
      for (int k = 0; k < 6; ++k) any = any || chan[k]->ndim() != 0;
      if (!any) return;
    }
    Shape* slots[] = {&in[1], &in[2], &aux[0], &aux[1], &out[1], &out[2]};
    for (int k = 0; k < 6; ++k) assign_shape(name, chan_name[k], *slots[k], Shape{C});
  }

  /// (pre, C, post): the 3-D view in which the channel is axis 1.
  static std::vector<int64_t> view3(const Param& p, const Shape& s) {
    int a = channel_axis(p, s.ndim());
    int64_t pre = 1, post = 1;
    for (int d = 0; d < a; ++d) pre *= s[d];
    for (int d = a + 1; d < s.ndim(); ++d) post *= s[d];
    return {pre, s[a], post};
  }
  static bool batch_stats(const Param& p, const OpContext& ctx) { return ctx.is_train && !p.use_global_stats; }

  static void forward(const Param& p, const OpContext& ctx, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>& aux) {
    check(p);
    if (aux.size() != 2) mixt::detail::fail(name, "expected 2 auxiliary states (moving_mean, moving_var), received ", aux.size());
    auto v = view3(p, in[0].shape());
    if (p.fix_gamma) write(in[1], Req::write, 1.f);
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (!p.cudnn_off) {
      const cudnn::BatchNormArgs a{v, p.eps, p.momentum, p.fix_gamma, batch_stats(p, ctx)};
      const NDArray none;
      if (cudnn::batch_norm_forward(name, a, in[0], in[1], in[2], aux[0], aux[1], out[0], req[0],
                                    out.size() > 1 ? out[1] : none, req.size() > 1 ? req[1] : Req::write,
                                    out.size() > 2 ? out[2] : none, req.size() > 2 ? req[2] : Req::write))
        return;
    }
#endif
    const int64_t C = v[1];
    NDArray x = in[0].reshape(v);
    NDArray mean, var;
    if (batch_stats(p, ctx)) {
      mean = nd::mean(x, {0, 2}, true);
      var = nd::mean(square(x - mean), {0, 2}, true);
      NDArray mm = aux[0], mv = aux[1];
      const double m = p.momentum;
      mm.assign(mm * m + mean.reshape({C}) * (1.0 - m));
      mv.assign(mv * m + var.reshape({C}) * (1.0 - m));
    } else {
      mean = aux[0].reshape({1, C, 1});
      var = aux[1].reshape({1, C, 1});
    }
    NDArray beta = in[2].reshape({1, C, 1});
    NDArray y = out[0].reshape(v);
    NDArray invstd = expr::evaluate(rsqrt(var + p.eps));
    if (p.fix_gamma) write(y, req[0], (x - mean) * invstd + beta);
    else write(y, req[0], (x - mean) * invstd * in[1].reshape({1, C, 1}) + beta);
    if (out.size() > 1) write(out[1], req.size() > 1 ? req[1] : Req::write, mean.reshape({C}));
    if (out.size() > 2) write(out[2], req.size() > 2 ? req[2] : Req::write, invstd.reshape({C}));
  }

  static void backward(const Param& p, const OpContext& ctx, const std::vector<NDArray>& og,
                       const std::vector<NDArray>& in, const std::vector<NDArray>& out, const std::vector<Req>& req,
                       const std::vector<NDArray>& ig, const std::vector<NDArray>& aux) {
    auto v = view3(p, in[0].shape());
    const bool batch = batch_stats(p, ctx);
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (!p.cudnn_off && batch) {
      const cudnn::BatchNormArgs a{v, p.eps, p.momentum, p.fix_gamma, batch};
      const bool saved = out.size() == 3;
      if (cudnn::batch_norm_backward(name, a, in[0], og[0], in[1], saved ? out[1] : NDArray(),
                                     saved ? out[2] : NDArray(), ig[0], req[0], ig[1], req[1], ig[2], req[2]))
        return;
    }
#endif
    const int64_t C = v[1];
    NDArray x = in[0].reshape(v), dy = og[0].reshape(v);
    NDArray mean, invstd;
    if (batch && out.size() == 3) {  // the saved statistics
      mean = out[1].reshape({1, C, 1});
      invstd = out[2].reshape({1, C, 1});
    } else if (batch) {
      mean = nd::mean(x, {0, 2}, true);
      invstd = expr::evaluate(rsqrt(nd::mean(square(x - mean), {0, 2}, true) + p.eps));
    } else {
      mean = aux[0].reshape({1, C, 1});
      invstd = expr::evaluate(rsqrt(aux[1].reshape({1, C, 1}) + p.eps));
    }
    NDArray xhat = expr::evaluate((x - mean) * invstd);
    NDArray gamma = p.fix_gamma ? nd::ones({1, C, 1}, x.ctx(), x.dtype()) : in[1].reshape({1, C, 1});
    if (req[0] != Req::null) {
      NDArray dx = ig[0].reshape(v);
      if (batch) {
        // dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)), the means over the channel's items.
        NDArray mdy = nd::mean(dy, {0, 2}, true), mdyx = nd::mean(dy * xhat, {0, 2}, true);
        write(dx, req[0], (dy - mdy - xhat * mdyx) * invstd * gamma);
      } else {
        write(dx, req[0], dy * invstd * gamma);
      }
    }
    if (req[1] != Req::null) {
      if (p.fix_gamma) write(ig[1], req[1], 0.f);
      else write(ig[1], req[1], nd::sum(dy * xhat, {0, 2}));
    }
    if (req[2] != Req::null) write(ig[2], req[2], nd::sum(dy, {0, 2}));
  }
};
using BatchNorm = BatchNormOp<>;
template <class V> void visit(BatchNorm::Param& p, V&& v) {
  v("eps", p.eps); v("momentum", p.momentum); v("fix_gamma", p.fix_gamma); v("use_global_stats", p.use_global_stats);
  v("output_mean_var", p.output_mean_var); v("axis", p.axis); v("cudnn_off", p.cudnn_off);
  v("min_calib_range", p.min_calib_range); v("max_calib_range", p.max_calib_range);
}

}  // namespace mixt::op

namespace mixt::nd {
/// BatchNorm's output. In training mode (autograd::is_training(), set by record() or train_mode()) moving_mean and
/// moving_var are updated in place. op::invoke<op::BatchNorm>(p, {data, gamma, beta}, {moving_mean, moving_var})
/// returns the mean and var outputs too.
template <int = 0>
NDArray BatchNorm(const NDArray& data, const NDArray& gamma, const NDArray& beta, const NDArray& moving_mean,
                  const NDArray& moving_var, const op::BatchNorm::Param& p = {},
                  mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::BatchNorm>(p, {data, gamma, beta}, {moving_mean, moving_var}, autograd::is_training(),
                                   where)[0];
}
}  // namespace mixt::nd
