// ThreadGroup: threads started together and joined together, held in a plain array: a std::vector<std::thread>
// costs every program a few dozen instantiated functions to compile (benchmarks/RESULTS.md, compile time).
#pragma once

#include <memory>
#include <thread>

#include "spin.hpp"

namespace mixt::detail {

class ThreadGroup {
 public:
  ThreadGroup() = default;
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  ~ThreadGroup() { join(); }

  /// Starts n threads running body(i), i = 0 .. n-1 (after joining any earlier ones), each counted in
  /// cpu_demand() while it runs.
  template <class F>
  void start(int n, F body) {
    join();
    threads_.reset(new std::thread[size_t(n)]);
    for (int i = 0; i < n; ++i, ++size_) threads_[size_t(i)] = std::thread([body, i] {
      CountedThread counted;
      body(i);
    });
  }
  /// Waits for every thread to end. (Out of line: the destructors that call it are not worth growing.)
  [[gnu::noinline]] void join() {
    for (int i = 0; i < size_; ++i) threads_[size_t(i)].join();
    threads_.reset();
    size_ = 0;
  }
  int size() const noexcept { return size_; }

 private:
  std::unique_ptr<std::thread[]> threads_;
  int size_ = 0;
};

}  // namespace mixt::detail
