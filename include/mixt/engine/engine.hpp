// The single entry point through which every computation reaches a device (DESIGN: "one way in, one way out").
//
// push(fn, ctx, reads, writes, prop, name, where): fn runs once every earlier operation that writes one of `reads`
// or reads/writes one of `writes` has finished. Duplicates are removed, and a variable in both lists counts as
// written only, so callers pass their operands' variables as they come.
// The engine in use is chosen once per process by MIXT_ENGINE: unset or "threaded" gives the ThreadedEngine
// (asynchronous, the default); "naive" the NaiveEngine, which runs every push synchronously on the calling thread.
// MXNet's names (NaiveEngine, ThreadedEngine, ThreadedEnginePerDevice) are accepted too.
#pragma once

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../core/source_location.hpp"
#include "run_context.hpp"
#include "task.hpp"
#include "var.hpp"

namespace mixt::engine {

/// What push runs; move-only (task.hpp says why it is not std::function).
using Fn = Task<void(RunContext)>;

/// MXNet's FnProperty: a hint for where an operation runs.
enum class FnProperty { normal, copy_to_gpu, copy_from_gpu, cpu_prioritized, async, delete_var };

class Engine {
 public:
  virtual ~Engine() = default;

  /// The process-wide engine.
  static Engine& get();

  virtual Var* new_var() = 0;
  virtual void push(Fn fn, Context ctx, VarList reads, VarList writes,
                    FnProperty prop = FnProperty::normal, const char* name = "operation",
                    mixt::source_location where = {}) = 0;
  /// Runs `on_delete` after every operation on `var` has finished, then destroys `var`.
  virtual void delete_var(Var* var, Context ctx, Task<void()> on_delete) = 0;
  /// Blocks until every pushed write to `var` has finished; rethrows (once) the error stored on it.
  virtual void wait_for_var(Var* var) = 0;
  /// Blocks until every pushed operation has finished; rethrows the first stored error and clears them all.
  virtual void wait_all() = 0;
};

}  // namespace mixt::engine

#include "../core/thread_pool.hpp"
#include "naive_engine.hpp"
#include "threaded_engine.hpp"

namespace mixt::engine {

namespace detail {
inline ThreadedEngine* process_threaded_engine = nullptr;
inline std::atomic<Engine*> process_engine{nullptr};

/// Makes the process-wide engine once. Out of line and cold: Engine::get() is inlined at every push, and a
/// function-local static there would inline its initialization guard into each of them.
[[gnu::noinline, gnu::cold]] inline Engine& make_engine() {
  // Leaked on purpose: chunks may be freed during static destruction, after which pushes run synchronously.
  static Engine* engine = [] () -> Engine* {
    // The kernel pool is built first so that it outlives the engine's workers at exit (statics die in reverse).
    mixt::detail::ThreadPool::global();
    const char* env = std::getenv("MIXT_ENGINE");
    const std::string_view kind = env ? env : "";
    if (kind == "naive" || kind == "NaiveEngine") return new NaiveEngine();
    if (kind.empty() || kind == "threaded" || kind == "ThreadedEngine" || kind == "ThreadedEnginePerDevice") {
      detail::process_threaded_engine = new ThreadedEngine();
      // At exit, finish what is pending and end the workers before the kernel pool and other statics go.
      std::atexit([] { detail::process_threaded_engine->shutdown(); });
      return detail::process_threaded_engine;
    }
    mixt::detail::fail("engine", "MIXT_ENGINE=", kind, " names no engine; expected naive or threaded");
  }();
  process_engine.store(engine, std::memory_order_release);
  return *engine;
}
}  // namespace detail

inline Engine& Engine::get() {
  if (Engine* e = detail::process_engine.load(std::memory_order_acquire)) return *e;
  return detail::make_engine();
}

}  // namespace mixt::engine

namespace mixt {
/// Blocks until every operation pushed so far has finished; rethrows the first asynchronous error.
inline void waitall() { engine::Engine::get().wait_all(); }
}  // namespace mixt
