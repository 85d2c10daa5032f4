// Compile-time benchmark, Eigen side: the program of mixt_small.cpp written with Eigen's Tensor module (one
// contraction and one element-wise expression).
#include <unsupported/Eigen/CXX11/Tensor>

#include <cstdio>

int main() {
  Eigen::Tensor<float, 2> x(64, 128), w(128, 32), b(64, 32);
  x.setConstant(0.5f);
  w.setConstant(0.25f);
  b.setConstant(1.f);
  const Eigen::array<Eigen::IndexPair<int>, 1> inner = {Eigen::IndexPair<int>(1, 0)};
  Eigen::Tensor<float, 2> y = x.contract(w, inner);                  // 128 * 0.5 * 0.25 = 16
  Eigen::Tensor<float, 2> z = (y * 0.125f).exp() + b * 2.f - 1.f;   // e^2 + 1
  std::printf("z[0] = %g\n", z(0, 0));
  return 0;
}
