// Copies that involve a GPU, queued on the operation's stream.
#pragma once

#include <cuda_runtime.h>

#include "../../core/context.hpp"
#include "../../engine/cuda/stream.hpp"

namespace mixt::memory {

inline void cuda_copy(void* dst, const Context& dst_ctx, const void* src, const Context& src_ctx, size_t bytes,
                      void* stream) {
  cudaStream_t s = engine::cuda::to_stream(stream);
  engine::cuda::check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s), "cudaMemcpyAsync");
  // Host memory on either side waits: into the host so that the values are there, from the host because CUDA
  // only *may* stage pageable memory before returning, and the pooled host block can be reused once we return.
  if (!dst_ctx.is_gpu() || !src_ctx.is_gpu()) engine::cuda::check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

}  // namespace mixt::memory
