// ThreadedEngine: the default engine. push() returns at once; the operation runs on a worker once every earlier
// operation it depends on has finished (versioned variables, threaded_var.hpp), concurrently with independent
// work: CPU operations on a fixed pool of worker threads with one FIFO queue (cpu_workers.hpp), GPU operations on
// per-device compute and copy streams (cuda/gpu_workers.hpp).
//
// Errors (MXNet's rules, reference §1.3): an exception thrown by an operation is stored, as a mixt::Error naming
// the operation and the user's call, on every variable it writes. An operation that reads (or writes) a variable
// holding an error is skipped and passes the same error on to what it writes. wait_for_var rethrows a variable's
// error once (and clears it for every variable sharing it); wait_all rethrows the first error stored since the
// last wait_all and clears them all. Nothing in an operation can abort the process.
//
// Lifetime: delete_var queues the deletion as a write behind every pending access; the memory's deleter runs after
// the last of them (inline on the thread that completes it: freeing a block is cheap).
//
// Workers: MIXT_CPU_WORKER_NTHREADS CPU workers, default 1 as in MXNet (MXNET_CPU_WORKER_NTHREADS): one worker
// plus the kernel pool's threads fill the cores, each operation spreading its loops over all of them. A second
// worker lets independent operations too small to split overlap (bench_engine: 1.9x for 1,000 of them on two
// cores), but beside operations that split their loops it makes more threads want the cores than there are:
// the MLP training step (bench_mlp) took 1.3x as long with 2 workers as with 1 on a 2-core machine. See
// cpu_workers.hpp for how the two pools share cores.
// wait_all / wait_for_var spin a few tens of microseconds before they sleep, and meanwhile run parts of the
// kernel pool's loops (help_while, core/thread_pool.hpp): the waiting thread's core works on what it waits for.
// Never call wait_for_var / wait_all from inside an operation.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <utility>

#include "../core/env.hpp"
#include "../core/error.hpp"
#include "../core/spin.hpp"
#include "../core/thread_pool.hpp"
#include "cpu_workers.hpp"
#include "engine.hpp"
#include "operation_error.hpp"
#include "opr_block.hpp"
#include "threaded_var.hpp"
#if MIXT_USE_CUDA
#include "cuda/gpu_workers.hpp"
#endif

namespace mixt::engine {

class ThreadedEngine final : public Engine {
 public:
  /// MIXT_CPU_WORKER_NTHREADS (a positive number) when set, else 1 (see the top of this file).
  static int default_cpu_workers() { return int(mixt::detail::env_integer("MIXT_CPU_WORKER_NTHREADS", 1, 1)); }

  /// Operations in flight (pushed and not finished, deletions included) at which push() from a thread outside the
  /// engine waits until half of them have finished. Every array an operation in flight writes is held from its
  /// push on, so the window sets how much memory the run-ahead holds. Without a bound a loop that never reads a
  /// result pushes arbitrarily far ahead into fresh memory (the MLP benchmark spent 14% of its time in the
  /// kernel's page faults); with 1024 (some 20 MLP steps, megabytes of arrays) the GEMMs packed and wrote
  /// memory that had left the caches, and the step took 1.1 - 1.2x as long as with 128.
  /// MIXT_ENGINE_MAX_PENDING when set (0: no bound), else 128 (two to three MLP steps).
  static int64_t default_max_pending() { return mixt::detail::env_integer("MIXT_ENGINE_MAX_PENDING", 128, 0); }

  explicit ThreadedEngine(int cpu_workers = default_cpu_workers())
      : max_pending_(default_max_pending()),
        cpu_(std::make_unique<detail::CpuWorkers>(cpu_workers < 1 ? 1 : cpu_workers,
                                                   [this](detail::OprBlock* op) { run(op, RunContext{op->ctx}); })) {
#if MIXT_USE_CUDA
    gpu_ = std::make_unique<cuda::GpuWorkers>(
        [this](detail::OprBlock* op, const RunContext& rc) { execute(op, rc); },
        [this](detail::OprBlock* op) { finish(op); });
#endif
  }
  ~ThreadedEngine() override {
    shutdown();
    while (errors_) delete std::exchange(errors_, errors_->next);
  }
  ThreadedEngine(const ThreadedEngine&) = delete;
  ThreadedEngine& operator=(const ThreadedEngine&) = delete;

