// Matrix products C (M x N) = A (M x K) . B (K x N); float32:
//   - nd::dot through CBLAS against cblas_sgemm called directly on the same buffers (the cost of mixt's layer:
//     the expression, the checks, the engine push), target ratio >= 0.95;
//   - the portable GEMM (blas::portable_gemm, what mixt uses without a BLAS) against Eigen's MatrixXf product,
//     target ratio >= 1.0.
// Then float64 without BLAS: the compact GEMM (the default) against the packed one (MIXT_EXPR_DTYPES with float64).
// With 1 and 2 threads (mixt::set_num_threads, openblas_set_num_threads, Eigen::setNbThreads). Each time is the
// best of several runs after a warm-up; each side's runs go together (see best_seconds). Ratios are speed ratios:
// > 1 means the first is faster.
#include <mixt/mixt.hpp>
#include <mixt/blas/blas.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace {

/// Best times of f and g over `reps` runs each: all of f's runs, then all of g's, then a pause. Not alternated:
/// the baselines' worker threads (OpenBLAS's, Eigen's OpenMP team) spin for a while after each call, and on a
/// 2-core machine that spinning took a core from the next mixt run (its 2-thread GEMM measured 176 GFLOP/s
/// alternated and 221-254 alone).
std::pair<double, double> best_seconds(const std::function<void()>& f, const std::function<void()>& g, int reps) {
  auto time = [](const std::function<void()>& h) {
    auto t0 = std::chrono::steady_clock::now();
    h();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  double bf = 1e30, bg = 1e30;
  f();  // warm-up: caches, thread pools, scratch buffers
  for (int r = 0; r < reps; ++r) bf = std::min(bf, time(f));
  g();
  for (int r = 0; r < reps; ++r) bg = std::min(bg, time(g));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the baseline's spinning threads fall asleep
  return {bf, bg};
}

double gflops(int64_t M, int64_t N, int64_t K, double seconds) { return 2.0 * double(M) * double(N) * double(K) / seconds / 1e9; }

}  // namespace

int main(int argc, char** argv) {
  using namespace mixt;
  const int reps = argc > 1 ? std::atoi(argv[1]) : 10;
  struct Size { int64_t M, N, K; };
  const Size sizes[] = {{1024, 1024, 1024}, {4096, 256, 1024}};

  std::printf("float32 C(M x N) = A(M x K) . B(K x N); GFLOP/s (best of %d runs)\n\n", reps);
  std::printf("%-16s %3s | %9s %9s %7s | %9s %9s %7s\n", "M x N x K", "thr", "mixt+BLAS", "cblas", "ratio",
              "portable", "Eigen", "ratio");
  for (const Size& s : sizes) {
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      Eigen::setNbThreads(threads);
      NDArray a = nd::array(std::vector<float>(size_t(s.M * s.K), 0.5f), Shape{s.M, s.K});
      NDArray b = nd::array(std::vector<float>(size_t(s.K * s.N), 0.25f), Shape{s.K, s.N});
      NDArray c(Shape{s.M, s.N});
      a.wait_to_read();
      b.wait_to_read();

      double t_mixt = 0, t_cblas = 0;
#if MIXT_USE_CBLAS
      std::tie(t_mixt, t_cblas) = best_seconds(
          [&] { c.assign(nd::dot(a, b)); c.wait_to_read(); },
          [&] {  // mixt runs OpenBLAS single-threaded under its own split; the direct call uses OpenBLAS's threads
            openblas_set_num_threads(threads);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(s.M), int(s.N), int(s.K), 1.f,
                        a.data<float>(), int(s.K), b.data<float>(), int(s.N), 0.f, c.data<float>(), int(s.N));
          },
          reps);
#endif
      Eigen::MatrixXf ea = Eigen::MatrixXf::Constant(s.M, s.K, 0.5f), eb = Eigen::MatrixXf::Constant(s.K, s.N, 0.25f);
      Eigen::MatrixXf ec(s.M, s.N);
      const auto [t_portable, t_eigen] = best_seconds(
          [&] {
            blas::portable_gemm<float>(false, false, s.M, s.N, s.K, 1.f, a.data<float>(), s.K, b.data<float>(),
                                       s.N, 0.f, c.data<float>(), s.N);
          },
          [&] { ec.noalias() = ea * eb; }, reps);

      char name[32];
      std::snprintf(name, sizeof name, "%lldx%lldx%lld", (long long)s.M, (long long)s.N, (long long)s.K);
      if (t_mixt > 0)
        std::printf("%-16s %3d | %9.1f %9.1f %7.3f | ", name, threads, gflops(s.M, s.N, s.K, t_mixt),
                    gflops(s.M, s.N, s.K, t_cblas), t_cblas / t_mixt);
      else
        std::printf("%-16s %3d | %9s %9s %7s | ", name, threads, "-", "-", "-");
      std::printf("%9.1f %9.1f %7.3f\n", gflops(s.M, s.N, s.K, t_portable), gflops(s.M, s.N, s.K, t_eigen),
                  t_eigen / t_portable);
    }
  }

  // float64 without BLAS: the compact GEMM a program gets by default, against the packed one it gets when
  // MIXT_EXPR_DTYPES includes float64 (blas/gemm.hpp).
  std::printf("\nfloat64 without BLAS; GFLOP/s (best of %d runs)\n\n", reps);
  std::printf("%-16s %3s | %9s %9s %7s\n", "M x N x K", "thr", "compact", "packed", "ratio");
  for (const Size& s : sizes) {
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<double> a(size_t(s.M * s.K), 0.5), b(size_t(s.K * s.N), 0.25), c(size_t(s.M * s.N));
      const auto [t_compact, t_packed] = best_seconds(
          [&] { blas::compact_gemm<double>(false, false, s.M, s.N, s.K, 1, a.data(), s.K, b.data(), s.N, 0, c.data(), s.N); },
          [&] { blas::portable_gemm<double>(false, false, s.M, s.N, s.K, 1, a.data(), s.K, b.data(), s.N, 0, c.data(), s.N); },
          reps);
      char name[32];
      std::snprintf(name, sizeof name, "%lldx%lldx%lld", (long long)s.M, (long long)s.N, (long long)s.K);
      std::printf("%-16s %3d | %9.1f %9.1f %7.3f\n", name, threads, gflops(s.M, s.N, s.K, t_compact),
                  gflops(s.M, s.N, s.K, t_packed), t_packed / t_compact);
    }
  }
  return 0;
}
