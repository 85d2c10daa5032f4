// launch(rc, n, f): runs f(i) for i in [0, n) on the device of rc — the escape hatch for kernels that are not
// element-wise expressions (copies with conversion, random numbers, index kernels). f must be callable on the
// device it runs on: mark lambdas MIXT_HD when the translation unit may run them on a GPU.
#pragma once

#include "../core/dtype.hpp"
#include "../core/thread_pool.hpp"
#include "../engine/run_context.hpp"
#if MIXT_USE_CUDA
#include "cuda/launch.cuh"
#endif

namespace mixt::expr {

inline constexpr int64_t kLaunchGrain = 1 << 14;

template <class F>
void launch(const engine::RunContext& rc, int64_t n, F f) {
#if MIXT_USE_CUDA
  if (rc.ctx.is_gpu()) return cuda::launch(n, f, rc.stream);
#endif
  (void)rc;
  parallel_for(n, kLaunchGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) f(i);
  });
}

/// Small kernels used with launch() from generic code (nvcc does not accept device lambdas inside generic lambdas).
template <class T>
struct FillKernel {
  T* out;
  T value;
  MIXT_HD void operator()(int64_t i) const { out[i] = value; }
};
/// out[i] = i.
template <class T>
struct IotaKernel {
  T* out;
  MIXT_HD void operator()(int64_t i) const { out[i] = static_cast<T>(static_cast<compute_type_t<T>>(i)); }
};

}  // namespace mixt::expr
