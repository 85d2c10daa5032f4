// The CUDA evaluation of a fused expression: one grid-stride kernel. A linear layout reads every leaf at the
// output's index: 16 bytes of every leaf per thread and step when the leaves and the output are aligned for it
// (wide.hpp), else one element (plan.lin). Otherwise each thread turns its flat index into the collapsed
// multi-index (plan.at).
#pragma once

#include <cuda_runtime.h>

#include "../layout.hpp"
#include "../wide.hpp"
#include "launch.cuh"

namespace mixt::expr::cuda {

/// The collapsed extents, by value, for the kernel.
struct Dims {
  int ndim;
  int64_t d[kMaxDim];
};

template <int W, class Saver, class T, class Plan>
__global__ void eval_linear(Plan plan, T* out, int64_t n) {
  eval_linear_share<W, Saver>(plan, out, n, int64_t(blockIdx.x) * blockDim.x + threadIdx.x,
                              int64_t(gridDim.x) * blockDim.x);
}

template <class Saver, class T, class Plan>
__global__ void eval_general(Plan plan, T* out, int64_t n, Dims dims) {
  using ET = compute_type_t<T>;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t idx[kMaxDim];
    int64_t r = i;
    for (int d = dims.ndim - 1; d >= 0; --d) {
      idx[d] = r % dims.d[d];
      r /= dims.d[d];
    }
    ET v = plan.at(idx);
    if constexpr (Saver::reads_dest) v = Saver::apply(static_cast<ET>(out[i]), v);
    out[i] = static_cast<T>(v);
  }
}

template <class Saver, class T, class Plan>
void run(const Plan& plan, T* out, const Extents& L, void* stream) {
  const int64_t n = L.size();
  if (n == 0) return;
  cudaStream_t s = engine::cuda::to_stream(stream);
  constexpr int W = wide_width<T>;
  if (L.linear && wide_ready<W>(plan, out)) {
    if constexpr (ReadsWide<Plan, W>)
      eval_linear<W, Saver, T, Plan><<<blocks_for((n + W - 1) / W), kThreads, 0, s>>>(plan, out, n);
  } else if (L.linear) {
    eval_linear<1, Saver, T, Plan><<<blocks_for(n), kThreads, 0, s>>>(plan, out, n);
  } else {
    Dims dims{L.ndim, {}};
    for (int d = 0; d < L.ndim; ++d) dims.d[d] = L.dims[d];
    eval_general<Saver, T, Plan><<<blocks_for(n), kThreads, 0, s>>>(plan, out, n, dims);
  }
  engine::cuda::check(cudaGetLastError(), "fused expression kernel launch");
}

}  // namespace mixt::expr::cuda
