// Compile-time benchmark, mixt side: a small NDArray program with one matrix product and one fused element-wise
// expression. Its twin written with Eigen's Tensor module is eigen_small.cpp; benchmarks/compile_time.sh times both.
#include <mixt/mixt.hpp>

#include <cstdio>

namespace mx = mixt;

int main() {
  auto ctx = mx::cpu();
  mx::NDArray x = mx::nd::full({64, 128}, 0.5, ctx);
  mx::NDArray w = mx::nd::full({128, 32}, 0.25, ctx);
  mx::NDArray b = mx::nd::ones({64, 32}, ctx);
  mx::NDArray y = mx::nd::dot(x, w);                       // contraction: 128 * 0.5 * 0.25 = 16
  mx::NDArray z = mx::nd::exp(y * 0.125f) + b * 2.f - 1.f;  // one fused kernel: e^2 + 1
  std::printf("z[0] = %g\n", z.to_vector<float>()[0]);
  return 0;
}