  int num_cpu_workers() const { return cpu_ ? cpu_->size() : 0; }

  Var* new_var() override { return new detail::ThreadedVar(); }

  void push(Fn fn, Context ctx, VarList reads, VarList writes,
            FnProperty prop = FnProperty::normal, const char* name = "operation",
            mixt::source_location where = {}) override {
    throttle();
    count_pushed_writes(writes);
    detail::OprBlock* op = pool_.acquire();
    op->fn = std::move(fn);
    op->ctx = ctx;
    op->prop = prop;
    op->name = name ? name : "operation";
    op->where = where;
    enqueue(op, reads.data(), reads.size(), writes.data(), writes.size());
  }

  void delete_var(Var* var, Context ctx, Task<void()> on_delete) override {
    detail::OprBlock* op = pool_.acquire();
    op->deleter = std::move(on_delete);
    op->ctx = ctx;
    op->prop = FnProperty::delete_var;
    op->kind = detail::OprKind::delete_var;
    op->name = "delete_var";
    op->where = {};
    enqueue(op, nullptr, 0, &var, 1);
  }

  void wait_for_var(Var* var) override {
    auto* v = as_threaded(var);
    if (v->write_pending()) {
      Waiter w;
      detail::OprBlock* op = pool_.acquire();
      op->fn = [&w](RunContext) { w.signal(); };
      op->ctx = cpu();
      op->prop = FnProperty::normal;
      op->kind = detail::OprKind::wait;
      op->name = "wait_for_var";
      op->where = {};
      enqueue(op, &var, 1, nullptr, 0);
      w.wait();
    }
#if MIXT_USE_CUDA
    gpu_->synchronize_var(v);
#endif
    rethrow_error(v);
  }

