// BatchNorm on cuDNN: cudnnBatchNormalizationForwardTraining / ForwardInference / Backward, CUDNN_BATCHNORM_SPATIAL.
//
// Layout: the data viewed as (pre, C, post, 1), C the channel axis; SPATIAL mode takes statistics per channel over
// the other extents, which is op/batch_norm.hpp's reduction for any `axis` and any number of dimensions (a 2-D
// (N, C) input is (N, C, 1, 1): SPATIAL then reduces over N only, as MXNet does, and as PER_ACTIVATION would).
//
// Matching the own kernels (op/batch_norm.hpp), where cuDNN differs:
//   - moving variance: cuDNN's running variance is updated with the unbiased batch variance (times n / (n - 1)),
//     mixt's (and MXNet's) with the biased one. So cuDNN's running averages go to zeroed scratch with factor 1
//     (they then hold the batch mean and the unbiased variance) and one small kernel applies mixt's rule
//     moving = moving * momentum + batch * (1 - momentum), the variance scaled back by (n - 1) / n.
//   - fix_gamma: cuDNN always reads a scale, so it gets a tensor of ones; gamma's gradient is written as 0.
//   - the mean / var outputs: cuDNN's saved mean and inverse standard deviation 1 / sqrt(var + eps) are exactly
//     mixt's mean and 'var' outputs, so they are written there directly (and backward reads them back); in
//     inference mode a small kernel writes the moving mean and 1 / sqrt(moving_var + eps).
//   - eps: cuDNN requires eps >= CUDNN_BN_MIN_EPSILON (0 in cuDNN 9); smaller runs on the own kernels.
// Taken by cuDNN: float32 and float64 (every array of one dtype), forward in training mode (batch statistics, at
// least 2 items per channel), forward with the moving statistics (inference, or use_global_stats), backward with
// batch statistics; requests write / inplace / add for the output and data gradient, any request for gamma's and
// beta's gradients as long as those not left null agree on write versus add (cuDNN blends both with one beta).
// Left to the own kernels: backward with the moving statistics (the affine gradient, not a cuDNN call), a null
// request for the output or the data gradient, Req::add on the mean / var outputs, other dtypes, empty arrays,
// extents beyond cuDNN's int.
#pragma once

#include "cudnn.hpp"
#if MIXT_USE_CUDA && MIXT_USE_CUDNN

#include <cmath>

#include "../../expr/launch.hpp"
#include "../operator.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace mixt::op::cudnn {

/// What BatchNorm's forward and backward pass on: the (pre, C, post) view of the data and the attributes.
struct BatchNormArgs {
  std::vector<int64_t> view;
  double eps = 1e-3;
  double momentum = 0.9;
  bool fix_gamma = true;
  bool batch_stats = true;  ///< training with batch statistics (is_train and not use_global_stats)
};

namespace bn_cudnn_detail {

/// moving = moving * m + batch * (1 - m); the variance from cuDNN's unbiased one times (n - 1) / n.
template <class T>
struct MovingStatsKernel {
  T* mean;
  T* var;
  const T* batch_mean;
  const T* batch_var_unbiased;
  T momentum, biased;
  MIXT_HD void operator()(int64_t i) const {
    mean[i] = mean[i] * momentum + batch_mean[i] * (T(1) - momentum);
    var[i] = var[i] * momentum + batch_var_unbiased[i] * biased * (T(1) - momentum);
  }
};

/// The mean / var outputs in inference mode: the moving mean and 1 / sqrt(moving_var + eps) (either may be null).
template <class T>
struct InferenceStatsKernel {
  T* mean_out;
  T* invstd_out;
  const T* mean;
  const T* var;
  T eps;
  MIXT_HD void operator()(int64_t i) const {
    if (mean_out) mean_out[i] = mean[i];
    if (invstd_out) invstd_out[i] = T(1.0 / ::sqrt(double(var[i]) + double(eps)));
  }
};

inline bool takes(const BatchNormArgs& a, std::initializer_list<const NDArray*> arrays) {
  if (!enabled() || a.view.size() != 3 || !(a.eps >= CUDNN_BN_MIN_EPSILON)) return false;
  const int64_t pre = a.view[0], C = a.view[1], post = a.view[2];
  if (pre * C * post <= 0 || !fits_int({pre, C, post, pre * C * post})) return false;
  const NDArray& x = **arrays.begin();
  if (!x.ctx().is_gpu() || (x.dtype() != DType::float32 && x.dtype() != DType::float64)) return false;
  for (const NDArray* p : arrays)
    if (!p->is_none() && (p->dtype() != x.dtype() || !(p->ctx() == x.ctx()))) return false;
  return true;
}

/// The data descriptor (pre, C, post, 1) and the derived per-channel descriptor.
struct Descs {
  TensorDesc x, channel;
  Descs(const char* op, const BatchNormArgs& a, DType t) : x(op), channel(op) {
    set_tensor(x, op, t, {a.view[0], a.view[1], a.view[2], 1});
    check(cudnnDeriveBNTensorDescriptor(channel, x, CUDNN_BATCHNORM_SPATIAL), op, "cudnnDeriveBNTensorDescriptor");
  }
};

/// Pointer to element `i * C` of a scratch array, as T.
inline void* part(const NDArray& scratch, int64_t i, int64_t C, DType t) {
  return static_cast<char*>(scratch.raw_data()) + size_t(i * C) * dtype_size(t);
}

}  // namespace bn_cudnn_detail

