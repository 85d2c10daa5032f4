// Chunk: one block of device memory with the engine variable that orders every access to it. NDArrays and their
// views share a chunk through a shared_ptr; the memory goes back to its pool when the last one lets go.
#pragma once

#include <cstddef>
#include <memory>

#include "../core/context.hpp"
#include "../engine/engine.hpp"
#include "cpu_allocator.hpp"
#if MIXT_USE_CUDA
#include "cuda/cuda_allocator.hpp"
#endif

namespace mixt::memory {

inline void* device_allocate(const Context& ctx, size_t bytes) {
#if MIXT_USE_CUDA
  if (ctx.is_gpu()) return cuda_pool(ctx.dev_id).allocate(bytes);
#endif
  require_device(ctx, "allocate");
  return cpu_pool().allocate(bytes);
}

inline void device_deallocate(const Context& ctx, void* p, size_t bytes) {
#if MIXT_USE_CUDA
  if (ctx.is_gpu()) return cuda_pool(ctx.dev_id).deallocate(p, bytes);
#endif
  (void)ctx;
  cpu_pool().deallocate(p, bytes);
}

class Chunk {
 public:
  Chunk(Context ctx, size_t bytes)
      : ctx_(ctx), bytes_(bytes), ptr_(device_allocate(ctx, bytes)), var_(engine::Engine::get().new_var()) {}
  ~Chunk() {
    // Operations still using the memory finish first: the engine frees it after the last one (issue 3).
    engine::Engine::get().delete_var(var_, ctx_, [ctx = ctx_, p = ptr_, n = bytes_] { device_deallocate(ctx, p, n); });
  }
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;

  void* data() const noexcept { return ptr_; }
  size_t bytes() const noexcept { return bytes_; }
  const Context& ctx() const noexcept { return ctx_; }
  engine::Var* var() const noexcept { return var_; }

 private:
  Context ctx_;
  size_t bytes_;
  void* ptr_;
  engine::Var* var_;
};

}  // namespace mixt::memory
