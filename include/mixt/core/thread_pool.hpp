// The one pool of CPU threads that kernels split their loops over.
//
// Choice (DESIGN "where the CPU threads come from"): kernels share a single pool of `num_threads()` threads
// (MIXT_NUM_THREADS, default: hardware concurrency), the calling thread included. Only one parallel loop uses the
// pool at a time; a loop started while the pool is busy (e.g. from a second engine worker) runs on its own
// thread, so the engine's workers and the kernels never oversubscribe the cores; so does a loop started inside a
// part of another (a batched product whose items each run a GEMM). A loop's parts after the first go to whichever
// threads claim them: kernel threads, a thread waiting for the engine (help_while: wait_all lends the waiting
// thread to the loop in progress, usually one of the operations it waits for, so a wait may end up to one part
// later than it could), and the caller once its own part is done. Between loops the threads spin a few tens of
// microseconds before they sleep (spin_while, core/spin.hpp: a kernel sequence such as a GEMM's packing and
// compute phases then hands its next loop to threads still awake; the MLP benchmark's step: about -10%), as
// OpenMP runtimes do, unless more threads want the cores than there are; an error in any part reaches the caller.
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

#include "env.hpp"
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
  ~ThreadPool() {
    stop();
    ThreadPool* self = this;  // the process-wide pool, destroyed at exit: help_while no longer finds it
    instance().compare_exchange_strong(self, nullptr);
  }

  int size() const noexcept { return n_threads_.load(std::memory_order_relaxed); }

  /// Changes the number of threads (the caller counts as one). Safe while other threads run loops: it waits
  /// for the loop in progress, and loops started meanwhile run on their own thread (as when the pool is busy).
  void resize(int n) {
    if (inside_loop()) fail("set_num_threads", "called from inside a parallel loop, which it would wait for");
    std::lock_guard<std::mutex> busy(busy_);
    stop();
    n_threads_.store(std::max(1, n), std::memory_order_relaxed);
    stopping_ = false;
    // A new worker starts from the current generation: jobs finished before a resize must not run again.
    workers_.start(size() - 1, [this, g = generation_.load()](int) { worker(g); });
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

  /// Runs one unclaimed part of the loop in progress, if there is one, on the calling thread: a thread that
  /// waits for the engine (wait_all) lends itself to the loops of the operations it waits for, instead of
  /// waiting for a kernel thread to wake up. Returns whether it ran a part.
  bool help() {
    if (inside_loop()) return false;
    int part, parts;
    if (!claim(part, parts)) return false;
    run_claimed(part, parts);
    return true;
  }
  /// The process-wide pool if it exists, else nullptr.
  static ThreadPool* existing() { return instance().load(std::memory_order_acquire); }
  /// Brackets a wait during which the caller calls help(): loops then count on it instead of waking a sleeping
  /// kernel thread.
  void helping(bool on) { ready_.fetch_add(on ? 1 : -1, std::memory_order_relaxed); }

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
    const int64_t parts = std::min<int64_t>(size(), (n + grain - 1) / std::max<int64_t>(grain, 1));
    if (parts <= 1 || inside_loop())  // a loop inside a part of another runs serially on its thread
      return range.call(range.body, 0, n);
    run_parts(n, int(parts), range);
  }

  /// Runs `range` over [0, n) in `parts` parts. The caller runs part 0; the others go to whichever threads
  /// claim them first: kernel threads, threads waiting in help(), and the caller itself once its part is done,
  /// so that a loop never waits for a thread that is slow to wake (15 - 20 us per wake-up on some VMs).
  void run_parts(int64_t n, int parts, Range range) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) {  // another loop holds the pool: run this one here
      range.call(range.body, 0, n);
      return;
    }
    bool wake;
    {
      std::lock_guard<std::mutex> lk(m_);
      job_ = range;
      job_n_ = n;
      remaining_.store(parts - 1, std::memory_order_relaxed);
      // Publishes the job to claimers (release: they read job_ after their claim).
      claim_.store(uint64_t(uint32_t(parts)) << 32 | 1u, std::memory_order_release);
      generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
      // Threads that spin for work take the parts themselves; wake sleepers only for what they leave.
      wake = parts - 1 > ready_.load(std::memory_order_relaxed) && sleepers_.asleep() > 0;
      if (wake) sleepers_.wake_all();
    }
    if (wake) cv_.notify_all();
    std::exception_ptr error;  // the others still read `range`: wait for them before rethrowing
    try {
      Inside inside;
      range.call(range.body, 0, n / parts);
    } catch (...) {
      error = std::current_exception();
    }
    for (int part, all; claim(part, all);) run_claimed(part, all);
    spin_while([&] { return remaining_.load(std::memory_order_acquire) != 0; });
    std::unique_lock<std::mutex> lk(m_);
    done_sleepers_.wait(done_cv_, lk, [&] { return remaining_.load(std::memory_order_acquire) == 0; });
    std::exception_ptr other_error = std::exchange(worker_error_, nullptr);
    if (!error) error = other_error;  // the caller's own part first, else another's
    if (error) std::rethrow_exception(error);
  }

  /// Claims the next unrun part of the current loop: claim_ holds (parts << 32 | next part).
  bool claim(int& part, int& parts) {
    uint64_t c = claim_.load(std::memory_order_acquire);
    for (;;) {
      parts = int(c >> 32);
      part = int(c & 0xffffffffu);
      if (part >= parts) return false;
      if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) return true;
    }
  }

  /// Runs a claimed part (1 .. parts-1); its error goes to the loop's caller, the last one done wakes it.
  void run_claimed(int part, int parts) {
    // The job stays as it is until every claimed part is done: the caller waits for remaining_ first.
    const Range range = job_;
    const int64_t n = job_n_;
    try {
      Inside inside;
      range.call(range.body, n * part / parts, n * (part + 1) / parts);
    } catch (...) {
      std::lock_guard<std::mutex> lk(m_);
      if (!worker_error_) worker_error_ = std::current_exception();
    }
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lk(m_);  // the caller may be between its test and its wait
      done_sleepers_.wake_one();
      done_cv_.notify_one();
    }
  }

  struct Inside {  // reset also when the body throws
    Inside() { inside_loop() = true; }
    ~Inside() { inside_loop() = false; }
  };
  /// True on a thread while it runs a part of a parallel loop.
  static bool& inside_loop() {
    thread_local bool inside = false;
    return inside;
  }

  /// MIXT_NUM_THREADS (a positive number) when set, else the cores.
  static int default_threads() {
    return int(detail::env_integer("MIXT_NUM_THREADS", std::max(1u, std::thread::hardware_concurrency()), 1));
  }

  void worker(uint64_t seen) {
    for (;;) {
      ready_.fetch_add(1, std::memory_order_relaxed);
      spin_while([&] { return generation_.load(std::memory_order_acquire) == seen; });
      ready_.fetch_sub(1, std::memory_order_relaxed);
      {
        std::unique_lock<std::mutex> lk(m_);
        sleepers_.wait(cv_, lk, [&] { return stopping_ || generation_.load(std::memory_order_relaxed) != seen; });
        if (stopping_) return;
        seen = generation_.load(std::memory_order_relaxed);
      }
      for (int part, parts; claim(part, parts);) run_claimed(part, parts);
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stopping_ = true;
      sleepers_.wake_all();
    }
    cv_.notify_all();
    workers_.join();
  }

  ThreadGroup workers_;
  std::mutex m_, busy_;
  std::condition_variable cv_, done_cv_;
  Sleepers sleepers_, done_sleepers_;  ///< threads asleep on cv_ and done_cv_ (guarded by m_)
  Range job_{};
  std::exception_ptr worker_error_;  ///< the first error another thread's part raised in the current loop
  int64_t job_n_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> claim_{0};  ///< the current loop's part count and next unclaimed part
  std::atomic<int> remaining_{0};   ///< parts 1 .. parts-1 not yet done
  std::atomic<int> ready_{0};       ///< threads spinning for work that will claim parts themselves
  std::atomic<int> n_threads_{1};  ///< read by loops on any thread, written by resize under busy_
  bool stopping_ = false;
};

