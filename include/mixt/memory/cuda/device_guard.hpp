// The calling thread's current CUDA device, set for a scope and restored after it: the current device is the
// caller's state (its own kernels and handles use it), so mixt's calls that need another device put it back.
#pragma once

#include <cuda_runtime.h>

namespace mixt::memory {

class DeviceGuard {
 public:
  /// ok() is false when `device` cannot be made current; the error is cleared, so no later call is blamed for it.
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ == device) return;
    ok_ = cudaSetDevice(device) == cudaSuccess;
    if (!ok_) (void)cudaGetLastError();
  }
  ~DeviceGuard() {
    int now = -1;
    if (previous_ >= 0 && cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  bool ok() const { return ok_; }

 private:
  int previous_ = -1;
  bool ok_ = true;
};

}  // namespace mixt::memory
