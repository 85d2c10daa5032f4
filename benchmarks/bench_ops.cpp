// Operators on the CPU, float32, forward + backward per iteration:
//   - FullyConnected, batch 128, 784 -> 256, against three cblas_sgemm calls and a bias loop;
//   - Convolution, batch 64, 32 -> 64 channels, 3x3, pad 1, 28x28, against a direct im2col + cblas_sgemm per image
//     (Caffe's way: forward W . col, backward dW += g . col^T, dcol = W^T . g then a scatter col2im).
// mixt runs through op::invoke and Op::backward (the engine, the checks, the launch kernels); the baselines call
// OpenBLAS on raw buffers with OpenBLAS's own threads (only when MIXT_USE_CBLAS is 1). Best of several runs after
// a warm-up, mixt's runs first; ratio = baseline time / mixt time (> 1: mixt is faster).
#include <mixt/mixt.hpp>
#include <mixt/op/op.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

namespace {

double seconds(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Best times of f and g (g may be empty) over `reps` runs each, after one warm-up run: all of f's runs, then all
/// of g's. (Alternating them measured f while OpenBLAS's threads, woken by g, still spun for the cores.)
std::pair<double, double> best_seconds(const std::function<void()>& f, const std::function<void()>& g, int reps) {
  double bf = 1e30, bg = 1e30;
  f();
  for (int r = 0; r < reps; ++r) bf = std::min(bf, seconds(f));
  if (g) {
    g();
    for (int r = 0; r < reps; ++r) bg = std::min(bg, seconds(g));
    // OpenBLAS's threads spin for about 2^28 cycles after a call: let them fall asleep before the next benchmark.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return {bf, g ? bg : 0.0};
}

void report(const char* name, double flops, double t_mixt, double t_base) {
  std::printf("%-44s mixt %8.2f ms %7.1f GFLOP/s", name, t_mixt * 1e3, flops / t_mixt / 1e9);
  if (t_base > 0)
    std::printf(" | OpenBLAS direct %8.2f ms %7.1f GFLOP/s | ratio %.2f", t_base * 1e3, flops / t_base / 1e9,
                t_base / t_mixt);
  std::printf("\n");
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * float(int(i * 7919 % 201) - 100) / 100.f;
  return v;
}

#if MIXT_USE_CBLAS
/// col (C*k*k, H*W) of one image, stride 1, pad `pad`.
void im2col(const float* x, int C, int H, int W, int k, int pad, float* col) {
  for (int c = 0; c < C; ++c)
    for (int a = 0; a < k; ++a)
      for (int b = 0; b < k; ++b) {
        float* row = col + ((c * k + a) * k + b) * H * W;
        for (int h = 0; h < H; ++h) {
          const int ih = h - pad + a;
          for (int w = 0; w < W; ++w) {
            const int iw = w - pad + b;
            row[h * W + w] = ih >= 0 && ih < H && iw >= 0 && iw < W ? x[(c * H + ih) * W + iw] : 0.f;
          }
        }
      }
}
/// dx (=) the scatter-add of col (C*k*k, H*W) back onto one image.
void col2im(const float* col, int C, int H, int W, int k, int pad, float* dx) {
  std::fill(dx, dx + C * H * W, 0.f);
  for (int c = 0; c < C; ++c)
    for (int a = 0; a < k; ++a)
      for (int b = 0; b < k; ++b) {
        const float* row = col + ((c * k + a) * k + b) * H * W;
        for (int h = 0; h < H; ++h) {
          const int ih = h - pad + a;
          if (ih < 0 || ih >= H) continue;
          for (int w = 0; w < W; ++w) {
            const int iw = w - pad + b;
            if (iw >= 0 && iw < W) dx[(c * H + ih) * W + iw] += row[h * W + w];
          }
        }
      }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  using namespace mixt;
  const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
  std::printf("float32 forward + backward on the CPU, best of %d runs, %d threads\n", reps, num_threads());

  {  // FullyConnected
    const int N = 128, K = 784, H = 256;
    NDArray x = nd::array(ramp(size_t(N * K), 1.f), Shape{N, K}), w = nd::array(ramp(size_t(H * K), 0.05f), Shape{H, K}),
            b = nd::array(ramp(size_t(H), 0.1f), Shape{H}), g = nd::array(ramp(size_t(N * H), 0.5f), Shape{N, H});
    std::vector<NDArray> grads = {NDArray(Shape{N, K}), NDArray(Shape{H, K}), NDArray(Shape{H})};
    const op::FullyConnected::Param p{.num_hidden = H};
    const std::vector<op::Req> req(3, op::Req::write);
    auto run_mixt = [&] {
      std::vector<NDArray> y = op::invoke<op::FullyConnected>(p, {x, w, b}, {}, true);
      op::FullyConnected::backward(p, {true, {}}, {g}, {x, w, b}, y, req, grads, {});
      for (const NDArray& a : grads) a.wait_to_read();
    };
    std::function<void()> run_base;
#if MIXT_USE_CBLAS
    std::vector<float> y(size_t(N * H)), dx(size_t(N * K)), dw(size_t(H * K)), db(static_cast<size_t>(H));
    const float *X = x.data<float>(), *Wt = w.data<float>(), *B = b.data<float>(), *G = g.data<float>();
    run_base = [&] {
      openblas_set_num_threads(num_threads());  // mixt runs OpenBLAS single-threaded; the direct calls use its threads
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, H, K, 1.f, X, K, Wt, K, 0.f, y.data(), H);
      for (int n = 0; n < N; ++n)
        for (int h = 0; h < H; ++h) y[size_t(n * H + h)] += B[h];
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, H, 1.f, G, H, Wt, K, 0.f, dx.data(), K);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, K, N, 1.f, G, H, X, K, 0.f, dw.data(), K);
      std::fill(db.begin(), db.end(), 0.f);
      for (int n = 0; n < N; ++n)
        for (int h = 0; h < H; ++h) db[size_t(h)] += G[n * H + h];
    };
#endif
    auto [tm, tb] = best_seconds(run_mixt, run_base, reps * 4);
    report("FullyConnected 128 x 784 -> 256", 6.0 * N * K * H, tm, tb);
  }