/// y = BatchNorm(x) (per req_y: write, inplace or add), the moving statistics updated in training mode, the mean
/// and var outputs written when given (none or Req::null: skipped). False, having pushed nothing, when cuDNN does
/// not take it (see the header comment).
inline bool batch_norm_forward(const char* op, const BatchNormArgs& a, const NDArray& x, const NDArray& gamma,
                               const NDArray& beta, const NDArray& moving_mean, const NDArray& moving_var,
                               const NDArray& y, Req req_y, NDArray mean, Req req_mean, NDArray invstd,
                               Req req_invstd) {
  using namespace bn_cudnn_detail;
  if (!takes(a, {&x, &gamma, &beta, &moving_mean, &moving_var, &y, &mean, &invstd})) return false;
  if (req_y == Req::null || req_mean == Req::add || req_invstd == Req::add) return false;
  if (req_mean == Req::null) mean = NDArray();
  if (req_invstd == Req::null) invstd = NDArray();
  const int64_t C = a.view[1], n = a.view[0] * a.view[2];
  if (a.batch_stats && n < 2) return false;  // the unbiased variance cuDNN keeps is undefined for one item
  const DType t = x.dtype();
  // Scratch, C values each: ones (fix_gamma), then in training the running-average targets, the saved mean and
  // the saved inverse standard deviation (when the outputs are not given).
  NDArray scratch = NDArray(Shape{(a.batch_stats ? 5 : 1) * C}, x.ctx(), t);
  // The moving statistics are written in training only.
  const NDArray none;
  push(op, x.ctx(), {x, gamma, beta, a.batch_stats ? none : moving_mean, a.batch_stats ? none : moving_var},
       {y, a.batch_stats ? moving_mean : none, a.batch_stats ? moving_var : none, mean, invstd, scratch},
       [op, a, x, gamma, beta, moving_mean, moving_var, y, req_y, mean, invstd, scratch, C, n,
        t](engine::RunContext rc) {
         cudnnHandle_t h = handle(rc, op);
         Descs d(op, a, t);
         const Scale one(1.0, t), zero(0.0, t), beta_y(req_y == Req::add ? 1.0 : 0.0, t);
         void* scale = gamma.raw_data();
         if (a.fix_gamma) {
           scale = part(scratch, 0, C, t);
           check(cudnnSetTensor(h, d.channel, scale, one.ptr()), op, "cudnnSetTensor");
         }
         if (!a.batch_stats) {
           check(cudnnBatchNormalizationForwardInference(h, CUDNN_BATCHNORM_SPATIAL, one.ptr(), beta_y.ptr(), d.x,
                                                         x.raw_data(), d.x, y.raw_data(), d.channel, scale,
                                                         beta.raw_data(), moving_mean.raw_data(),
                                                         moving_var.raw_data(), a.eps),
                 op, "cudnnBatchNormalizationForwardInference");
           if (mean.is_none() && invstd.is_none()) return;
           auto stats = [&](auto* tag) {
             using T = std::remove_pointer_t<decltype(tag)>;
             expr::launch(rc, C,
                          InferenceStatsKernel<T>{static_cast<T*>(mean.raw_data()), static_cast<T*>(invstd.raw_data()),
                                                  static_cast<const T*>(moving_mean.raw_data()),
                                                  static_cast<const T*>(moving_var.raw_data()), T(a.eps)});
           };
           if (t == DType::float32) stats(static_cast<float*>(nullptr));
           else stats(static_cast<double*>(nullptr));
           return;
         }
         void* run_mean = part(scratch, 1, C, t);
         void* run_var = part(scratch, 2, C, t);
         void* save_mean = mean.is_none() ? part(scratch, 3, C, t) : mean.raw_data();
         void* save_invstd = invstd.is_none() ? part(scratch, 4, C, t) : invstd.raw_data();
         check(cudnnSetTensor(h, d.channel, run_mean, zero.ptr()), op, "cudnnSetTensor");
         check(cudnnSetTensor(h, d.channel, run_var, zero.ptr()), op, "cudnnSetTensor");
         // Factor 1: the running averages become the batch mean and the unbiased batch variance.
         check(cudnnBatchNormalizationForwardTraining(h, CUDNN_BATCHNORM_SPATIAL, one.ptr(), beta_y.ptr(), d.x,
                                                      x.raw_data(), d.x, y.raw_data(), d.channel, scale,
                                                      beta.raw_data(), 1.0, run_mean, run_var, a.eps, save_mean,
                                                      save_invstd),
               op, "cudnnBatchNormalizationForwardTraining");
         auto update = [&](auto* tag) {
           using T = std::remove_pointer_t<decltype(tag)>;
           expr::launch(rc, C,
                        MovingStatsKernel<T>{static_cast<T*>(moving_mean.raw_data()),
                                             static_cast<T*>(moving_var.raw_data()), static_cast<const T*>(run_mean),
                                             static_cast<const T*>(run_var), T(a.momentum), T(double(n - 1) / double(n))});
         };
         if (t == DType::float32) update(static_cast<float*>(nullptr));
         else update(static_cast<double*>(nullptr));
       });
  return true;
}

