// GPU benchmarks on gpu(0): the element-wise chains `(a + b) / 10 * c - d` and `(a + b) / 10 * sigmoid(c) - d`
// fused by mixt, against a device-to-device cudaMemcpy moving the same bytes; and dot against cublasSgemm called
// directly on the same buffers. Timed with CUDA events, median of 20 runs after a warm-up.
#include <cublas_v2.h>

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
  std::printf("%-10s %-10s %12s %12s %12s %8s\n", "chain", "n", "fused GB/s", "memcpy GB/s", "fused ms", "ratio");
  for (int64_t n : {int64_t(1) << 24, int64_t(1) << 26}) {
    mx::NDArray a = mx::nd::full({n}, 1.5, ctx), b = mx::nd::full({n}, 0.5, ctx), c = mx::nd::full({n}, -0.25, ctx),
                d = mx::nd::full({n}, 2.0, ctx), out = mx::nd::zeros({n}, ctx);
    mx::NDArray src = mx::nd::zeros({5 * n}, ctx), dst = mx::nd::zeros({5 * n}, ctx);
    mx::waitall();
    cudaStream_t s = mx::engine::cuda::to_stream(mx::engine::cuda::default_stream(0));
    // A copy of 2.5 n floats reads 2.5 n and writes 2.5 n: the 5 n floats a chain moves (4 reads, 1 write).
    double copy_ms = median_ms([&] { cudaMemcpyAsync(dst.raw_data(), src.raw_data(), size_t(n) * 10, cudaMemcpyDeviceToDevice, s); });
    double bytes = 5.0 * 4.0 * double(n);
    for (int chain = 0; chain < 2; ++chain) {
      double ms = chain == 0 ? median_ms([&] { out.assign((a + b) / 10.f * c - d); })
                             : median_ms([&] { out.assign((a + b) / 10.f * sigmoid(c) - d); });
      std::printf("%-10s %-10lld %12.1f %12.1f %12.3f %7.2fx\n", chain ? "sigmoid" : "plain", (long long)n,
                  bytes / ms / 1e6, bytes / copy_ms / 1e6, ms, copy_ms / ms);
    }
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
  cublasDestroy(h);
  return 0;
}