  void wait_all() override {
    {
      mixt::detail::help_while([&] { return pending_.load(std::memory_order_acquire) != 0; });
      std::unique_lock<std::mutex> lk(done_m_);
      done_sleepers_.wait(done_cv_, lk, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    std::exception_ptr first;
#if MIXT_USE_CUDA
    try {  // a failed kernel's error, thrown after the stored errors are taken (an operation's error comes first)
      gpu_->synchronize_all();
    } catch (...) {
      first = std::current_exception();
    }
#endif
    {
      std::lock_guard<std::mutex> lk(error_m_);
      for (RecordedError* r = std::exchange(errors_, nullptr); r;) {  // newest first: the last one seen is the first
        if (*r->cell) first = *r->cell;
        *r->cell = nullptr;
        delete std::exchange(r, r->next);
      }
    }
    if (first) std::rethrow_exception(first);
  }

  /// How many errors are stored for wait_all (those rethrown by wait_for_var may still count until the next
  /// error is stored).
  size_t stored_errors() {
    std::lock_guard<std::mutex> lk(error_m_);
    size_t n = 0;
    for (RecordedError* r = errors_; r; r = r->next) ++n;
    return n;
  }

  /// Finishes every pending operation (errors stay stored) and ends the worker threads; operations pushed later
  /// run synchronously on the caller. Called by the destructor and, for the process-wide engine, at exit.
  [[gnu::noinline]] void shutdown() {  // (out of line: the destructor and the exit hook share one copy)
    {
      std::unique_lock<std::mutex> lk(done_m_);
      done_sleepers_.wait(done_cv_, lk, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    stopped_.store(true, std::memory_order_release);
#if MIXT_USE_CUDA
    if (gpu_) gpu_->stop();
#endif
    if (cpu_) cpu_->stop();
  }

 private:
  struct Waiter {
    std::mutex m;
    std::condition_variable cv;
    mixt::detail::Sleepers sleepers;
    bool done = false;
    std::atomic<bool> signalled{false};  ///< done, readable without the lock (for the spin)
    void signal() {
      // Notify under the lock: the waiter cannot return (and destroy *this) before we let go of it.
      std::lock_guard<std::mutex> lk(m);
      done = true;
      signalled.store(true, std::memory_order_release);
      sleepers.wake_one();
      cv.notify_one();
    }
    void wait() {
      mixt::detail::help_while([&] { return !signalled.load(std::memory_order_acquire); });
      std::unique_lock<std::mutex> lk(m);  // taken even after the spin saw the signal: see signal()
      sleepers.wait(cv, lk, [&] { return done; });
    }
  };

  static detail::ThreadedVar* as_threaded(Var* v) { return static_cast<detail::ThreadedVar*>(v); }

  static bool contains(Var* const* vars, size_t n, Var* v) {
    for (size_t i = 0; i < n; ++i)
      if (vars[i] == v) return true;
    return false;
  }

  /// Links the operation into its variables' queues (reads first, duplicates and reads of written variables
  /// removed) and dispatches it when nothing is in its way.
  void enqueue(detail::OprBlock* op, Var* const* reads, size_t nr, Var* const* writes, size_t nw) {
    for (size_t i = 0; i < nr; ++i) {
      Var* r = reads[i];
      if (!r || contains(writes, nw, r) || contains(reads, i, r)) continue;
      op->links.push_back({as_threaded(r), op, nullptr, false});
    }
    for (size_t i = 0; i < nw; ++i) {
      Var* w = writes[i];
      if (!w || contains(writes, i, w)) continue;
      op->links.push_back({as_threaded(w), op, nullptr, true});
    }
    op->wait.store(int(op->links.size()) + 1, std::memory_order_relaxed);
    pending_.fetch_add(1, std::memory_order_relaxed);
    for (auto& link : op->links) link.var->append(&link);
    if (op->decrement_wait()) dispatch(op);
  }

  void dispatch(detail::OprBlock* op) {
#if MIXT_USE_CUDA
    if (op->ctx.is_gpu() && op->kind != detail::OprKind::wait && !stopped_.load(std::memory_order_acquire))
      return gpu_->push(op);
#endif
    // Waits and deletions are bookkeeping: they run at once on the thread that made them ready.
    if (op->kind != detail::OprKind::normal || stopped_.load(std::memory_order_acquire))
      return run(op, RunContext{op->ctx});
    cpu_->push(op);
  }

  /// True while this thread runs an operation: its pushes are never held back (the operations it would wait for
  /// may include itself).
  static bool& running_operation() {
    thread_local bool running = false;
    return running;
  }

  /// Holds a push from outside the engine while max_pending_ operations are in flight, until half have finished.
  /// Spins first, as the other waits do: half the window of tiny operations finishes in a few microseconds.
  void throttle() {
    if (max_pending_ <= 0 || running_operation() || pending_.load(std::memory_order_relaxed) < max_pending_) return;
    mixt::detail::spin_while([&] { return pending_.load(std::memory_order_acquire) > max_pending_ / 2; });
    std::unique_lock<std::mutex> lk(done_m_);
    done_sleepers_.wait(done_cv_, lk, [&] { return pending_.load(std::memory_order_acquire) <= max_pending_ / 2; });
  }

  /// Runs an operation on the current thread and completes it (CPU workers and inline operations).
  void run(detail::OprBlock* op, const RunContext& rc) {
#if MIXT_USE_CUDA
    try {
      gpu_->host_wait(op);  // a host-side operation on memory a GPU stream wrote
    } catch (...) {
      record_error(op, detail::operation_error(op->name, op->where));  // execute() then skips the function
    }
#endif
    execute(op, rc);
    finish(op);
  }

  /// Calls the operation's function unless it inherits an error; stores what it throws.
  void execute(detail::OprBlock* op, const RunContext& rc) {
    if (op->kind == detail::OprKind::delete_var) {
      try {
        if (op->deleter) op->deleter();
      } catch (...) {
        // Returning memory to a pool does not fail; there is no one to report to if it did.
      }
      op->deleter.reset();
      return;
    }
    if (op->kind == detail::OprKind::normal) inherit_error(op);
    if (!op->error || op->kind == detail::OprKind::wait) {
      struct Running {
        Running() { running_operation() = true; }
        ~Running() { running_operation() = false; }
      } running;
      try {
        op->fn(rc);
      } catch (...) {
        record_error(op, detail::operation_error(op->name, op->where));
      }
    }
    op->fn.reset();  // releases the captured arrays now (their chunks may queue their own deletion)
  }

  void inherit_error(detail::OprBlock* op) {
    for (auto& link : op->links) {
      if (!link.var->has_error.load(std::memory_order_acquire)) continue;
      std::lock_guard<std::mutex> lk(error_m_);
      if (link.var->error && *link.var->error) {
        op->error = link.var->error;
        return;
      }
    }
  }

  void record_error(detail::OprBlock* op, std::exception_ptr e) {
    std::lock_guard<std::mutex> lk(error_m_);
    // Drops the errors wait_for_var has rethrown: a program that catches them and never calls wait_all keeps
    // only those not yet seen.
    for (RecordedError** r = &errors_; *r;) {
      if (*(*r)->cell) r = &(*r)->next;
      else delete std::exchange(*r, (*r)->next);
    }
    op->error = std::make_shared<std::exception_ptr>(std::move(e));
    errors_ = new RecordedError{op->error, errors_};
  }

  /// Rethrows (once) the error stored on a variable.
  [[gnu::noinline]] void rethrow_error(detail::ThreadedVar* v) {
    if (!v->has_error.load(std::memory_order_acquire)) return;
    std::exception_ptr e;
    {
      std::lock_guard<std::mutex> lk(error_m_);
      if (v->error) {
        e = *v->error;
        *v->error = nullptr;  // cleared for every variable that shares it, as in MXNet
        v->error.reset();
      }
      v->has_error.store(false, std::memory_order_release);
    }
    if (e) std::rethrow_exception(e);
  }

  /// Completes an operation: passes its error to what it wrote, releases its variables (dispatching what that
  /// unblocks), destroys a deleted variable, and recycles the block.
  void finish(detail::OprBlock* op) {
    if (op->error) {
      std::lock_guard<std::mutex> lk(error_m_);
      for (auto& link : op->links)
        if (link.write) {
          link.var->error = op->error;
          link.var->has_error.store(true, std::memory_order_release);
        }
    }
    op->error.reset();
    detail::ThreadedVar* doomed = op->kind == detail::OprKind::delete_var ? op->links[0].var : nullptr;
    detail::ReadyList ready;
    for (auto& link : op->links) link.var->complete(&link, ready);
    if (doomed) {
      // The deletion was the last access: no operation refers to the variable any more.
#if MIXT_USE_CUDA
      gpu_->forget_var(doomed);
#endif
      delete doomed;
    }
    pool_.release(op);
    const int64_t left = pending_.fetch_sub(1, std::memory_order_acq_rel) - 1;
    if (left == 0 || (max_pending_ > 0 && left == max_pending_ / 2)) {  // wait_all, or a held push (throttle)
      std::lock_guard<std::mutex> lk(done_m_);
      done_sleepers_.wake_all();
      done_cv_.notify_all();
    }
    for (detail::OprBlock* next : ready) dispatch(next);
  }

  detail::OprBlockPool pool_;
  const int64_t max_pending_;
  std::atomic<int64_t> pending_{0};
  std::atomic<bool> stopped_{false};
  std::mutex done_m_;
  std::condition_variable done_cv_;
  mixt::detail::Sleepers done_sleepers_;  ///< threads asleep on done_cv_ (guarded by done_m_)
  std::mutex error_m_;
  /// Every error raised since the last wait_all, newest first (a list of cells shared with the variables the
  /// failed operations wrote; not a std::vector, whose instantiations cost compile time).
  struct RecordedError {
    std::shared_ptr<std::exception_ptr> cell;
    RecordedError* next;
  };
  RecordedError* errors_ = nullptr;
  std::unique_ptr<detail::CpuWorkers> cpu_;
#if MIXT_USE_CUDA
  std::unique_ptr<cuda::GpuWorkers> gpu_;
#endif
};

}  // namespace mixt::engine
