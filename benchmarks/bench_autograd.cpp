// Backward of recorded element-wise chains over 2^22 float32, at 1 and 2 threads:
//   chain A: (a + b) / 10 * c - d          chain B: (a + b) / 10 * sigmoid(c) - d
// mixt's backward (y.backward(g): each leaf's adjoint derived at run time and evaluated as one interpreted kernel
// into a new array, autograd/record.hpp, then written to the leaf's gradient buffer) against the same four
// adjoints written by hand as typed fused expressions, each evaluated into a new array and written to the same
// buffer: what compiling each expression's adjoints from its type gave. GB/s counts, for the backward, the arrays
// each adjoint reads and the gradient it writes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <vector>

#include <mixt/mixt.hpp>

#include "median_time.hpp"

namespace mx = mixt;

int main() {
  const int64_t n = int64_t(1) << 22;
  mx::NDArray a = mx::nd::random::uniform(-1, 1, {n}), b = mx::nd::random::uniform(-1, 1, {n}),
              c = mx::nd::random::uniform(-1, 1, {n}), d = mx::nd::random::uniform(-1, 1, {n}),
              g = mx::nd::random::uniform(-1, 1, {n});
  for (mx::NDArray* x : {&a, &b, &c, &d}) x->attach_grad();
  mx::waitall();
  // Arrays read + written per adjoint: a and b read g, c; c reads g, a, b; d reads g.
  const double bytes = 4.0 * double(n) * (3 + 3 + 4 + 2);

  std::printf("%-8s %-7s %12s %12s %12s %14s\n", "chain", "threads", "backward", "typed", "GB/s", "backward/typed");
  for (int threads : {1, 2}) {
    mx::set_num_threads(threads);
    for (int chain = 0; chain < 2; ++chain) {
      mx::NDArray y;
      auto record = [&] {
        mx::autograd::record rec;
        y = chain == 0 ? mx::NDArray((a + b) / 10.f * c - d) : mx::NDArray((a + b) / 10.f * mx::sigmoid(c) - d);
        y.wait_to_read();
      };
      const double t_backward = median_seconds(record, [&] {
        y.backward(g);
        mx::waitall();
      });
      const double t_typed = median_seconds([&] {
        if (chain == 0) {
          a.grad().assign(mx::NDArray(g / 10.f * c));
          b.grad().assign(mx::NDArray(g / 10.f * c));
          c.grad().assign(mx::NDArray(g * ((a + b) / 10.f)));
        } else {
          a.grad().assign(mx::NDArray(g / 10.f * mx::sigmoid(c)));
          b.grad().assign(mx::NDArray(g / 10.f * mx::sigmoid(c)));
          c.grad().assign(mx::NDArray(g * ((a + b) / 10.f) * mx::sigmoid(c) * (1.f - mx::sigmoid(c))));
        }
        d.grad().assign(mx::NDArray(-g));
        mx::waitall();
      });
      std::printf("%-8s %-7d %9.2f ms %9.2f ms %12.1f %14.2f\n", chain == 0 ? "A" : "B", threads, t_backward * 1e3,
                  t_typed * 1e3, bytes / t_backward / 1e9, t_backward / t_typed);
    }
  }
  return 0;
}
