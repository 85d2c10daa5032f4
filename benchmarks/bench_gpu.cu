// GPU benchmarks on gpu(0): the element-wise chains `(a + b) / 10 * c - d` and `(a + b) / 10 * sigmoid(c) - d`
// fused by mixt, against a device-to-device cudaMemcpy moving the same bytes (and a broadcast row added to a
// matrix against the copy's bandwidth); dot against cublasSgemm called directly on the same buffers; forward +
// backward of FullyConnected (batch 128, 784 -> 256) against the same products and bias sums called directly in
// cuBLAS, and of Convolution (batch 64, 32 -> 64 channels, 3x3, pad 1, 28x28) against cuDNN called directly with
// the algorithms cudnnFind* picks. Timed with CUDA events, median of 20 runs after a warm-up.
#include <cublas_v2.h>
#if MIXT_USE_CUDNN
#include <cudnn.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <vector>

#include <mixt/mixt.hpp>

namespace mx = mixt;

static double median_ms(const std::function<void()>& f, int reps = 20) {
  f();
  mx::waitall();
  cudaEvent_t b, e;
  cudaEventCreate(&b);
  cudaEventCreate(&e);
  cudaStream_t s = mx::engine::cuda::to_stream(mx::engine::cuda::default_stream(0));
  std::vector<float> t;
  for (int r = 0; r < reps; ++r) {
    cudaEventRecord(b, s);
    f();
    cudaEventRecord(e, s);
    cudaEventSynchronize(e);
    float ms;
    cudaEventElapsedTime(&ms, b, e);
    t.push_back(ms);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

static void bench_fully_connected(const mx::Context& ctx, cublasHandle_t h) {
  using namespace mixt;
  const int N = 128, K = 784, H = 256;
  NDArray x = nd::random::uniform(-1, 1, {N, K}, ctx), w = nd::random::uniform(-0.1, 0.1, {H, K}, ctx),
          b = nd::random::uniform(-0.1, 0.1, {H}, ctx), g = nd::random::uniform(-1, 1, {N, H}, ctx);
  std::vector<NDArray> grads = {NDArray(Shape{N, K}, ctx), NDArray(Shape{H, K}, ctx), NDArray(Shape{H}, ctx)};
  const op::FullyConnected::Param p{.num_hidden = H};
  const std::vector<op::Req> req(3, op::Req::write);
  const double mixt_ms = median_ms([&] {
    std::vector<NDArray> y = op::invoke<op::FullyConnected>(p, {x, w, b}, {}, true);
    op::FullyConnected::backward(p, {true, {}}, {g}, {x, w, b}, y, req, grads, {});
  });
  // Row-major arrays are column-major transposes: Y^T = W X^T (+ b 1^T), dX^T = W^T G^T, dW^T = X^T G, db = G^T 1.
  NDArray y = nd::zeros({N, H}, ctx), dx = nd::zeros({N, K}, ctx), dw = nd::zeros({H, K}, ctx), db = nd::zeros({H}, ctx),
          ones = nd::ones({N}, ctx);
  waitall();
  const float one = 1, zero = 0;
  const double cublas_ms = median_ms([&] {
    cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, H, N, K, &one, w.data<float>(), K, x.data<float>(), K, &zero,
                y.data<float>(), H);
    cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, H, N, 1, &one, b.data<float>(), H, ones.data<float>(), 1, &one,
                y.data<float>(), H);
    cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, K, N, H, &one, w.data<float>(), K, g.data<float>(), H, &zero,
                dx.data<float>(), K);
    cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, K, H, N, &one, x.data<float>(), K, g.data<float>(), H, &zero,
                dw.data<float>(), K);
    cublasSgemv(h, CUBLAS_OP_N, H, N, &one, g.data<float>(), H, ones.data<float>(), 1, &zero, db.data<float>(), 1);
  });
  std::printf("%-36s %10.3f %10.3f %7.2fx\n", "FullyConnected 128 x 784 -> 256", mixt_ms, cublas_ms,
              cublas_ms / mixt_ms);
}

