// Busy waits that give way: spin_while, shared by the kernel pool and the engine, and the count of threads that
// want a CPU, which tells a spinner when its core is needed by another thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace mixt::detail {

/// How many threads want a CPU now: the program's thread (counted from the start) and mixt's engine workers and
/// kernel threads, each while it is awake. A thread leaves the count while it sleeps in Sleepers::wait, and the
/// thread that wakes it puts it back at once, before it runs. A hint for spinners only; nothing waits on it.
inline std::atomic<int>& cpu_demand() {
  static std::atomic<int> demand{1};  // constant-initialized: no guard
  return demand;
}

/// The cores a spinner may assume (at least 1).
inline int cpu_cores() {
  static const int cores = std::max(1, int(std::thread::hardware_concurrency()));
  return cores;
}

/// Counts a thread that mixt starts as wanting a CPU for as long as it lives (ThreadGroup).
struct CountedThread {
  CountedThread() { cpu_demand().fetch_add(1, std::memory_order_relaxed); }
  ~CountedThread() { cpu_demand().fetch_sub(1, std::memory_order_relaxed); }
  CountedThread(const CountedThread&) = delete;
  CountedThread& operator=(const CountedThread&) = delete;
};

/// Waits a few tens of microseconds while busy() holds, before the caller blocks on a condition variable. A
/// futex wake-up costs several microseconds (15 - 20 on some VMs); work that follows soon (a GEMM's next phase,
/// the next operation of a chain, the result a caller waits for) then finds its thread still awake. OpenMP
/// runtimes spin the same way, only longer. The spin stops as soon as more threads want a CPU than there are
/// cores (cpu_demand, the spinner included): on a 2-core VM, spinners beside an operation whose loop ran on
/// both cores kept the woken kernel thread off a core, and one fused assignment of 2^16 floats plus wait_all
/// took 90 - 110 us on the threaded engine against 5 us on the naive one (with this and ThreadPool::help:
/// 7 - 19 us). Timed with the x86 time-stamp counter (no <chrono> to parse); elsewhere by a count of yields.
/// (A function and its argument rather than a template: one copy of the loop serves every wait.)
[[gnu::noinline]] inline void spin_while(bool (*busy)(const void*), const void* arg) {
  auto room = [] { return cpu_demand().load(std::memory_order_relaxed) <= cpu_cores(); };
#if defined(__x86_64__) || defined(__i386__)
  const unsigned long long until = __builtin_ia32_rdtsc() + 100000;  // 30-50 us at today's TSC rates
  while (busy(arg) && room() && __builtin_ia32_rdtsc() < until) __builtin_ia32_pause();
#else
  for (int i = 0; i < 2000 && busy(arg) && room(); ++i) std::this_thread::yield();
#endif
}
template <class Busy>
void spin_while(const Busy& busy) {
  spin_while([](const void* b) { return (*static_cast<const Busy*>(b))(); }, &busy);
}

/// The threads asleep on one condition variable, kept out of cpu_demand while they sleep. Whoever wakes them
/// counts them back in before notifying, so that spinners make room for them before they run. Every call is
/// made with the condition variable's mutex held.
class Sleepers {
 public:
  /// One counted cv.wait(lk). (Out of line, as the rest: these run when threads sleep and wake, not per
  /// element, and each engine and pool function that sleeps or wakes would otherwise hold its own copy.)
  [[gnu::noinline]] void wait_once(std::condition_variable& cv, std::unique_lock<std::mutex>& lk) {
    ++asleep_;
    cpu_demand().fetch_sub(1, std::memory_order_relaxed);
    cv.wait(lk);
    // Counted back in by a waker, or else (a wake-up nobody announced) by itself. A thread may take another's
    // credit; that one then counts itself: the total stays right.
    if (credits_ > 0) {
      --credits_;
    } else {
      --asleep_;
      cpu_demand().fetch_add(1, std::memory_order_relaxed);
    }
  }
  /// cv.wait(lk, ready), counted.
  template <class Ready>
  void wait(std::condition_variable& cv, std::unique_lock<std::mutex>& lk, Ready ready) {
    while (!ready()) wait_once(cv, lk);
  }
  /// Before cv.notify_all() / cv.notify_one().
  void wake_all() {
    if (asleep_ > 0) credit(asleep_);
  }
  void wake_one() {
    if (asleep_ > 0) credit(1);
  }
  int asleep() const noexcept { return asleep_; }

 private:
  [[gnu::noinline]] void credit(int k) {
    asleep_ -= k;
    credits_ += k;
    cpu_demand().fetch_add(k, std::memory_order_relaxed);
  }
  int asleep_ = 0;   ///< sleeping, not yet counted back in
  int credits_ = 0;  ///< counted back in by a waker, not yet awake
};

}  // namespace mixt::detail
