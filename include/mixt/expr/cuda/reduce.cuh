// The CUDA reduction kernels (see expr/reducers.hpp for the index space). Elements are read through the plan's
// MIXT_HD lin()/at() methods, so the expression under the reduction is evaluated in the kernel.
//   Few reduced elements per output (R <= kThreadPerOutputMax): one thread per output, consecutive threads on
//     consecutive outputs (coalesced when inner > 1).
//   Otherwise one block per output, or, when there are too few outputs to fill the GPU, `splits` blocks per output
//     that write partial results to a scratch buffer, combined by a second kernel (the two-pass reduce-all).
// Kernels run on the operation's stream; launches are checked with cudaGetLastError.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>

#include "../../core/error.hpp"
#include "../reducers.hpp"

namespace mixt::expr::cuda {

/// What the kernels need of a ReduceSpace, passed as a kernel argument.
struct ReduceDims {
  int ndim;
  bool linear;
  int64_t dims[kMaxDim];
  int64_t outer, reduced, inner;
};

inline constexpr int kReduceThreads = 256;
inline constexpr int64_t kThreadPerOutputMax = 32;

template <class ET, class Plan>
__device__ __forceinline__ ET reduce_load(const Plan& p, const ReduceDims& g, int64_t flat) {
  if (g.linear) return static_cast<ET>(p.lin(flat));
  int64_t idx[kMaxDim];
  for (int d = g.ndim - 1; d >= 0; --d) {
    idx[d] = flat % g.dims[d];
    flat /= g.dims[d];
  }
  return static_cast<ET>(p.at(idx));
}

/// Folds reduced positions [rb, re) of output o, starting at r = rb + first, stepping by `step`.
template <class Red, class ET, class Plan>
__device__ __forceinline__ typename Red::template acc_t<ET> fold(const Plan& p, const ReduceDims& g, int64_t o,
                                                                 int64_t rb, int64_t re, int64_t first, int64_t step) {
  const int64_t o1 = o / g.inner, o2 = o % g.inner;
  auto a = Red::template init<ET>();
  for (int64_t r = rb + first; r < re; r += step)
    a = Red::step(a, reduce_load<ET>(p, g, (o1 * g.reduced + r) * g.inner + o2), r);
  return a;
}

template <class Red, class ET, class OutT, class Plan>
__global__ void reduce_per_thread(Plan p, ReduceDims g, OutT* out) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= g.outer * g.inner) return;
  out[o] = static_cast<OutT>(Red::finish(fold<Red, ET>(p, g, o, 0, g.reduced, 0, 1), g.reduced));
}

/// Block b reduces part b % splits of output b / splits; with one part it writes the output, else a partial.
template <class Red, class ET, class OutT, class Plan>
__global__ void reduce_per_block(Plan p, ReduceDims g, int splits, OutT* out,
                                 typename Red::template acc_t<ET>* partial) {
  using Acc = typename Red::template acc_t<ET>;
  __shared__ Acc buf[kReduceThreads];
  const int64_t o = blockIdx.x / splits;
  const int s = blockIdx.x % splits;
  const int64_t rb = g.reduced * s / splits, re = g.reduced * (s + 1) / splits;
  buf[threadIdx.x] = fold<Red, ET>(p, g, o, rb, re, threadIdx.x, blockDim.x);
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {  // a tree: log2(256) rounding steps
    if (int(threadIdx.x) < w) buf[threadIdx.x] = Red::merge(buf[threadIdx.x], buf[threadIdx.x + w]);
    __syncthreads();
  }
  if (threadIdx.x != 0) return;
  if (splits == 1) out[o] = static_cast<OutT>(Red::finish(buf[0], g.reduced));
  else partial[blockIdx.x] = buf[0];
}

template <class Red, class ET, class OutT>
__global__ void reduce_partials(const typename Red::template acc_t<ET>* partial, int splits, int64_t outputs,
                                int64_t count, OutT* out) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= outputs) return;
  auto a = partial[o * splits];
  for (int s = 1; s < splits; ++s) a = Red::merge(a, partial[o * splits + s]);
  out[o] = static_cast<OutT>(Red::finish(a, count));
}

inline void check_launch(const char* op) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) detail::fail(op, "CUDA kernel launch failed: ", cudaGetErrorString(err));
}

/// out[o] = Red over the reduced positions of output o, on `stream`.
template <class Red, class ET, class OutT, class Plan>
void reduce(const Plan& plan, OutT* out, const ReduceSpace& sp, void* stream_ptr) {
  using Acc = typename Red::template acc_t<ET>;
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  ReduceDims g{sp.layout.ndim, sp.layout.linear, {}, sp.outer, sp.reduced, sp.inner};
  for (int d = 0; d < kMaxDim; ++d) g.dims[d] = sp.layout.dims[d];
  const int64_t outputs = sp.outer * sp.inner;
  if (outputs == 0) return;
  if (sp.reduced <= kThreadPerOutputMax) {
    const unsigned blocks = unsigned((outputs + kReduceThreads - 1) / kReduceThreads);
    reduce_per_thread<Red, ET><<<blocks, kReduceThreads, 0, stream>>>(plan, g, out);
    return check_launch(Red::name);
  }
  // Enough blocks to fill the GPU (about 2048), each with at least 4 elements per thread.
  int64_t splits = std::max<int64_t>(1, 2048 / outputs);
  splits = std::min<int64_t>(splits, std::max<int64_t>(1, sp.reduced / (kReduceThreads * 4)));
  if (splits == 1) {
    reduce_per_block<Red, ET><<<unsigned(outputs), kReduceThreads, 0, stream>>>(plan, g, 1, out, (Acc*)nullptr);
    return check_launch(Red::name);
  }
  Acc* partial = nullptr;
  cudaError_t err = cudaMallocAsync(reinterpret_cast<void**>(&partial), size_t(outputs * splits) * sizeof(Acc), stream);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // cleared, so that the next launch check is not blamed for it
    detail::fail(Red::name, "cannot allocate ", int64_t(outputs * splits * sizeof(Acc)), " bytes of scratch on the GPU: ",
                 cudaGetErrorString(err));
  }
  try {  // the scratch goes back to the stream's pool even when a launch fails
    reduce_per_block<Red, ET><<<unsigned(outputs * splits), kReduceThreads, 0, stream>>>(plan, g, int(splits), out,
                                                                                          partial);
    check_launch(Red::name);
    reduce_partials<Red, ET><<<unsigned((outputs + kReduceThreads - 1) / kReduceThreads), kReduceThreads, 0, stream>>>(
        partial, int(splits), outputs, sp.reduced, out);
    check_launch(Red::name);
  } catch (...) {
    cudaFreeAsync(partial, stream);
    throw;
  }
  cudaFreeAsync(partial, stream);
}

}  // namespace mixt::expr::cuda
