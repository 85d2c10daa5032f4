// Copies that involve a GPU, queued on the operation's stream. A copy into host memory waits for the stream so that
// the values are there when the operation completes.
#pragma once

#include <cuda_runtime.h>

#include "../../core/context.hpp"
#include "../../engine/cuda/stream.hpp"

namespace mixt::memory {

inline void cuda_copy(void* dst, const Context& dst_ctx, const void* src, const Context&, size_t bytes, void* stream) {
  cudaStream_t s = engine::cuda::to_stream(stream);
  engine::cuda::check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s), "cudaMemcpyAsync");
  if (!dst_ctx.is_gpu()) engine::cuda::check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

}  // namespace mixt::memory
