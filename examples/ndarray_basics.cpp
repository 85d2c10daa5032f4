// A tour of mixt's NDArray: creation on a context, fused arithmetic, reading values back, broadcasting, a
// reduction, dot, in-place writes, and an error.
#include <cstdio>
#include <mixt/mixt.hpp>

namespace mx = mixt;

static void show(const char* what, const mx::NDArray& a) {
  std::printf("%-36s shape %-8s [", what, a.shape().to_string().c_str());
  auto v = a.to_vector<float>();
  for (size_t i = 0; i < v.size() && i < 8; ++i) std::printf("%s%g", i ? ", " : "", v[i]);
  std::printf("%s]\n", v.size() > 8 ? ", ..." : "");
}

int main() {
  auto ctx = mx::cpu();  // mx::gpu(0) in a program compiled by nvcc
  mx::NDArray a = mx::nd::ones({10}, ctx), b = mx::nd::ones({10}, ctx);
  show("a = ones(10)", a);
  show("zeros((2, 3))", mx::nd::zeros({2, 3}, ctx));
  mx::NDArray c = (a + b) / 10.f;  // one fused kernel, pushed to the engine
  show("c = (a + b) / 10", c);
  mx::NDArray d = b + 1.f;
  show("d = b + 1", d);
  std::vector<float> v = d.to_vector<float>();  // waits for d only
  std::printf("%-36s %g\n", "d.to_vector()[0]", v[0]);

  mx::NDArray m = mx::nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3}, ctx);
  mx::NDArray row = mx::nd::array<float>({10, 20, 30}, {3}, ctx);
  show("m", m);
  show("m + row (broadcast (2,3) + (3,))", m + row);
  show("exp(m) * 2 - m", exp(m) * 2.f - m);

  // A reduction evaluates the expression under it inside its own kernel.
  show("sum(m * m, axis=1)", mx::nd::sum(m * m, {1}));
  std::printf("%-36s %g\n", "mean(m).item()", mx::nd::mean(m).item<float>());
  // dot goes through BLAS when linked; T() is a transpose folded into the call.
  show("dot(m, m.T())", mx::nd::dot(m, m.T()));

  // In-place writes are explicit; `=` rebinds the handle.
  m += row * 0.5f;
  show("m += row * 0.5", m);
  m.slice(0, 1).assign(0.f);
  show("m.slice(0, 1).assign(0)", m);

  try {
    mx::NDArray bad = m + mx::nd::ones({4}, ctx);
    bad.wait_to_read();
  } catch (const mx::Error& e) {
    std::printf("error: %s\n", e.what());
  }
  mx::waitall();
  return 0;
}
