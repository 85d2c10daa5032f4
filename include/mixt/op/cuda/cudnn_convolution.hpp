// Convolution and Deconvolution on cuDNN. Both operators are described, as in op/im2col.hpp, by an "image" tensor
// (N, Ci, in...), a "column-side" tensor (N, Co, out...) and a weight (Co, Ci/G, k...): for Convolution the image
// is the data, for Deconvolution the output. cuDNN's x is the image, its y the column side, its filter the weight:
//   forward          colside = conv(image, W)          Convolution forward, Deconvolution data gradient
//   backward_data    image   = conv^T(colside, W)      Convolution data gradient, Deconvolution forward
//   backward_filter  dW      from image and colside    both weight gradients
//   add_bias         t      += bias (per channel)      cudnnAddTensor
//   bias_grad        db      = sum of t but axis 1     cudnnConvolutionBackwardBias
// An operator's call is a list of these steps run as one engine operation, with one workspace (the largest any
// step needs) from the pool.
//
// Taken by cuDNN: 1-D (as 2-D with H = 1), 2-D and 3-D, any stride, dilation, padding and num_group
// (cudnnSetConvolutionGroupCount), CUDNN_CROSS_CORRELATION (what MXNet calls convolution), float32 and float64,
// every request (Req::add blends with beta = 1), a non-empty batch and extents that fit cuDNN's int interface.
// Anything else, or a geometry for which cuDNN offers no algorithm within the workspace limit, runs on
// im2col + GEMM.
//
// Algorithms: cuDNN's heuristics (cudnnGet*Algorithm_v7), the first one that succeeds within the operator's
// `workspace` attribute (MB, MXNet's meaning), cached per geometry, dtype, device and limit. No autotuning by
// timing (cudnnFind*): cudnn_tune is accepted and ignored, which keeps results reproducible and no benchmark runs
// outside the pool's memory.
//
// Math: float32 convolutions run with CUDNN_FMA_MATH, i.e. no TF32 tensor-core math. CUDNN_DEFAULT_MATH would allow
// TF32 on Ampere and later, rounding inputs to a 10-bit mantissa; MXNet's default for float32 is full precision,
// the cuBLAS path (FullyConnected, the im2col fallback) is full precision, and so are these. float64 takes the
// math type the heuristics name (double-precision tensor cores are exact to float64).
#pragma once

#include "cudnn.hpp"
#if MIXT_USE_CUDA && MIXT_USE_CUDNN

#include <array>
#include <map>
#include <mutex>

#include "../../memory/cuda/device_guard.hpp"
#include "../im2col.hpp"
#include "../operator.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace mixt::op::cudnn {

/// One step of a convolution operation (see the header comment). Arrays by role:
///   forward:          a = image, b = weight, out = colside
///   backward_data:    a = colside, b = weight, out = image
///   backward_filter:  a = image, b = colside, out = dweight
///   add_bias:         a = bias, out = the tensor the bias is added to (always added: req is ignored)
///   bias_grad:        a = the output gradient, out = dbias
struct ConvStep {
  enum Kind { forward, backward_data, backward_filter, add_bias, bias_grad } kind;
  NDArray a, b, out;
  Req req = Req::write;
};

