// The one pool of CPU threads that kernels split their loops over.
//
// Choice (DESIGN "where the CPU threads come from"): kernels share a single pool of `num_threads()` threads
// (MIXT_NUM_THREADS, default: hardware concurrency), the calling thread included. Only one parallel loop uses the
// pool at a time; a loop started while the pool is busy (e.g. from a second engine worker) runs on its own
// thread, so the engine's workers and the kernels never oversubscribe the cores; so does a loop started inside a
// part of another (a batched product whose items each run a GEMM). Between loops the threads spin a few tens of
// microseconds before they sleep (spin_while, core/spin.hpp: a kernel sequence such as a GEMM's packing and
// compute phases then hands its next loop to threads still awake; the MLP benchmark's step: about -10%), as
// OpenMP runtimes do; an error in any part reaches the caller.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

#include "spin.hpp"
#include "thread_group.hpp"

namespace mixt {
namespace detail {

class ThreadPool {
 public:
  static ThreadPool& global() {
    if (ThreadPool* p = instance().load(std::memory_order_acquire)) return *p;
    return make_global();
  }

  explicit ThreadPool(int n) { resize(n); }
  ~ThreadPool() { stop(); }

  int size() const noexcept { return n_threads_; }

  /// Changes the number of threads (the caller counts as one). Not to be called while loops run.
  void resize(int n) {
    stop();
    n_threads_ = std::max(1, n);
    stopping_ = false;
    // A new worker starts from the current generation: jobs finished before a resize must not run again.
    workers_.start(n_threads_ - 1, [this, g = generation_.load()](int i) { worker(i + 1, g); });
  }

  /// Runs f(begin, end) over [0, n) split into at most size() contiguous parts of at least `grain` items.
  /// Only the call through `Range` depends on F: the split and the hand-off to the workers are compiled once,
  /// not per loop.
  template <class F>
  void parallel_for(int64_t n, int64_t grain, F&& f) {
    using Body = std::remove_reference_t<F>;
    run(n, grain, {const_cast<void*>(static_cast<const void*>(&f)),
                   [](void* body, int64_t b, int64_t e) { (*static_cast<Body*>(body))(b, e); }});
  }

 private:
  static std::atomic<ThreadPool*>& instance() {
    static std::atomic<ThreadPool*> p{nullptr};  // constant-initialized: no guard
    return p;
  }
  /// Out of line and cold: global() is inlined into every kernel, a function-local static there would inline
  /// its initialization guard into each of them.
  [[gnu::noinline, gnu::cold]] static ThreadPool& make_global() {
    static ThreadPool pool(default_threads());
    instance().store(&pool, std::memory_order_release);
    return pool;
  }

  /// A loop body seen without its type.
  struct Range {
    void* body;
    void (*call)(void* body, int64_t begin, int64_t end);
  };

  [[gnu::noinline]] void run(int64_t n, int64_t grain, Range range) {
    if (n <= 0) return;
    const int64_t parts = std::min<int64_t>(n_threads_, (n + grain - 1) / std::max<int64_t>(grain, 1));
    if (parts <= 1 || inside_loop())  // a loop inside a part of another runs serially on its thread
      return range.call(range.body, 0, n);
    run_parts(n, int(parts), range);
  }

  /// Runs `range` over [0, n) in `parts` parts, part 0 on the calling thread.
  void run_parts(int64_t n, int parts, Range range) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) {  // another loop holds the pool: run this one here
      range.call(range.body, 0, n);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(m_);
      job_ = range;
      job_n_ = n;
      parts_ = parts;
      remaining_.store(parts - 1, std::memory_order_relaxed);
      generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }
    cv_.notify_all();
    std::exception_ptr error;  // the workers still read `range`: wait for them before rethrowing
    try {
      run_part(range, n, parts, 0);
    } catch (...) {
      error = std::current_exception();
    }
    spin_while([&] { return remaining_.load(std::memory_order_acquire) != 0; });
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [&] { return remaining_.load(std::memory_order_acquire) == 0; });
    std::exception_ptr worker_error = std::exchange(worker_error_, nullptr);
    if (!error) error = worker_error;  // the caller's own part first, else a worker's
    if (error) std::rethrow_exception(error);
  }

  static void run_part(Range range, int64_t n, int parts, int part) {
    const int64_t b = n * part / parts, e = n * (part + 1) / parts;
    struct Inside {  // reset also when the body throws
      Inside() { inside_loop() = true; }
      ~Inside() { inside_loop() = false; }
    } inside;
    if (b < e) range.call(range.body, b, e);
  }

  /// True on a thread while it runs a part of a parallel loop.
  static bool& inside_loop() {
    thread_local bool inside = false;
    return inside;
  }

  static int default_threads() {
    if (const char* s = std::getenv("MIXT_NUM_THREADS")) {
      int n = std::atoi(s);
      if (n > 0) return n;
    }
    return std::max(1u, std::thread::hardware_concurrency());
  }

  void worker(int index, uint64_t seen) {
    for (;;) {
      Range job;
      int64_t n;
      int parts;
      spin_while([&] { return generation_.load(std::memory_order_acquire) == seen; });
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stopping_ || generation_.load(std::memory_order_relaxed) != seen; });
        if (stopping_) return;
        seen = generation_.load(std::memory_order_relaxed);
        if (index >= parts_) continue;
        job = job_;
        n = job_n_;
        parts = parts_;
      }
      try {
        run_part(job, n, parts, index);
      } catch (...) {  // handed to the caller, which rethrows it once every part has finished
        std::lock_guard<std::mutex> lk(m_);
        if (!worker_error_) worker_error_ = std::current_exception();
      }
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(m_);  // the caller may be between its test and its wait
        done_cv_.notify_one();
      }
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    workers_.join();
  }

  ThreadGroup workers_;
  std::mutex m_, busy_;
  std::condition_variable cv_, done_cv_;
  Range job_{};
  std::exception_ptr worker_error_;  ///< the first error a worker's part raised in the current loop
  int64_t job_n_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> remaining_{0};
  int parts_ = 0, n_threads_ = 1;
  bool stopping_ = false;
};

}  // namespace detail

/// Number of threads CPU kernels use.
inline int num_threads() { return detail::ThreadPool::global().size(); }
/// Sets the number of threads CPU kernels use (call between computations, e.g. after waitall()).
inline void set_num_threads(int n) { detail::ThreadPool::global().resize(n); }

/// Runs f(begin, end) over [0, n) on the kernel thread pool; parts hold at least `grain` items.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  detail::ThreadPool::global().parallel_for(n, grain, std::forward<F>(f));
}

}  // namespace mixt
