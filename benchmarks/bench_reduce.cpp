// Memory-bound reductions over 2^24 float32, at 1 and 2 threads: mixt's nd::sum against Eigen's Tensor module
// (on a ThreadPoolDevice with as many threads) and against a plain copy loop on mixt's thread pool (the memory
// bandwidth one pass can hope for). GB/s counts the bytes read (the copy: read + written).
//   sum(x)           reduce-all                      sum(x * y)   an expression under the sum (two arrays read)
//   sum(X, axis=1)   trailing axis of (2^14, 2^10)   sum(X, axis=0)   leading axis of (2^14, 2^10)
#define EIGEN_USE_THREADS
#include <unsupported/Eigen/CXX11/Tensor>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include <mixt/mixt.hpp>

#include "median_time.hpp"

namespace mx = mixt;

int main() {
  const int64_t n = int64_t(1) << 24, rows = int64_t(1) << 14, cols = n / rows;
  // Resize the pool before it has run any loop: a worker started after earlier parallel loops can pick up a
  // finished job (reported as a thread_pool.hpp bug); loops at one thread never start a job, so 1 -> 2 is safe.
  mx::set_num_threads(1);
  auto ctx = mx::cpu();
  mx::NDArray x = mx::nd::full({n}, 0.5, ctx), y = mx::nd::full({n}, 0.25, ctx), out = mx::nd::zeros({n}, ctx);
  mx::NDArray X = x.reshape({rows, cols});
  mx::waitall();
  const float *px = x.data<float>(), *py = y.data<float>();
  float* po = out.data<float>();
  Eigen::TensorMap<Eigen::Tensor<const float, 1>> ex(px, n), ey(py, n);
  Eigen::TensorMap<Eigen::Tensor<const float, 2, Eigen::RowMajor>> eX(px, rows, cols);
  Eigen::Tensor<float, 0> e0;
  Eigen::Tensor<float, 1, Eigen::RowMajor> ecols(cols), erows(rows);
  volatile float sink = 0;

  std::printf("%-16s %-7s %12s %12s %12s %12s %12s\n", "reduction", "threads", "mixt", "eigen", "copy loop",
              "mixt/eigen", "mixt/copy");
  for (int threads : {1, 2}) {
    mx::set_num_threads(threads);
    Eigen::ThreadPool pool(threads);
    Eigen::ThreadPoolDevice dev(&pool, threads);
    const std::function<void()> copy = [&] {
      mx::parallel_for(n, 1 << 15, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) po[i] = px[i];
      });
    };
    struct Case { const char* name; double bytes; std::function<void()> mixt, eigen; };
    const std::vector<Case> cases = {
        {"sum(x)", 4.0 * double(n), [&] { sink = mx::nd::sum(x).item<float>(); },
         [&] { e0.device(dev) = ex.sum(); sink = e0(); }},
        {"sum(x * y)", 8.0 * double(n), [&] { sink = mx::nd::sum(x * y).item<float>(); },
         [&] { e0.device(dev) = (ex * ey).sum(); sink = e0(); }},
        {"sum(X, axis=1)", 4.0 * double(n), [&] { mx::nd::sum(X, 1).wait_to_read(); },
         [&] { erows.device(dev) = eX.sum(Eigen::array<int, 1>{1}); }},
        {"sum(X, axis=0)", 4.0 * double(n), [&] { mx::nd::sum(X, 0).wait_to_read(); },
         [&] { ecols.device(dev) = eX.sum(Eigen::array<int, 1>{0}); }}};
    // mixt, Eigen and the copy loop alternate (interleaved_medians): timed one after the other, this VM's drift
    // decided comparisons of a few percent. (The warm-up round also covers what a first measurement used to
    // suffer: a case could come out a third slower than its second.)
    for (const Case& c : cases) {
      const std::vector<double> t = interleaved_medians({c.mixt, c.eigen, copy});
      const double g_mixt = c.bytes / t[0] / 1e9, g_eigen = c.bytes / t[1] / 1e9, copy_gbs = 8.0 * double(n) / t[2] / 1e9;
      std::printf("%-16s %-7d %7.1f GB/s %7.1f GB/s %7.1f GB/s %11.2fx %11.2fx\n", c.name, threads, g_mixt, g_eigen,
                  copy_gbs, g_mixt / g_eigen, g_mixt / copy_gbs);
    }
  }
  (void)sink;
  return 0;
}