namespace conv_cudnn_detail {

inline int spatial_dims(int nd) { return nd == 3 ? 3 : 2; }

/// The three tensors and the convolution of a geometry, for dtype t, with math type `math`.
struct ConvDescs {
  TensorDesc image, colside;
  FilterDesc filter;
  ConvDesc conv;
  ConvDescs(const char* op, const conv_detail::ConvGeom& g, int nd, DType t)
      : image(op), colside(op), filter(op), conv(op) {
    const int sd = spatial_dims(nd);
    std::vector<int64_t> di{g.N, g.Ci}, dc{g.N, g.Co};
    int fd[5] = {int(g.Co), int(g.Ci / g.G)}, pad[3], stride[3], dil[3];
    for (int j = 3 - sd, i = 0; j < 3; ++j, ++i) {
      di.push_back(g.in[j]);
      dc.push_back(g.out[j]);
      fd[2 + i] = int(g.k[j]);
      pad[i] = int(g.p[j]), stride[i] = int(g.s[j]), dil[i] = int(g.d[j]);
    }
    set_tensor(image, op, t, di);
    set_tensor(colside, op, t, dc);
    check(cudnnSetFilterNdDescriptor(filter, *data_type(t), CUDNN_TENSOR_NCHW, sd + 2, fd), op,
          "cudnnSetFilterNdDescriptor");
    // The accumulation type is the data type for float32 and float64 (half data would accumulate in float).
    check(cudnnSetConvolutionNdDescriptor(conv, sd, pad, stride, dil, CUDNN_CROSS_CORRELATION, *data_type(t)), op,
          "cudnnSetConvolutionNdDescriptor");
    check(cudnnSetConvolutionGroupCount(conv, int(g.G)), op, "cudnnSetConvolutionGroupCount");
    check(cudnnSetConvolutionMathType(conv, base_math(t)), op, "cudnnSetConvolutionMathType");
  }
  /// No TF32 for float32 (see the header comment).
  static cudnnMathType_t base_math(DType t) { return t == DType::float32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH; }
};

/// An algorithm of one convolution pass with its math type and workspace bytes.
struct Algo {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

/// The math type to run a heuristic's result with; nullopt when the result would use TF32 on float32 data.
inline std::optional<cudnnMathType_t> usable_math(DType t, cudnnMathType_t proposed) {
  if (t != DType::float32) return proposed;
  if (proposed == CUDNN_TENSOR_OP_MATH || proposed == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return std::nullopt;
  return CUDNN_FMA_MATH;
}

/// Walks the heuristics' ranking (best first) and returns the first algorithm that succeeds and whose workspace,
/// asked of cuDNN with the math type it will run with, fits `limit`.
template <class Perf, class WorkspaceOf>
std::optional<Algo> first_fitting(const char* op, const ConvDescs& d, DType t, const std::vector<Perf>& perf, int n,
                                  size_t limit, WorkspaceOf workspace_of) {
  for (int i = 0; i < n; ++i) {
    if (perf[size_t(i)].status != CUDNN_STATUS_SUCCESS) continue;
    std::optional<cudnnMathType_t> math = usable_math(t, perf[size_t(i)].mathType);
    if (!math) continue;
    check(cudnnSetConvolutionMathType(d.conv, *math), op, "cudnnSetConvolutionMathType");
    size_t bytes = 0;
    if (workspace_of(perf[size_t(i)].algo, &bytes) != CUDNN_STATUS_SUCCESS || bytes > limit) continue;
    return Algo{int(perf[size_t(i)].algo), *math, bytes};
  }
  return std::nullopt;
}

/// Asks cuDNN's heuristics for a pass (forward, backward_data or backward_filter) on this thread's handle for
/// `dev`, with `dev` current (a handle is used on the device it was made for; the caller's device is restored).
inline std::optional<Algo> query(const char* op, ConvStep::Kind kind, const conv_detail::ConvGeom& g, int nd,
                                 DType t, int dev, size_t limit) {
  memory::DeviceGuard on(dev);
  if (!on.ok()) mixt::detail::fail(op, "cudaSetDevice(", dev, ") failed: ", cudaGetErrorString(on.error()));
  cudnnHandle_t h = thread_handle(dev, op);
  ConvDescs d(op, g, nd, t);
  int max = 0, n = 0;
  if (kind == ConvStep::forward) {
    check(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max), op, "cudnnGetConvolutionForwardAlgorithmMaxCount");
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(size_t(std::max(max, 1)));
    check(cudnnGetConvolutionForwardAlgorithm_v7(h, d.image, d.filter, d.conv, d.colside, max, &n, perf.data()), op,
          "cudnnGetConvolutionForwardAlgorithm_v7");
    return first_fitting(op, d, t, perf, n, limit, [&](cudnnConvolutionFwdAlgo_t a, size_t* bytes) {
      return cudnnGetConvolutionForwardWorkspaceSize(h, d.image, d.filter, d.conv, d.colside, a, bytes);
    });
  }
  if (kind == ConvStep::backward_data) {
    check(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max), op,
          "cudnnGetConvolutionBackwardDataAlgorithmMaxCount");
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(size_t(std::max(max, 1)));
    check(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.filter, d.colside, d.conv, d.image, max, &n, perf.data()),
          op, "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    return first_fitting(op, d, t, perf, n, limit, [&](cudnnConvolutionBwdDataAlgo_t a, size_t* bytes) {
      return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.filter, d.colside, d.conv, d.image, a, bytes);
    });
  }
  check(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max), op,
        "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount");
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(size_t(std::max(max, 1)));
  check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.image, d.colside, d.conv, d.filter, max, &n, perf.data()),
        op, "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
  return first_fitting(op, d, t, perf, n, limit, [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.image, d.colside, d.conv, d.filter, a, bytes);
  });
}

