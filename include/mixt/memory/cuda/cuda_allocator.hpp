// Device memory: a Pool per GPU over cudaMalloc / cudaFree. All of a device's work runs on its one engine stream,
// so a block freed by one operation and handed to the next is reused in stream order.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <mutex>
#include <vector>

#include "../pool.hpp"
#include "device_guard.hpp"

namespace mixt::memory {

struct CudaBackend {
  int device = 0;
  void* allocate(size_t bytes) {
    DeviceGuard on(device);
    if (!on.ok()) return nullptr;
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      (void)cudaGetLastError();  // out of memory: the pool releases its cache and retries
      return nullptr;
    }
    return p;
  }
  void deallocate(void* p, size_t) {
    DeviceGuard on(device);
    cudaFree(p);
  }
  const char* name() const { return "cuda memory pool"; }
};

inline Pool<CudaBackend>& cuda_pool(int device) {
  static std::mutex m;
  static auto* pools = new std::vector<std::unique_ptr<Pool<CudaBackend>>>();  // never destroyed, like cpu_pool
  std::lock_guard<std::mutex> lk(m);
  if (size_t(device) >= pools->size()) pools->resize(size_t(device) + 1);
  auto& p = (*pools)[size_t(device)];
  if (!p) p = std::make_unique<Pool<CudaBackend>>(CudaBackend{device});
  return *p;
}

}  // namespace mixt::memory
