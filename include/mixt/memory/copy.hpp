// Byte copies between devices, called from inside engine operations. On the GPU they are queued on the
// operation's stream; a copy whose destination is host memory waits for that stream, so that the values are
// there when the operation completes.
#pragma once

#include <cstring>

#include "../engine/run_context.hpp"
#if MIXT_USE_CUDA
#include "cuda/cuda_copy.hpp"
#endif

namespace mixt::memory {

inline void copy_bytes(void* dst, const Context& dst_ctx, const void* src, const Context& src_ctx, size_t bytes,
                       const engine::RunContext& rc) {
  if (bytes == 0) return;
#if MIXT_USE_CUDA
  if (dst_ctx.is_gpu() || src_ctx.is_gpu()) return cuda_copy(dst, dst_ctx, src, src_ctx, bytes, rc.stream);
#endif
  (void)dst_ctx;
  (void)src_ctx;
  (void)rc;
  std::memmove(dst, src, bytes);  // views of one array may overlap (a.slice(1, 4).copyto(a.slice(0, 3)))
}

}  // namespace mixt::memory
