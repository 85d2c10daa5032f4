// A user's program built against mixt from outside this source tree: the installed headers (pkg-config, CMake),
// a Meson subproject, or the single header. It checks the values of one broadcast, fused expression.
#include <mixt/mixt.hpp>

#include <cstdio>

int main() {
  namespace mx = mixt;
  mx::NDArray m = mx::nd::array<float>({1, 2, 3, 4, 5, 6}, {2, 3}, mx::cpu());
  mx::NDArray row = mx::nd::array<float>({10, 20, 30}, {3}, mx::cpu());
  mx::NDArray y = (m + row) * 2.f - 1.f;
  std::vector<float> got = y.to_vector<float>();
  const float want[] = {21, 43, 65, 27, 49, 71};
  if (got.size() != 6) {
    std::printf("consumer: expected 6 values, got %zu\n", got.size());
    return 1;
  }
  for (size_t i = 0; i < 6; ++i) {
    if (got[i] != want[i]) {
      std::printf("consumer: element %zu is %g, expected %g\n", i, got[i], want[i]);
      return 1;
    }
  }
  std::printf("consumer: ok, (m + row) * 2 - 1 = [%g, %g, %g; %g, %g, %g]\n", got[0], got[1], got[2], got[3],
              got[4], got[5]);
  return 0;
}
