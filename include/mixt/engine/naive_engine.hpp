// NaiveEngine: runs each operation at once on the calling thread (MIXT_ENGINE=naive; MXNet's NaiveEngine).
// An exception thrown by an operation leaves push() at the call site, as a mixt::Error naming the operation.
// GPU operations are launched on one stream per device, in push order, so no synchronization is needed between
// them; copies to the host synchronize that stream.
#pragma once

#include "engine.hpp"
#include "../core/error.hpp"
#if MIXT_USE_CUDA
#include "cuda/stream.hpp"
#endif

namespace mixt::engine {

class NaiveEngine final : public Engine {
 public:
  Var* new_var() override { return new Var(); }

  void push(Fn fn, Context ctx, const std::vector<Var*>&, const std::vector<Var*>& writes, FnProperty,
            const char* name, std::source_location where) override {
    RunContext rctx{ctx, nullptr};
#if MIXT_USE_CUDA
    if (ctx.is_gpu()) rctx.stream = cuda::default_stream(ctx.dev_id);
#endif
    try {
      fn(rctx);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(name, e.what(), where);
    }
    for (Var* v : writes) v->version.fetch_add(1, std::memory_order_relaxed);
  }

  void delete_var(Var* var, Context, std::function<void()> on_delete) override {
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
