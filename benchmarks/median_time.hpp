// The benchmarks' timer: the median of several runs after a warm-up, each run optionally after an untimed setup.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

inline double median_seconds(const std::function<void()>& setup, const std::function<void()>& f, int reps = 9) {
  setup();
  f();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    setup();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

inline double median_seconds(const std::function<void()>& f, int reps = 9) {
  return median_seconds([] {}, f, reps);
}
