// Shared test helpers: device tags (one test body, instantiated for cpu() in the g++ build and for gpu(0) in the
// nvcc build), seeded random inputs and comparisons against double-precision references.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <mixt/mixt.hpp>

namespace mixt::testing {

struct Cpu {
  static Context ctx() { return cpu(); }
  static constexpr const char* name = "cpu";
};
struct Gpu {
  static Context ctx() { return gpu(0); }
  static constexpr const char* name = "gpu";
};

inline bool gpu_available() {
#if MIXT_USE_CUDA
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
#else
  return false;
#endif
}

/// Uniform random values in [lo, hi), reproducible from the seed.
inline std::vector<double> random_values(size_t n, double lo = -1, double hi = 1, uint64_t seed = 42) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

/// An array of `shape` on ctx holding `values` (stored as float32 unless dtype says otherwise).
inline NDArray make_array(const std::vector<double>& values, const Shape& shape, Context ctx,
                          DType dtype = DType::float32) {
  return nd::array(values, shape, ctx, dtype);
}

/// The values rounded to float, as the array stores them.
inline std::vector<double> as_stored(std::vector<double> v) {
  for (auto& x : v) x = static_cast<double>(static_cast<float>(x));
  return v;
}

/// Checks every element of `got` against `want` within atol + rtol * |want|; NaNs must match NaNs.
inline void check_close(const std::vector<double>& got, const std::vector<double>& want, double rtol = 1e-5,
                        double atol = 1e-6) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    bool ok = std::isnan(want[i]) ? std::isnan(got[i])
              : std::isinf(want[i]) ? got[i] == want[i]
              : std::abs(got[i] - want[i]) <= atol + rtol * std::abs(want[i]);
    if (!ok && bad++ < 5) FAIL_CHECK("element " << i << ": got " << got[i] << ", want " << want[i]);
  }
  CHECK(bad == 0);
}
inline void check_close(const NDArray& got, const std::vector<double>& want, double rtol = 1e-5, double atol = 1e-6) {
  check_close(got.to_vector<double>(), want, rtol, atol);
}

/// While alive, every output that can be written with streaming stores is (expr/cpu/stream_store.hpp).
struct StreamEveryOutput {
  int64_t saved = streaming_store_threshold();
  StreamEveryOutput() { set_streaming_store_threshold(-1); }
  ~StreamEveryOutput() { set_streaming_store_threshold(saved); }
  StreamEveryOutput(const StreamEveryOutput&) = delete;
  StreamEveryOutput& operator=(const StreamEveryOutput&) = delete;
};

/// Runs f, which must throw mixt::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  bool thrown = false;
  try {
    f();
  } catch (const Error& e) {
    thrown = true;
    const std::string what = e.what();
    for (const std::string& s : parts)
      CHECK_MESSAGE(what.find(s) != std::string::npos, "'" << s << "' not in: " << what);
  }
  CHECK_MESSAGE(thrown, "no mixt::Error thrown");
}

/// Returns blocks holding NaN to ctx's memory pool, so that an output an operator leaves unwritten (allocated
/// uninitialized from the pool) reads NaN rather than whatever the pool happened to hold.
inline void poison_pool(Context ctx) {
  std::vector<NDArray> junk;
  for (int64_t n : {1, 2, 3, 4, 6, 8, 16})
    for (int i = 0; i < 4; ++i) junk.push_back(nd::full(Shape{n}, std::nan(""), ctx));
  junk.clear();
  mixt::waitall();
}

}  // namespace mixt::testing

#if MIXT_TEST_GPU
#define MIXT_TEST_DEVICES mixt::testing::Gpu
#else
#define MIXT_TEST_DEVICES mixt::testing::Cpu
#endif

/// A test case whose body runs on the build's device: `Device::ctx()` is cpu() or gpu(0).
#define MIXT_DEVICE_TEST(name) TEST_CASE_TEMPLATE(name, Device, MIXT_TEST_DEVICES)
