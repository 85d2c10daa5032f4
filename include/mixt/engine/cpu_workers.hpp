// CpuWorkers: the threaded engine's fixed pool of CPU worker threads with one FIFO queue (MXNet's per-device CPU
// pool). Workers run whole operations; inside an operation, a kernel may split its loop over the separate kernel
// pool (core/thread_pool.hpp). That pool serves one loop at a time and a loop started while it is busy runs on
// the calling worker alone, so engine workers plus kernel threads never exceed workers + kernel threads - 1.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "../core/spin.hpp"
#include "../core/thread_group.hpp"
#include "opr_block.hpp"

namespace mixt::engine::detail {

class CpuWorkers {
 public:
  using Runner = Task<void(OprBlock*)>;

  CpuWorkers(int n, Runner run) : run_(std::move(run)) {
    threads_.start(n, [this](int) { loop(); });
  }
  CpuWorkers(const CpuWorkers&) = delete;
  CpuWorkers& operator=(const CpuWorkers&) = delete;
  ~CpuWorkers() { stop(); }

  int size() const noexcept { return threads_.size(); }

  void push(OprBlock* op) {
    bool wake;
    {
      std::lock_guard<std::mutex> lk(m_);
      op->next = nullptr;
      if (tail_) tail_->next = op;
      else head_ = op;
      tail_ = op;
      ++queued_n_;
      queued_.store(true, std::memory_order_release);
      wake = wake_needed(current() == this);
      if (wake) sleepers_.wake_one();
    }
    if (wake) cv_.notify_one();
  }

  /// Runs what is queued, then ends the threads.
  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stopping_ = true;
      sleepers_.wake_all();
    }
    cv_.notify_all();
    threads_.join();
  }

 private:
  /// Whether queued work needs a sleeping worker woken (called with m_ held): only when more operations are
  /// queued than workers are awake without one (spinning, or between two: each looks at the queue before it
  /// sleeps). A worker that pushes the operations its own one made ready (`pusher_returns`) takes the first
  /// itself when it returns to the queue. Waking one anyway cost a futex wake-up, and the woken thread's claim
  /// on a core stopped every spinner (core/spin.hpp): the kernel thread a GEMM then wanted was asleep.
  bool wake_needed(bool pusher_returns = false) const {
    const int asleep = sleepers_.asleep();
    const int idle = size() - asleep - running_.load(std::memory_order_relaxed) + (pusher_returns ? 1 : 0);
    return asleep > 0 && queued_n_ > idle;
  }
  /// The CpuWorkers whose worker the calling thread is, if any.
  static const CpuWorkers*& current() {
    thread_local const CpuWorkers* self = nullptr;
    return self;
  }

  /// One worker at a time spins for the next operation before it sleeps, and only while no operation runs:
  /// a chain of operations pushed one by one then skips a futex wake-up per operation (a push and wait_all of
  /// one tiny operation: 14 us before, 0.45 us with the spin; wait_all spins too), while a worker never spins
  /// beside an operation whose loops need every core.
  void loop() {
    current() = this;
    for (;;) {
      OprBlock* op;
      bool wake_another;
      {
        std::unique_lock<std::mutex> lk(m_);
        bool spun = false;  // once per idle period: then sleep
        while (!head_) {
          if (stopping_) return;
          if (!spun && !spinning_ && running_.load(std::memory_order_relaxed) == 0) {
            spun = true;
            spinning_ = true;
            lk.unlock();
            mixt::detail::spin_while([&] {
              return !queued_.load(std::memory_order_acquire) && running_.load(std::memory_order_relaxed) == 0;
            });
            lk.lock();
            spinning_ = false;
            continue;
          }
          sleepers_.wait_once(cv_, lk);
        }
        op = head_;
        head_ = op->next;
        --queued_n_;
        if (!head_) {
          tail_ = nullptr;
          queued_.store(false, std::memory_order_relaxed);
        }
        running_.fetch_add(1, std::memory_order_relaxed);
        // Pushes seen by an awake worker woke no one: pass on what is left to a sleeping worker.
        wake_another = head_ && wake_needed();
        if (wake_another) sleepers_.wake_one();
      }
      if (wake_another) cv_.notify_one();
      run_(op);
      running_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  Runner run_;
  std::mutex m_;
  std::condition_variable cv_;
  OprBlock* head_ = nullptr;
  OprBlock* tail_ = nullptr;
  int queued_n_ = 0;                 ///< operations in the queue (guarded by m_)
  std::atomic<bool> queued_{false};  ///< head_ != nullptr, readable without the lock (for the spinner)
  std::atomic<int> running_{0};      ///< workers running an operation
  mixt::detail::Sleepers sleepers_;  ///< workers asleep on cv_ (guarded by m_)
  bool spinning_ = false;            ///< a worker spins for the next push (guarded by m_)
  bool stopping_ = false;
  mixt::detail::ThreadGroup threads_;
};

}  // namespace mixt::engine::detail
