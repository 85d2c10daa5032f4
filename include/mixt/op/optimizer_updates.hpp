// Optimizer update operators (MXNet's sgd_update, sgd_mom_update, adam_update, rmsprop_update). They update the
// weight and the optimizer states in place, as MXNet's `out=weight` calls do, each update one fused kernel.
//   g = clip(rescale_grad * grad, clip_gradient)      (no clipping when clip_gradient < 0)
//   sgd:      w = (1 - lr wd) w - lr g
//   sgd_mom:  mom = momentum mom - lr wd w - lr g;  w += mom
// Adam and RMSProp clip the gradient with the weight decay added, as MXNet's kernels do:
//   G = clip(rescale_grad * grad + wd w, clip_gradient)
//   adam:     mean = b1 mean + (1 - b1) G;  var = b2 var + (1 - b2) G^2;  w -= lr mean / (sqrt(var) + eps)
//   rmsprop:  n = (1 - gamma1) G^2 + gamma1 n;  w -= lr G / sqrt(n + eps);  w = clip(w, clip_weights)
// (Adam's bias correction is the optimizer's business, folded into lr, as in MXNet.)
#pragma once

#include <cmath>
#include <limits>

#include "../ndarray/ndarray.hpp"
#include "attrs.hpp"

namespace mixt::op {

/// lr's default: not given. MXNet requires lr; a default of 0 would make a forgotten one a silent no-op update.
inline constexpr float kRequiredLr = std::numeric_limits<float>::quiet_NaN();

struct SgdParam {
  float lr = kRequiredLr;  ///< required, as in MXNet
  float wd = 0;
  float rescale_grad = 1;
  float clip_gradient = -1;
};
template <class V> void visit(SgdParam& p, V&& v) {
  v("lr", p.lr); v("wd", p.wd); v("rescale_grad", p.rescale_grad); v("clip_gradient", p.clip_gradient);
}

struct SgdMomParam {
  float lr = kRequiredLr;  ///< required, as in MXNet
  float momentum = 0;
  float wd = 0;
  float rescale_grad = 1;
  float clip_gradient = -1;
};
template <class V> void visit(SgdMomParam& p, V&& v) {
  v("lr", p.lr); v("momentum", p.momentum); v("wd", p.wd); v("rescale_grad", p.rescale_grad);
  v("clip_gradient", p.clip_gradient);
}

struct AdamParam {
  float lr = kRequiredLr;  ///< required, as in MXNet
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  float wd = 0;
  float rescale_grad = 1;
  float clip_gradient = -1;
};
template <class V> void visit(AdamParam& p, V&& v) {
  v("lr", p.lr); v("beta1", p.beta1); v("beta2", p.beta2); v("epsilon", p.epsilon); v("wd", p.wd);
  v("rescale_grad", p.rescale_grad); v("clip_gradient", p.clip_gradient);
}

struct RmspropParam {
  float lr = kRequiredLr;  ///< required, as in MXNet
  float gamma1 = 0.95f;
  float epsilon = 1e-8f;
  float wd = 0;
  float rescale_grad = 1;
  float clip_gradient = -1;
  float clip_weights = -1;
};
template <class V> void visit(RmspropParam& p, V&& v) {
  v("lr", p.lr); v("gamma1", p.gamma1); v("epsilon", p.epsilon); v("wd", p.wd); v("rescale_grad", p.rescale_grad);
  v("clip_gradient", p.clip_gradient); v("clip_weights", p.clip_weights);
}

namespace detail {
inline void require_lr(const char* op, float lr) {
  if (std::isnan(lr)) mixt::detail::fail(op, "attribute 'lr' is required (MXNet's lr has no default), received none");
}
/// A state or gradient argument must match the weight in shape, context and dtype.
inline void check_update_args(const char* op, const NDArray& weight, const NDArray& other, const char* arg) {
  auto mismatch = [&](const char* what, const auto& expected, const auto& received) {
    mixt::detail::fail(op, "argument '", arg, "': expected ", what, " ", expected, " (the weight's), received ",
                       received);
  };
  if (!(other.shape() == weight.shape())) mismatch("shape", weight.shape(), other.shape());
  if (!(other.ctx() == weight.ctx())) mismatch("context", weight.ctx().to_string(), other.ctx().to_string());
  if (other.dtype() != weight.dtype()) mismatch("dtype", dtype_name(weight.dtype()), dtype_name(other.dtype()));
}
/// g clipped to [-c, c] when c >= 0 (a node; nothing runs).
template <class E>
auto clipped(const E& g, float c) {
  return clip(g, c >= 0 ? -double(c) : -INFINITY, c >= 0 ? double(c) : INFINITY);
}
/// rescale * grad, clipped to [-c, c] when c >= 0.
inline auto scaled_grad(const NDArray& grad, float rescale, float c) { return clipped(grad * rescale, c); }
}  // namespace detail

}  // namespace mixt::op

