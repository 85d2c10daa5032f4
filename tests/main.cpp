// The test runner. In the CUDA build (MIXT_TEST_GPU) without a usable GPU, every case is reported as skipped,
// in doctest's own summary format, so that tools/test can count it.
#define DOCTEST_CONFIG_IMPLEMENT
#include "testing.hpp"

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
#if MIXT_TEST_GPU
  if (!mixt::testing::gpu_available()) {
    // Count the selected cases without running them. (--count on the command line: Context::setOption("count")
    // does not take effect, and the counter would then run every case.)
    std::vector<const char*> args(argv, argv + argc);
    args.push_back("--count");
    std::ostringstream counted;
    doctest::Context counter(int(args.size()), args.data());
    counter.setCout(&counted);
    counter.run();
    std::string text = counted.str();
    auto pos = text.find("filters: ");
    long n = pos == std::string::npos ? 0 : std::atol(text.c_str() + pos + 9);
    std::cout << "no CUDA device: skipping the GPU test cases\n"
              << "[doctest] test cases: " << n << " | 0 passed | 0 failed | " << n << " skipped\n";
    return 0;
  }
#endif
  return context.run();
}