  {  // Convolution
    const int N = 64, C = 32, F = 64, S = 28, k = 3, pad = 1, HW = S * S, CK = C * k * k;
    NDArray x = nd::array(ramp(size_t(N * C * HW), 1.f), Shape{N, C, S, S}),
            w = nd::array(ramp(size_t(F * CK), 0.05f), Shape{F, C, k, k}), b = nd::array(ramp(size_t(F), 0.1f), Shape{F}),
            g = nd::array(ramp(size_t(N * F * HW), 0.5f), Shape{N, F, S, S});
    std::vector<NDArray> grads = {NDArray(x.shape()), NDArray(w.shape()), NDArray(b.shape())};
    const op::Convolution::Param p{.kernel = {k, k}, .pad = {pad, pad}, .num_filter = F};
    const std::vector<op::Req> req(3, op::Req::write);
    auto run_mixt = [&] {
      std::vector<NDArray> y = op::invoke<op::Convolution>(p, {x, w, b}, {}, true);
      op::Convolution::backward(p, {true, {}}, {g}, {x, w, b}, y, req, grads, {});
      for (const NDArray& a : grads) a.wait_to_read();
    };
    std::function<void()> run_base;
#if MIXT_USE_CBLAS
    std::vector<float> y(size_t(N * F * HW)), col(size_t(CK * HW)), dx(size_t(N * C * HW)), dw(size_t(F * CK)),
        db(static_cast<size_t>(F));
    const float *X = x.data<float>(), *Wt = w.data<float>(), *B = b.data<float>(), *G = g.data<float>();
    run_base = [&] {
      openblas_set_num_threads(num_threads());  // mixt runs OpenBLAS single-threaded; the direct calls use its threads
      for (int n = 0; n < N; ++n) {  // forward
        im2col(X + size_t(n) * C * HW, C, S, S, k, pad, col.data());
        float* yn = y.data() + size_t(n) * F * HW;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, F, HW, CK, 1.f, Wt, CK, col.data(), HW, 0.f, yn, HW);
        for (int f = 0; f < F; ++f)
          for (int i = 0; i < HW; ++i) yn[f * HW + i] += B[f];
      }
      std::fill(db.begin(), db.end(), 0.f);
      for (int n = 0; n < N; ++n) {  // backward
        const float* gn = G + size_t(n) * F * HW;
        im2col(X + size_t(n) * C * HW, C, S, S, k, pad, col.data());
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, F, CK, HW, 1.f, gn, HW, col.data(), HW, n ? 1.f : 0.f,
                    dw.data(), CK);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CK, HW, F, 1.f, Wt, CK, gn, HW, 0.f, col.data(), HW);
        col2im(col.data(), C, S, S, k, pad, dx.data() + size_t(n) * C * HW);
        for (int f = 0; f < F; ++f)
          for (int i = 0; i < HW; ++i) db[size_t(f)] += gn[f * HW + i];
      }
    };
#endif
    auto [tm, tb] = best_seconds(run_mixt, run_base, reps);
    report("Convolution 64 x 32 -> 64, 3x3 pad 1, 28x28", 6.0 * N * F * CK * HW, tm, tb);
  }
#if !MIXT_USE_CBLAS
  std::printf("(built without CBLAS: no OpenBLAS baseline)\n");
#endif
  return 0;
}