namespace mixt::nd {

/// weight = (1 - lr wd) weight - lr clip(rescale_grad grad). Returns weight.
template <int = 0>
NDArray sgd_update(NDArray weight, const NDArray& grad, const op::SgdParam& p,
                   mixt::source_location where = mixt::source_location::current()) {
  return mixt::detail::as_operator("sgd_update", where, [&] {
    op::detail::require_lr("sgd_update", p.lr);
    op::detail::check_update_args("sgd_update", weight, grad, "grad");
    weight.assign(weight * (1 - p.lr * p.wd) - op::detail::scaled_grad(grad, p.rescale_grad, p.clip_gradient) * p.lr);
    return weight;
  });
}

template <int = 0>
NDArray sgd_mom_update(NDArray weight, const NDArray& grad, NDArray mom, const op::SgdMomParam& p,
                       mixt::source_location where = mixt::source_location::current()) {
  return mixt::detail::as_operator("sgd_mom_update", where, [&] {
    op::detail::require_lr("sgd_mom_update", p.lr);
    op::detail::check_update_args("sgd_mom_update", weight, grad, "grad");
    op::detail::check_update_args("sgd_mom_update", weight, mom, "mom");
    mom.assign(mom * p.momentum - weight * (p.lr * p.wd) -
               op::detail::scaled_grad(grad, p.rescale_grad, p.clip_gradient) * p.lr);
    weight += mom;
    return weight;
  });
}

template <int = 0>
NDArray adam_update(NDArray weight, const NDArray& grad, NDArray mean, NDArray var, const op::AdamParam& p,
                    mixt::source_location where = mixt::source_location::current()) {
  return mixt::detail::as_operator("adam_update", where, [&] {
    op::detail::require_lr("adam_update", p.lr);
    for (auto [a, n] : {std::pair{&grad, "grad"}, {&mean, "mean"}, {&var, "var"}})
      op::detail::check_update_args("adam_update", weight, *a, n);
    auto g = op::detail::clipped(grad * p.rescale_grad + weight * p.wd, p.clip_gradient);
    mean.assign(mean * p.beta1 + g * (1 - p.beta1));
    var.assign(var * p.beta2 + square(g) * (1 - p.beta2));
    weight -= mean * p.lr / (sqrt(var) + p.epsilon);
    return weight;
  });
}

template <int = 0>
NDArray rmsprop_update(NDArray weight, const NDArray& grad, NDArray n, const op::RmspropParam& p,
                       mixt::source_location where = mixt::source_location::current()) {
  return mixt::detail::as_operator("rmsprop_update", where, [&] {
    op::detail::require_lr("rmsprop_update", p.lr);
    op::detail::check_update_args("rmsprop_update", weight, grad, "grad");
    op::detail::check_update_args("rmsprop_update", weight, n, "n");
    NDArray g = expr::evaluate(op::detail::clipped(grad * p.rescale_grad + weight * p.wd, p.clip_gradient));
    n.assign(square(g) * (1 - p.gamma1) + n * p.gamma1);
    weight -= g * p.lr / sqrt(n + p.epsilon);
    if (p.clip_weights >= 0) weight.assign(clip(weight, -p.clip_weights, p.clip_weights));
    return weight;
  });
}

}  // namespace mixt::nd