/// The batch-statistics backward: dx (req_dx: write, inplace or add), dgamma and dbeta (none or Req::null:
/// skipped). saved_mean / saved_invstd: the forward's mean and var outputs, or none (cuDNN recomputes them).
/// False, having pushed nothing, when cuDNN does not take it (see the header comment).
inline bool batch_norm_backward(const char* op, const BatchNormArgs& a, const NDArray& x, const NDArray& dy,
                                const NDArray& gamma, NDArray saved_mean, NDArray saved_invstd, const NDArray& dx,
                                Req req_dx, NDArray dgamma, Req req_gamma, NDArray dbeta, Req req_beta) {
  using namespace bn_cudnn_detail;
  if (!a.batch_stats || req_dx == Req::null) return false;
  if (req_gamma == Req::null) dgamma = NDArray();
  if (req_beta == Req::null) dbeta = NDArray();
  if (saved_mean.is_none() || saved_invstd.is_none()) saved_mean = saved_invstd = NDArray();
  if (!takes(a, {&x, &dy, &gamma, &saved_mean, &saved_invstd, &dx, &dgamma, &dbeta})) return false;
  // cuDNN blends gamma's and beta's gradients with one beta: the ones written must agree on write versus add.
  const bool real_gamma = !dgamma.is_none() && !a.fix_gamma, real_beta = !dbeta.is_none();
  if (real_gamma && real_beta && (req_gamma == Req::add) != (req_beta == Req::add)) return false;
  const bool add_params = (real_gamma && req_gamma == Req::add) || (real_beta && req_beta == Req::add);
  const bool zero_gamma = a.fix_gamma && !dgamma.is_none() && req_gamma != Req::add;  // fix_gamma: gradient 0
  const int64_t C = a.view[1];
  const DType t = x.dtype();
  // Scratch, C values each: ones (fix_gamma), and the targets of the gradients not asked for.
  NDArray scratch = NDArray(Shape{3 * C}, x.ctx(), t);
  push(op, x.ctx(), {x, dy, gamma, saved_mean, saved_invstd}, {dx, dgamma, dbeta, scratch},
       [op, a, x, dy, gamma, saved_mean, saved_invstd, dx, req_dx, dgamma, dbeta, real_gamma, real_beta, add_params,
        zero_gamma, scratch, C, t](engine::RunContext rc) {
         cudnnHandle_t h = handle(rc, op);
         Descs d(op, a, t);
         const Scale one(1.0, t), zero(0.0, t), beta_dx(req_dx == Req::add ? 1.0 : 0.0, t),
             beta_params(add_params ? 1.0 : 0.0, t);
         const void* scale = gamma.raw_data();
         if (a.fix_gamma) {
           void* ones = part(scratch, 0, C, t);
           check(cudnnSetTensor(h, d.channel, ones, one.ptr()), op, "cudnnSetTensor");
           scale = ones;
         }
         void* dscale = real_gamma ? dgamma.raw_data() : part(scratch, 1, C, t);
         void* dbias = real_beta ? dbeta.raw_data() : part(scratch, 2, C, t);
         check(cudnnBatchNormalizationBackward(h, CUDNN_BATCHNORM_SPATIAL, one.ptr(), beta_dx.ptr(), one.ptr(),
                                               beta_params.ptr(), d.x, x.raw_data(), d.x, dy.raw_data(), d.x,
                                               dx.raw_data(), d.channel, scale, dscale, dbias, a.eps,
                                               saved_mean.is_none() ? nullptr : saved_mean.raw_data(),
                                               saved_invstd.is_none() ? nullptr : saved_invstd.raw_data()),
               op, "cudnnBatchNormalizationBackward");
         if (zero_gamma) check(cudnnSetTensor(h, d.channel, dgamma.raw_data(), zero.ptr()), op, "cudnnSetTensor");
       });
  return true;
}

}  // namespace mixt::op::cudnn

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif  // MIXT_USE_CUDA && MIXT_USE_CUDNN
