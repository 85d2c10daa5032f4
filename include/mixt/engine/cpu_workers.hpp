// CpuWorkers: the threaded engine's fixed pool of CPU worker threads with one FIFO queue (MXNet's per-device CPU
// pool). Workers run whole operations; inside an operation, a kernel may split its loop over the separate kernel
// pool (core/thread_pool.hpp). That pool serves one loop at a time and a loop started while it is busy runs on
// the calling worker alone, so engine workers plus kernel threads never exceed workers + kernel threads - 1.
#pragma once

#include <condition_variable>
#include <mutex>

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
      wake = sleeping_ > 0;
    }
    if (wake) cv_.notify_one();
  }

  /// Runs what is queued, then ends the threads.
  void stop() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    threads_.join();
  }

 private:
  void loop() {
    for (;;) {
      OprBlock* op;
      {
        std::unique_lock<std::mutex> lk(m_);
        while (!head_) {
          if (stopping_) return;
          ++sleeping_;
          cv_.wait(lk);
          --sleeping_;
        }
        op = head_;
        head_ = op->next;
        if (!head_) tail_ = nullptr;
      }
      run_(op);
    }
  }

  Runner run_;
  std::mutex m_;
  std::condition_variable cv_;
  OprBlock* head_ = nullptr;
  OprBlock* tail_ = nullptr;
  int sleeping_ = 0;
  bool stopping_ = false;
  mixt::detail::ThreadGroup threads_;
};

}  // namespace mixt::engine::detail