#if MIXT_USE_CUDNN
#define CUDNN_OK(call)                                                                           \
  do {                                                                                           \
    cudnnStatus_t st = (call);                                                                   \
    if (st != CUDNN_STATUS_SUCCESS) {                                                            \
      std::printf("cuDNN baseline: %s failed: %s\n", #call, cudnnGetErrorString(st));           \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

static void bench_convolution(const mx::Context& ctx) {
  using namespace mixt;
  const int N = 64, C = 32, F = 64, S = 28, k = 3, pad = 1;
  NDArray x = nd::random::uniform(-1, 1, {N, C, S, S}, ctx), w = nd::random::uniform(-0.1, 0.1, {F, C, k, k}, ctx),
          b = nd::random::uniform(-0.1, 0.1, {F}, ctx), g = nd::random::uniform(-1, 1, {N, F, S, S}, ctx);
  std::vector<NDArray> grads = {NDArray(x.shape(), ctx), NDArray(w.shape(), ctx), NDArray(b.shape(), ctx)};
  const op::Convolution::Param p{.kernel = {k, k}, .pad = {pad, pad}, .num_filter = F};
  const std::vector<op::Req> req(3, op::Req::write);
  const double mixt_ms = median_ms([&] {
    std::vector<NDArray> y = op::invoke<op::Convolution>(p, {x, w, b}, {}, true);
    op::Convolution::backward(p, {true, {}}, {g}, {x, w, b}, y, req, grads, {});
  });

  cudnnHandle_t h;
  CUDNN_OK(cudnnCreate(&h));
  CUDNN_OK(cudnnSetStream(h, mx::engine::cuda::to_stream(mx::engine::cuda::default_stream(0))));
  cudnnTensorDescriptor_t xd, yd, bd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  CUDNN_OK(cudnnCreateTensorDescriptor(&xd));
  CUDNN_OK(cudnnCreateTensorDescriptor(&yd));
  CUDNN_OK(cudnnCreateTensorDescriptor(&bd));
  CUDNN_OK(cudnnCreateFilterDescriptor(&wd));
  CUDNN_OK(cudnnCreateConvolutionDescriptor(&cd));
  CUDNN_OK(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, C, S, S));
  CUDNN_OK(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, F, S, S));
  CUDNN_OK(cudnnSetTensor4dDescriptor(bd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, F, 1, 1));
  CUDNN_OK(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, F, C, k, k));
  CUDNN_OK(cudnnSetConvolution2dDescriptor(cd, pad, pad, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_OK(cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH));  // float32 without TF32, as mixt runs it
  int found = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd;
  cudnnConvolutionBwdDataAlgoPerf_t bwd_data;
  cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter;
  CUDNN_OK(cudnnFindConvolutionForwardAlgorithm(h, xd, wd, cd, yd, 1, &found, &fwd));
  CUDNN_OK(cudnnFindConvolutionBackwardDataAlgorithm(h, wd, yd, cd, xd, 1, &found, &bwd_data));
  CUDNN_OK(cudnnFindConvolutionBackwardFilterAlgorithm(h, xd, yd, cd, wd, 1, &found, &bwd_filter));
  size_t ws_fwd = 0, ws_data = 0, ws_filter = 0;
  CUDNN_OK(cudnnGetConvolutionForwardWorkspaceSize(h, xd, wd, cd, yd, fwd.algo, &ws_fwd));
  CUDNN_OK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, wd, yd, cd, xd, bwd_data.algo, &ws_data));
  CUDNN_OK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, xd, yd, cd, wd, bwd_filter.algo, &ws_filter));
  const size_t ws_bytes = std::max({ws_fwd, ws_data, ws_filter, size_t(4)});
  NDArray ws = nd::zeros({int64_t(ws_bytes / 4 + 1)}, ctx), y = nd::zeros({N, F, S, S}, ctx), dx = nd::zeros(x.shape(), ctx),
          dw = nd::zeros(w.shape(), ctx), db = nd::zeros({F}, ctx);
  waitall();
  const float one = 1, zero = 0;
  const double cudnn_ms = median_ms([&] {
    cudnnConvolutionForward(h, &one, xd, x.data<float>(), wd, w.data<float>(), cd, fwd.algo, ws.data<float>(), ws_bytes,
                            &zero, yd, y.data<float>());
    cudnnAddTensor(h, &one, bd, b.data<float>(), &one, yd, y.data<float>());
    cudnnConvolutionBackwardData(h, &one, wd, w.data<float>(), yd, g.data<float>(), cd, bwd_data.algo, ws.data<float>(),
                                 ws_bytes, &zero, xd, dx.data<float>());
    cudnnConvolutionBackwardFilter(h, &one, xd, x.data<float>(), yd, g.data<float>(), cd, bwd_filter.algo,
                                   ws.data<float>(), ws_bytes, &zero, wd, dw.data<float>());
    cudnnConvolutionBackwardBias(h, &one, yd, g.data<float>(), &zero, bd, db.data<float>());
  });
  std::printf("%-36s %10.3f %10.3f %7.2fx\n", "Convolution 64 x 32 -> 64, 3x3, 28x28", mixt_ms, cudnn_ms,
              cudnn_ms / mixt_ms);
  cudnnDestroyConvolutionDescriptor(cd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyTensorDescriptor(bd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyTensorDescriptor(xd);
  cudnnDestroy(h);
}
#endif

int main() {
  // CUDA events time the engine's stream: run every operation on it, in order (the naive engine).
  setenv("MIXT_ENGINE", "naive", 1);
  if (mx::num_gpus() == 0) {
    std::printf("no CUDA device: GPU benchmarks skipped\n");
    return 0;
  }
  auto ctx = mx::gpu(0);
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s\n\n", prop.name);
  // "1-wide GB/s": the same chain over views that start one element into their storage, which the kernel cannot
  // read 16 bytes at a time (expr/wide.hpp), so each thread moves one element per step.
  std::printf("%-10s %-10s %12s %12s %12s %8s %12s\n", "chain", "n", "fused GB/s", "memcpy GB/s", "fused ms", "ratio",
              "1-wide GB/s");
  for (int64_t n : {int64_t(1) << 24, int64_t(1) << 26}) {
    mx::NDArray a = mx::nd::full({n}, 1.5, ctx), b = mx::nd::full({n}, 0.5, ctx), c = mx::nd::full({n}, -0.25, ctx),
                d = mx::nd::full({n}, 2.0, ctx), out = mx::nd::zeros({n}, ctx);
    auto shifted = [&](double v) { return mx::nd::full({n + 1}, v, ctx).slice(1, n + 1); };
    mx::NDArray sa = shifted(1.5), sb = shifted(0.5), sc = shifted(-0.25), sd = shifted(2.0), sout = shifted(0);
    mx::NDArray src = mx::nd::zeros({5 * n}, ctx), dst = mx::nd::zeros({5 * n}, ctx);
    mx::waitall();
    cudaStream_t s = mx::engine::cuda::to_stream(mx::engine::cuda::default_stream(0));
    // A copy of 2.5 n floats reads 2.5 n and writes 2.5 n: the 5 n floats a chain moves (4 reads, 1 write).
    double copy_ms = median_ms([&] { cudaMemcpyAsync(dst.raw_data(), src.raw_data(), size_t(n) * 10, cudaMemcpyDeviceToDevice, s); });
    double bytes = 5.0 * 4.0 * double(n);
    for (int chain = 0; chain < 2; ++chain) {
      double ms = chain == 0 ? median_ms([&] { out.assign((a + b) / 10.f * c - d); })
                             : median_ms([&] { out.assign((a + b) / 10.f * sigmoid(c) - d); });
      double one_ms = chain == 0 ? median_ms([&] { sout.assign((sa + sb) / 10.f * sc - sd); })
                                 : median_ms([&] { sout.assign((sa + sb) / 10.f * sigmoid(sc) - sd); });
      std::printf("%-10s %-10lld %12.1f %12.1f %12.3f %7.2fx %12.1f\n", chain ? "sigmoid" : "plain", (long long)n,
                  bytes / ms / 1e6, bytes / copy_ms / 1e6, ms, copy_ms / ms, bytes / one_ms / 1e6);
    }
    // A row added to every row of an (n / 1024, 1024) matrix: a broadcast, so the kernel's general path (each
    // element's multi-index by division, expr/cuda/evaluate.cuh). GB/s counts the matrix read and written.
    mx::NDArray matrix = a.reshape({n / 1024, 1024}), row = mx::nd::full({1024}, 0.5, ctx),
                sum = out.reshape({n / 1024, 1024});
    mx::waitall();
    const double row_ms = median_ms([&] { sum.assign(matrix + row); }), row_bytes = 2.0 * 4.0 * double(n);
    std::printf("%-10s %-10lld %12.1f %12.1f %12.3f %7.2fx %12s\n", "x+row", (long long)n, row_bytes / row_ms / 1e6,
                bytes / copy_ms / 1e6, row_ms, (row_bytes / row_ms) / (bytes / copy_ms), "-");
  }

  std::printf("\n%-18s %14s %14s %8s\n", "dot (M x N x K)", "mixt TFLOP/s", "cuBLAS TFLOP/s", "ratio");
  cublasHandle_t h;
  cublasCreate(&h);
  cublasSetStream(h, mx::engine::cuda::to_stream(mx::engine::cuda::default_stream(0)));
  for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{1024, 1024, 1024}, {4096, 256, 1024}, {8192, 8192, 8192}}) {
    mx::NDArray A = mx::nd::random::uniform(-1, 1, {M, K}, ctx), B = mx::nd::random::uniform(-1, 1, {K, N}, ctx),
                C = mx::nd::zeros({M, N}, ctx);
    mx::waitall();
    double mixt_ms = median_ms([&] { C.assign(mx::nd::dot(A, B)); });
    const float alpha = 1, beta = 0;
    double cublas_ms = median_ms([&] {
      cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, int(N), int(M), int(K), &alpha, B.data<float>(), int(N), A.data<float>(),
                  int(K), &beta, C.data<float>(), int(N));
    });
    double flop = 2.0 * double(M) * double(N) * double(K);
    std::printf("%5lldx%5lldx%5lld %14.1f %14.1f %7.2fx\n", (long long)M, (long long)N, (long long)K,
                flop / mixt_ms / 1e9, flop / cublas_ms / 1e9, cublas_ms / mixt_ms);
  }

  std::printf("\n%-36s %10s %10s %8s\n", "forward + backward, float32", "mixt ms", "direct ms", "ratio");
  bench_fully_connected(ctx, h);
#if MIXT_USE_CUDNN
  bench_convolution(ctx);
#else
  std::printf("Convolution: skipped (built without cuDNN)\n");
#endif
  cublasDestroy(h);
  return 0;
}
