// The calling thread's current CUDA device, set for a scope and restored after it: the current device is the
// caller's state (its own kernels and handles use it), so mixt's calls that need another device put it back.
#pragma once

#include <cuda_runtime.h>

namespace mixt::memory {

class DeviceGuard {
 public:
  /// error() is cudaSetDevice's when `device` cannot be made current; it is cleared from the runtime, so no later
  /// call is blamed for it.
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ == device) return;
    error_ = cudaSetDevice(device);
    if (error_ != cudaSuccess) (void)cudaGetLastError();
  }
  ~DeviceGuard() {
    int now = -1;
    if (previous_ >= 0 && cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  bool ok() const { return error_ == cudaSuccess; }
  cudaError_t error() const { return error_; }

 private:
  int previous_ = -1;
  cudaError_t error_ = cudaSuccess;
};

}  // namespace mixt::memory
