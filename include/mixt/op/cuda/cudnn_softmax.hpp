// softmax and log_softmax on cuDNN (cudnnSoftmaxForward / cudnnSoftmaxBackward). The array is viewed as
// (outer, axis extent, inner, 1), so that CUDNN_SOFTMAX_MODE_CHANNEL (one softmax over C for each n, h, w) is the
// softmax along the axis, whichever axis it is. softmax uses CUDNN_SOFTMAX_ACCURATE (the maximum is subtracted
// first, as the own kernels do), log_softmax CUDNN_SOFTMAX_LOG. Backward reads the forward output:
// dx = y (dy - sum(dy y)) and dx = dy - exp(y) sum(dy), the own kernels' formulas.
//
// Taken by cuDNN: temperature 1 (unset), float32 and float64, every request (Req::add blends with beta = 1),
// non-empty arrays whose extents fit cuDNN's int interface. A temperature other than 1 stays on the own kernels
// (cuDNN's alpha scales the output, not the input).
#pragma once

#include "cudnn.hpp"
#if MIXT_USE_CUDA && MIXT_USE_CUDNN

#include "../operator.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace mixt::op::cudnn {

namespace softmax_cudnn_detail {

/// (outer, axis extent, inner, 1) of shape s around `axis`; empty when cuDNN does not take it.
inline std::vector<int64_t> view(const Shape& s, int axis) {
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= s[d];
  for (int d = axis + 1; d < s.ndim(); ++d) inner *= s[d];
  const int64_t n = s.ndim() ? s[axis] : 0;
  if (outer * n * inner <= 0 || !fits_int({outer, n, inner, outer * n * inner})) return {};
  return {outer, n, inner, 1};
}

inline bool takes(const NDArray& x) {
  return enabled() && x.ctx().is_gpu() && (x.dtype() == DType::float32 || x.dtype() == DType::float64);
}

}  // namespace softmax_cudnn_detail

/// y (per req, not null) = softmax or log_softmax of x along axis. False, having pushed nothing, when cuDNN does
/// not take it.
inline bool softmax_forward(const char* op, bool log, const NDArray& x, int axis, const NDArray& y, Req req) {
  using namespace softmax_cudnn_detail;
  const std::vector<int64_t> dims = view(x.shape(), axis);
  if (!takes(x) || dims.empty() || y.dtype() != x.dtype()) return false;
  push(op, x.ctx(), {x}, {y}, [op, log, x, y, dims, req](engine::RunContext rc) {
    cudnnHandle_t h = handle(rc, op);
    TensorDesc d(op);
    set_tensor(d, op, x.dtype(), dims);
    const Scale one(1.0, x.dtype()), beta(req == Req::add ? 1.0 : 0.0, x.dtype());
    check(cudnnSoftmaxForward(h, log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL,
                              one.ptr(), d, x.raw_data(), beta.ptr(), d, y.raw_data()),
          op, "cudnnSoftmaxForward");
  });
  return true;
}

/// dx (per req, not null) from the forward output y and its gradient dy. False, having pushed nothing, when cuDNN
/// does not take it.
inline bool softmax_backward(const char* op, bool log, const NDArray& y, const NDArray& dy, int axis,
                             const NDArray& dx, Req req) {
  using namespace softmax_cudnn_detail;
  const std::vector<int64_t> dims = view(y.shape(), axis);
  if (!takes(y) || dims.empty() || dy.dtype() != y.dtype() || dx.dtype() != y.dtype()) return false;
  push(op, y.ctx(), {y, dy}, {dx}, [op, log, y, dy, dx, dims, req](engine::RunContext rc) {
    cudnnHandle_t h = handle(rc, op);
    TensorDesc d(op);
    set_tensor(d, op, y.dtype(), dims);
    const Scale one(1.0, y.dtype()), beta(req == Req::add ? 1.0 : 0.0, y.dtype());
    check(cudnnSoftmaxBackward(h, log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL,
                               one.ptr(), d, y.raw_data(), d, dy.raw_data(), beta.ptr(), d, dx.raw_data()),
          op, "cudnnSoftmaxBackward");
  });
  return true;
}

}  // namespace mixt::op::cudnn

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif  // MIXT_USE_CUDA && MIXT_USE_CUDNN
