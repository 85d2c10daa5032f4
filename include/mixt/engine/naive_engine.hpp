// NaiveEngine: runs each operation at once on the calling thread (MIXT_ENGINE=naive; MXNet's NaiveEngine).
// An exception thrown by an operation leaves push() at the call site, as a mixt::Error naming the operation
// (operation_error.hpp).
// GPU operations are launched on one stream per device, in push order, so no synchronization is needed between
// them; copies to the host synchronize that stream.
#pragma once

#include <algorithm>
#include <optional>

#include "engine.hpp"
#include "operation_error.hpp"
#include "../core/error.hpp"
#if MIXT_USE_CUDA
#include "../memory/cuda/device_guard.hpp"
#include "cuda/stream.hpp"
#endif

namespace mixt::engine {

class NaiveEngine final : public Engine {
 public:
  Var* new_var() override { return new Var(); }

  void push(Fn fn, Context ctx, VarList, VarList writes,
            FnProperty = FnProperty::normal, const char* name = "operation",
            mixt::source_location where = {}) override {
    count_pushed_writes(writes);
    RunContext rctx{ctx, nullptr};
#if MIXT_USE_CUDA
    // The operation's device is current while it runs (kernels go to the current device's context), and the
    // caller's afterwards.
    std::optional<memory::DeviceGuard> on;
    if (ctx.is_gpu()) {
      on.emplace(ctx.dev_id);
      rctx.stream = cuda::default_stream(ctx.dev_id);
    }
#endif
    try {
      fn(rctx);
    } catch (...) {
      std::rethrow_exception(detail::operation_error(name ? name : "operation", where));
    }
    for (size_t i = 0; i < writes.size(); ++i)  // each distinct variable counts one write
      if (writes[i] && std::find(writes.begin(), writes.begin() + i, writes[i]) == writes.begin() + i)
        writes[i]->version.fetch_add(1, std::memory_order_relaxed);
  }

  void delete_var(Var* var, Context, Task<void()> on_delete) override {
    on_delete();
    delete var;
  }
  void wait_for_var(Var*) override { sync_gpus(); }
  void wait_all() override { sync_gpus(); }

 private:
  static void sync_gpus() {
#if MIXT_USE_CUDA
    cuda::synchronize_all();
#endif
  }
};

}  // namespace mixt::engine
