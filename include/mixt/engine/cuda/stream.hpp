// CUDA streams of the engine: one non-blocking stream per device, created on first use, and the error check
// every CUDA call goes through (a failure becomes a mixt::Error naming the call).
#pragma once

#include <cuda_runtime.h>

#include <mutex>
#include <vector>

#include "../../core/error.hpp"
#include "../../memory/cuda/device_guard.hpp"

namespace mixt::engine::cuda {

inline void check(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess) {
    (void)cudaGetLastError();  // clear a sticky launch error so that the next call is not blamed for it
    mixt::detail::fail(what, "CUDA error ", int(rc), " (", cudaGetErrorName(rc), "): ", cudaGetErrorString(rc));
  }
}

inline cudaStream_t to_stream(void* s) { return static_cast<cudaStream_t>(s); }

namespace detail {
struct Streams {
  std::mutex m;
  std::vector<cudaStream_t> per_device;
};
inline Streams& streams() {
  static auto* s = new Streams();  // never destroyed: streams may be used during static destruction
  return *s;
}
}  // namespace detail

/// The device's stream (as void*, the type RunContext carries); created on first use.
inline void* default_stream(int device) {
  auto& s = detail::streams();
  std::lock_guard<std::mutex> lk(s.m);
  if (size_t(device) >= s.per_device.size()) s.per_device.resize(size_t(device) + 1, nullptr);
  if (!s.per_device[size_t(device)]) {
    memory::DeviceGuard on(device);  // the stream belongs to `device`; the caller's current device is kept
    check(on.error(), "cudaSetDevice");
    cudaStream_t st;
    check(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
    s.per_device[size_t(device)] = st;
  }
  return s.per_device[size_t(device)];
}

/// Waits for every stream created so far; an asynchronous kernel failure surfaces here as a mixt::Error.
inline void synchronize_all() {
  auto& s = detail::streams();
  std::vector<cudaStream_t> copy;
  {
    std::lock_guard<std::mutex> lk(s.m);
    copy = s.per_device;
  }
  for (size_t d = 0; d < copy.size(); ++d)
    if (copy[d]) {
      memory::DeviceGuard on(static_cast<int>(d));
      check(on.error(), "cudaSetDevice");
      check(cudaStreamSynchronize(copy[d]), "cudaStreamSynchronize");
    }
}

}  // namespace mixt::engine::cuda