/// query() through a process-wide cache (misses are cached too: cuDNN is not asked about them again).
inline std::optional<Algo> choose(const char* op, ConvStep::Kind kind, const conv_detail::ConvGeom& g, int nd,
                                  DType t, int dev, size_t limit) {
  using Key = std::array<int64_t, 27>;
  Key key{int64_t(kind), dev, int64_t(t), nd, g.N, g.Ci, g.Co, g.G};
  size_t i = 8;
  for (int j = 0; j < 3; ++j) {
    key[i++] = g.in[j], key[i++] = g.out[j], key[i++] = g.k[j];
    key[i++] = g.s[j], key[i++] = g.p[j], key[i++] = g.d[j];
  }
  key[i] = int64_t(limit);
  static std::mutex m;
  static std::map<Key, std::optional<Algo>> cache;
  {
    std::lock_guard<std::mutex> lk(m);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  // A failing query (no usable cuDNN on this device, say) leaves the geometry to im2col + GEMM, which works
  // without cuDNN, rather than failing the call.
  std::optional<Algo> a;
  try {
    a = query(op, kind, g, nd, t, dev, limit);
  } catch (const Error&) {
    a = std::nullopt;
  }
  std::lock_guard<std::mutex> lk(m);
  cache.emplace(key, a);
  return a;
}

/// The geometry's tensors fit cuDNN (non-empty, int extents and element counts).
inline bool geometry_fits(const conv_detail::ConvGeom& g, int nd) {
  if (nd < 1 || nd > 3 || g.G < 1 || g.Ci % g.G || g.Co % g.G) return false;
  if (g.N <= 0 || g.Ci <= 0 || g.Co <= 0 || g.in_size() <= 0 || g.out_size() <= 0) return false;
  if (!fits_int({g.N, g.Ci, g.Co, g.G}) || !fits_int({g.N * g.Ci * g.in_size(), g.N * g.Co * g.out_size()}) ||
      !fits_int({g.Co * (g.Ci / g.G) * g.ksize()}))
    return false;
  for (int j = 0; j < 3; ++j) {
    if (!fits_int({g.in[j], g.out[j], g.k[j], g.s[j], g.p[j], g.d[j]})) return false;
    // cuDNN derives the column side from the image side by the convolution's formula; a Deconvolution whose
    // target_shape asks for adj >= stride has one column fewer than that, and runs on the own kernels.
    if (g.out[j] != (g.in[j] + 2 * g.p[j] - g.d[j] * (g.k[j] - 1) - 1) / g.s[j] + 1) return false;
  }
  return true;
}

/// Per-channel (1, C, 1, ...) descriptor matching a tensor descriptor of dims `dims`.
inline void set_channel(const TensorDesc& desc, const char* op, DType t, const std::vector<int64_t>& dims) {
  std::vector<int64_t> c(dims.size(), 1);
  c[1] = dims[1];
  set_tensor(desc, op, t, c);
}

}  // namespace conv_cudnn_detail

