// Pooling on cuDNN (cudnnPoolingForward / cudnnPoolingBackward).
//
// Taken by cuDNN: max and avg pooling, 1-D (as 2-D with H = 1), 2-D and 3-D, the valid convention (cuDNN's output
// extent is floor((x + 2p - k) / s) + 1, MXNet's valid one), global pooling, padding smaller than the window,
// float32 and float64, every request (Req::add blends with beta = 1). avg maps count_include_pad (the default)
// to CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING and false to ..._EXCLUDE_PADDING; with the valid convention no
// window reaches past the padded input, so the divisors are MXNet's. max uses CUDNN_POOLING_MAX_DETERMINISTIC and
// does not propagate NaN (the own kernel skips NaN too); padding never wins a max. Which of tied maxima gets the
// gradient is cuDNN's choice; the own kernels give it to the first.
// Left to the own kernels: sum and lp pooling, the full convention, padding >= window, a backward without the
// forward output (cuDNN's max backward reads it), other dtypes, empty arrays, extents beyond cuDNN's int.
#pragma once

#include "cudnn.hpp"
#if MIXT_USE_CUDA && MIXT_USE_CUDNN

#include "../operator.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace mixt::op::cudnn {

/// A pooling as cuDNN sees it: the mode (none: not cuDNN's to run) and window, stride and padding on 3 axes
/// (leading entries 1, 1 and 0 for fewer spatial axes), as op/pooling.hpp's geometry holds them.
struct PoolSpec {
  enum Mode { none, max, avg_include_pad, avg_exclude_pad } mode = none;
  int64_t k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, p[3] = {0, 0, 0};
};

namespace pool_cudnn_detail {

/// Whether cuDNN takes this pooling (see the header comment); `nd` spatial axes.
inline bool supported(const PoolSpec& g, int nd, const NDArray& x, const NDArray& y) {
  if (!enabled() || !x.ctx().is_gpu() || g.mode == PoolSpec::none || nd < 1 || nd > 3) return false;
  if (x.dtype() != DType::float32 && x.dtype() != DType::float64) return false;
  if (x.size() <= 0 || y.size() <= 0 || !fits_int({x.size(), y.size()})) return false;
  for (int j = 0; j < 3; ++j)
    if (g.p[j] >= g.k[j] || !fits_int({g.k[j], g.s[j], g.p[j]})) return false;
  return true;
}

/// The pooling descriptor: spatial axes as cuDNN sees them (1-D data as 2-D with a window of height 1).
inline void set_pool(const PoolDesc& desc, const char* op, const PoolSpec& g, int nd) {
  const int sd = nd == 3 ? 3 : 2;
  int k[3], p[3], s[3];
  for (int j = 3 - sd, i = 0; j < 3; ++j, ++i) k[i] = int(g.k[j]), p[i] = int(g.p[j]), s[i] = int(g.s[j]);
  const cudnnPoolingMode_t mode = g.mode == PoolSpec::max               ? CUDNN_POOLING_MAX_DETERMINISTIC
                                  : g.mode == PoolSpec::avg_include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                                        : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
  check(cudnnSetPoolingNdDescriptor(desc, mode, CUDNN_NOT_PROPAGATE_NAN, sd, k, p, s), op,
        "cudnnSetPoolingNdDescriptor");
}

}  // namespace pool_cudnn_detail

/// y (per req, not null) = pool(x). False, having pushed nothing, when cuDNN does not take it.
inline bool pooling_forward(const char* op, const PoolSpec& g, const NDArray& x, const NDArray& y, Req req) {
  using namespace pool_cudnn_detail;
  const int nd = x.ndim() - 2;
  if (!supported(g, nd, x, y) || y.dtype() != x.dtype()) return false;
  push(op, x.ctx(), {x}, {y}, [op, g, nd, x, y, req](engine::RunContext rc) {
    cudnnHandle_t h = handle(rc, op);
    PoolDesc pd(op);
    TensorDesc xd(op), yd(op);
    set_pool(pd, op, g, nd);
    set_tensor(xd, op, x.dtype(), nchw(x.shape()));
    set_tensor(yd, op, x.dtype(), nchw(y.shape()));
    const Scale one(1.0, x.dtype()), beta(req == Req::add ? 1.0 : 0.0, x.dtype());
    check(cudnnPoolingForward(h, pd, one.ptr(), xd, x.raw_data(), beta.ptr(), yd, y.raw_data()), op,
          "cudnnPoolingForward");
  });
  return true;
}

/// dx (per req, not null) = the gradient of pooling x into y, given dy. False, having pushed nothing, when cuDNN
/// does not take it.
inline bool pooling_backward(const char* op, const PoolSpec& g, const NDArray& x, const NDArray& y,
                             const NDArray& dy, const NDArray& dx, Req req) {
  using namespace pool_cudnn_detail;
  const int nd = x.ndim() - 2;
  if (y.is_none() || !supported(g, nd, x, y)) return false;
  for (const NDArray* a : {&y, &dy, &dx})
    if (a->dtype() != x.dtype()) return false;
  push(op, x.ctx(), {x, y, dy}, {dx}, [op, g, nd, x, y, dy, dx, req](engine::RunContext rc) {
    cudnnHandle_t h = handle(rc, op);
    PoolDesc pd(op);
    TensorDesc xd(op), yd(op);
    set_pool(pd, op, g, nd);
    set_tensor(xd, op, x.dtype(), nchw(x.shape()));
    set_tensor(yd, op, x.dtype(), nchw(y.shape()));
    const Scale one(1.0, x.dtype()), beta(req == Req::add ? 1.0 : 0.0, x.dtype());
    check(cudnnPoolingBackward(h, pd, one.ptr(), yd, y.raw_data(), yd, dy.raw_data(), xd, x.raw_data(), beta.ptr(), xd,
                               dx.raw_data()),
          op, "cudnnPoolingBackward");
  });
  return true;
}

}  // namespace mixt::op::cudnn

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif  // MIXT_USE_CUDA && MIXT_USE_CUDNN
