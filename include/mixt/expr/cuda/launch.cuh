// launch(n, f, stream): a grid-stride kernel calling f(i) for i in [0, n) on the GPU.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "../../engine/cuda/stream.hpp"

namespace mixt::expr::cuda {

inline constexpr int kThreads = 256;

/// Blocks for n items: enough to fill the device, capped so that the grid-stride loops do the rest.
inline unsigned blocks_for(int64_t n) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 65535 * 8)));
}

template <class F>
__global__ void launch_kernel(int64_t n, F f) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) f(i);
}

template <class F>
void launch(int64_t n, F f, void* stream) {
  if (n <= 0) return;
  launch_kernel<<<blocks_for(n), kThreads, 0, engine::cuda::to_stream(stream)>>>(n, f);
  engine::cuda::check(cudaGetLastError(), "kernel launch");
}

}  // namespace mixt::expr::cuda
