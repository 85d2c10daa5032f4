// Memory-bound element-wise chains over 2^24 float32, at 1 and 2 threads:
//   chain A: (a + b) / 10 * c - d          chain B: (a + b) / 10 * sigmoid(c) - d
// mixt fused (one kernel), mixt unfused (a materialized temporary per operation), a hand-written loop on the
// same thread pool, and Eigen's Tensor module on a ThreadPoolDevice. GB/s counts 4 arrays read + 1 written.
// The four run in alternation (interleaved_medians), each figure the median of 15.
#define EIGEN_USE_THREADS
#include <unsupported/Eigen/CXX11/Tensor>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

#include <mixt/mixt.hpp>

#include "median_time.hpp"

namespace mx = mixt;

int main() {
  const int64_t n = int64_t(1) << 24;
  const double bytes = 5.0 * 4.0 * double(n);
  auto ctx = mx::cpu();
  mx::NDArray a = mx::nd::full({n}, 1.5, ctx), b = mx::nd::full({n}, 0.5, ctx), c = mx::nd::full({n}, -0.25, ctx),
              d = mx::nd::full({n}, 2.0, ctx);
  mx::NDArray out = mx::nd::zeros({n}, ctx);
  mx::waitall();
  const float *pa = a.data<float>(), *pb = b.data<float>(), *pc = c.data<float>(), *pd = d.data<float>();
  float* po = out.data<float>();

  Eigen::TensorMap<Eigen::Tensor<const float, 1>> ea(pa, n), eb(pb, n), ec(pc, n), ed(pd, n);
  Eigen::TensorMap<Eigen::Tensor<float, 1>> eo(po, n);

  std::printf("%-8s %-7s %10s %10s %10s %10s %12s %12s\n", "chain", "threads", "fused", "unfused", "loop", "eigen",
              "fused/eigen", "fused/unfused");
  for (int threads : {1, 2}) {
    mx::set_num_threads(threads);
    Eigen::ThreadPool pool(threads);
    Eigen::ThreadPoolDevice dev(&pool, threads);
    for (int chain = 0; chain < 2; ++chain) {
      std::vector<std::function<void()>> variants;
      if (chain == 0) {
        variants = {
            [&] { out.assign((a + b) / 10.f * c - d); mx::waitall(); },
            [&] {
              mx::NDArray t1 = a + b, t2 = t1 / 10.f, t3 = t2 * c;
              out.assign(t3 - d);
              mx::waitall();
            },
            [&] {
              mx::parallel_for(n, 1 << 15, [&](int64_t s, int64_t e) {
                for (int64_t i = s; i < e; ++i) po[i] = (pa[i] + pb[i]) / 10.f * pc[i] - pd[i];
              });
            },
            [&] { eo.device(dev) = (ea + eb) / 10.f * ec - ed; }};
      } else {
        variants = {
            [&] { out.assign((a + b) / 10.f * sigmoid(c) - d); mx::waitall(); },
            [&] {
              mx::NDArray t1 = a + b, t2 = t1 / 10.f, t3 = sigmoid(c), t4 = t2 * t3;
              out.assign(t4 - d);
              mx::waitall();
            },
            [&] {
              mx::parallel_for(n, 1 << 15, [&](int64_t s, int64_t e) {
                for (int64_t i = s; i < e; ++i)
                  po[i] = (pa[i] + pb[i]) / 10.f * (1.f / (1.f + std::exp(-pc[i]))) - pd[i];
              });
            },
            [&] { eo.device(dev) = (ea + eb) / 10.f * ec.sigmoid() - ed; }};
      }
      const std::vector<double> t = interleaved_medians(variants);
      const double t_fused = t[0], t_unfused = t[1], t_loop = t[2], t_eigen = t[3];
      auto gbs = [&](double t) { return bytes / t / 1e9; };
      std::printf("%-8s %-7d %7.1f GB/s %6.1f GB/s %6.1f GB/s %6.1f GB/s %11.2fx %11.2fx\n", chain ? "sigmoid" : "plain",
                  threads, gbs(t_fused), gbs(t_unfused), gbs(t_loop), gbs(t_eigen), t_eigen / t_fused,
                  t_unfused / t_fused);
    }
  }
  return 0;
}
