// The benchmarks' timer: the median of several runs after a warm-up, each run optionally after an untimed setup.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <utility>
#include <vector>

/// The median of a non-empty set of measurements (the upper middle one for an even count).
inline double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

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
  return median_of(std::move(t));
}

inline double median_seconds(const std::function<void()>& f, int reps = 9) {
  return median_seconds([] {}, f, reps);
}

/// Times several variants of one task in alternation: `rounds` rounds, each running every variant once, in an
/// order that rotates from round to round, after one untimed round. Returns each variant's median time. On a
/// shared VM whose speed drifts over seconds, alternating puts every variant under the same drift, where timing
/// them one after the other let the drift decide a comparison of a few percent.
inline std::vector<double> interleaved_medians(const std::vector<std::function<void()>>& variants, int rounds = 15) {
  const size_t n = variants.size();
  for (const auto& f : variants) f();  // warm-up
  std::vector<std::vector<double>> t(n);
  for (int r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < n; ++k) {
      const size_t v = (k + size_t(r)) % n;
      const auto t0 = std::chrono::steady_clock::now();
      variants[v]();
      t[v].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::vector<double> medians;
  for (auto& times : t) medians.push_back(median_of(std::move(times)));
  return medians;
}