/// Spins while busy() holds (spin_while), running parts of the kernel pool's loops meanwhile (ThreadPool::help):
/// the engine's waits use it, so that the operation waited for splits its loops with the waiting thread.
[[gnu::noinline]] inline void help_while(bool (*busy)(const void*), const void* arg) {
  ThreadPool* pool = ThreadPool::existing();
  if (!pool) return spin_while(busy, arg);
  pool->helping(true);
  spin_while([&] { return busy(arg) && (pool->help(), busy(arg)); });
  pool->helping(false);
}
template <class Busy>
void help_while(const Busy& busy) {
  help_while([](const void* b) { return (*static_cast<const Busy*>(b))(); }, &busy);
}

}  // namespace detail

/// Number of threads CPU kernels use.
inline int num_threads() { return detail::ThreadPool::global().size(); }
/// Sets the number of threads CPU kernels use. Safe while computations run: it waits for the kernel loop in
/// progress, and a loop that starts meanwhile runs on its own thread.
inline void set_num_threads(int n) { detail::ThreadPool::global().resize(n); }

/// Runs f(begin, end) over [0, n) on the kernel thread pool; parts hold at least `grain` items.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  detail::ThreadPool::global().parallel_for(n, grain, std::forward<F>(f));
}

}  // namespace mixt