/// Runs `steps` (those with Req::null already left out) as one engine operation on cuDNN. Returns false, having
/// pushed nothing, when cuDNN does not take the geometry or the dtype (see the header comment).
inline bool convolution(const char* op, const conv_detail::ConvGeom& g, int nd, const std::vector<ConvStep>& steps,
                        int64_t workspace_mb) {
  using namespace conv_cudnn_detail;
  if (steps.empty()) return true;
  const NDArray& first = steps[0].a;
  const DType t = first.dtype();
  const Context ctx = first.ctx();
  if (!enabled() || !ctx.is_gpu() || (t != DType::float32 && t != DType::float64) || !geometry_fits(g, nd))
    return false;
  for (const ConvStep& s : steps)
    for (const NDArray* a : {&s.a, &s.b, &s.out})
      if (!a->is_none() && (a->dtype() != t || !(a->ctx() == ctx))) return false;
  const size_t limit = size_t(std::max<int64_t>(workspace_mb, 0)) << 20;
  std::vector<Algo> algos(steps.size());
  size_t ws_bytes = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const ConvStep::Kind k = steps[i].kind;
    if (k != ConvStep::forward && k != ConvStep::backward_data && k != ConvStep::backward_filter) continue;
    std::optional<Algo> a = choose(op, k, g, nd, t, ctx.dev_id, limit);
    if (!a) return false;
    algos[i] = *a;
    ws_bytes = std::max(ws_bytes, a->workspace);
  }
  NDArray ws = workspace(ws_bytes, ctx);
  std::vector<NDArray> reads, writes{ws};
  for (const ConvStep& s : steps) {
    reads.push_back(s.a);
    reads.push_back(s.b);
    writes.push_back(s.out);
  }
  push(op, ctx, reads, writes, [op, g, nd, t, steps, algos, ws, ws_bytes](engine::RunContext rc) {
    cudnnHandle_t h = handle(rc, op);
    ConvDescs d(op, g, nd, t);
    void* w = ws.is_none() ? nullptr : ws.raw_data();
    const Scale one(1.0, t);
    for (size_t i = 0; i < steps.size(); ++i) {
      const ConvStep& s = steps[i];
      const Scale beta(s.req == Req::add ? 1.0 : 0.0, t);
      switch (s.kind) {
        case ConvStep::forward:
          check(cudnnSetConvolutionMathType(d.conv, algos[i].math), op, "cudnnSetConvolutionMathType");
          check(cudnnConvolutionForward(h, one.ptr(), d.image, s.a.raw_data(), d.filter, s.b.raw_data(), d.conv,
                                        cudnnConvolutionFwdAlgo_t(algos[i].algo), w, ws_bytes, beta.ptr(), d.colside,
                                        s.out.raw_data()),
                op, "cudnnConvolutionForward");
          break;
        case ConvStep::backward_data:
          check(cudnnSetConvolutionMathType(d.conv, algos[i].math), op, "cudnnSetConvolutionMathType");
          check(cudnnConvolutionBackwardData(h, one.ptr(), d.filter, s.b.raw_data(), d.colside, s.a.raw_data(), d.conv,
                                             cudnnConvolutionBwdDataAlgo_t(algos[i].algo), w, ws_bytes, beta.ptr(),
                                             d.image, s.out.raw_data()),
                op, "cudnnConvolutionBackwardData");
          break;
        case ConvStep::backward_filter:
          check(cudnnSetConvolutionMathType(d.conv, algos[i].math), op, "cudnnSetConvolutionMathType");
          check(cudnnConvolutionBackwardFilter(h, one.ptr(), d.image, s.a.raw_data(), d.colside, s.b.raw_data(),
                                               d.conv, cudnnConvolutionBwdFilterAlgo_t(algos[i].algo), w, ws_bytes,
                                               beta.ptr(), d.filter, s.out.raw_data()),
                op, "cudnnConvolutionBackwardFilter");
          break;
        case ConvStep::add_bias: {
          const std::vector<int64_t> dims = nchw(s.out.shape());
          TensorDesc td(op), bd(op);
          set_tensor(td, op, t, dims);
          set_channel(bd, op, t, dims);
          check(cudnnAddTensor(h, one.ptr(), bd, s.a.raw_data(), one.ptr(), td, s.out.raw_data()), op,
                "cudnnAddTensor");
          break;
        }
        case ConvStep::bias_grad: {
          const std::vector<int64_t> dims = nchw(s.a.shape());
          TensorDesc td(op), bd(op);
          set_tensor(td, op, t, dims);
          set_channel(bd, op, t, dims);
          check(cudnnConvolutionBackwardBias(h, one.ptr(), td, s.a.raw_data(), beta.ptr(), bd, s.out.raw_data()), op,
                "cudnnConvolutionBackwardBias");
          break;
        }
      }
    }
  });
  return true;
}

}  // namespace mixt::op::cudnn

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif  // MIXT_USE_CUDA && MIXT_USE_CUDNN
