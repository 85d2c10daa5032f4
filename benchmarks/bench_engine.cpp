// Engine overhead and concurrency: the cost of one push of a tiny CPU operation (threaded and naive), the round
// trip of one push and wait_all, the same for an operation whose loop runs on every kernel thread, and the time
// for 1,000 independent medium operations with 1 versus 2 CPU workers. Prints tables.
#include <mixt/mixt.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "median_time.hpp"

using namespace mixt;
using engine::Engine;
using engine::RunContext;
using engine::Var;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct PushCost {
  double push_ns;   ///< caller's time per push
  double total_ns;  ///< per operation, until every one has run
};

/// n tiny operations, each writing one of `n_vars` variables (1: a chain; more: independent streams).
PushCost tiny_ops(Engine& eng, int n, int n_vars) {
  std::vector<Var*> vars;
  std::vector<int64_t> counters(static_cast<size_t>(n_vars), 0);
  for (int v = 0; v < n_vars; ++v) vars.push_back(eng.new_var());
  for (int i = 0; i < 1000; ++i)  // warm the block pool and the threads
    eng.push([&counters](RunContext) { ++counters[0]; }, cpu(), {}, {vars[0]});
  eng.wait_all();
  std::vector<Var*> writes(1);
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    int v = i % n_vars;
    writes[0] = vars[size_t(v)];
    eng.push([c = &counters[size_t(v)]](RunContext) { ++*c; }, cpu(), {}, writes, engine::FnProperty::normal, "tiny");
  }
  double pushed = seconds_since(t0);
  eng.wait_all();
  double total = seconds_since(t0);
  int64_t sum = 0;
  for (auto c : counters) sum += c;
  if (sum != n + 1000) std::printf("WRONG COUNT %lld\n", (long long)sum);
  for (Var* v : vars) eng.delete_var(v, cpu(), [] {});
  eng.wait_all();
  return {pushed / n * 1e9, total / n * 1e9};
}

/// 1,000 independent operations, each a serial loop over 1e5 elements of a shared input (read by all).
double medium_ops(Engine& eng, int n_ops = 1000, int n = 100000) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) x[size_t(i)] = float(i % 97) * 0.01f;
  std::vector<double> out(static_cast<size_t>(n_ops));
  Var* in = eng.new_var();
  std::vector<Var*> outs;
  for (int i = 0; i < n_ops; ++i) outs.push_back(eng.new_var());
  auto t0 = Clock::now();
  for (int k = 0; k < n_ops; ++k)
    eng.push([&x, &out, k, n](RunContext) {
      double s = 0;
      for (int i = 0; i < n; ++i) s += std::sqrt(double(x[size_t(i)]) + k);
      out[size_t(k)] = s;
    }, cpu(), {in}, {outs[size_t(k)]}, engine::FnProperty::normal, "medium");
  eng.wait_all();
  double t = seconds_since(t0);
  eng.delete_var(in, cpu(), [] {});
  for (Var* v : outs) eng.delete_var(v, cpu(), [] {});
  eng.wait_all();
  return t;
}

/// Median time of one push of a tiny operation followed by wait_all (a synchronous caller: a game loop reading
/// each result), in microseconds: the latency of waking a worker and being woken.
double round_trip_us(Engine& eng, int n = 2001) {
  Var* v = eng.new_var();
  int64_t counter = 0;
  const double t = median_seconds([&] {
    eng.push([&counter](RunContext) { ++counter; }, cpu(), {}, {v}, engine::FnProperty::normal, "tiny");
    eng.wait_all();
  }, n);
  if (counter != n + 1) std::printf("WRONG COUNT %lld\n", (long long)counter);  // n timed runs and a warm-up
  eng.delete_var(v, cpu(), [] {});
  eng.wait_all();
  return t * 1e6;
}

/// Median time of one push and wait_all of an operation whose loop of n elements is split over the kernel pool
/// (y = 2 x + y), in microseconds: how the engine's threads, the pool's and the waiting caller share the cores.
double split_loop_us(Engine& eng, int64_t n, int rounds = 201) {
  std::vector<float> x(static_cast<size_t>(n), 1.f), y(static_cast<size_t>(n), 0.f);
  Var* v = eng.new_var();
  const double t = median_seconds([&] {
    eng.push([&x, &y, n](RunContext) {
      parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) y[size_t(k)] += 2.f * x[size_t(k)];
      });
    }, cpu(), {}, {v}, engine::FnProperty::normal, "split");
    eng.wait_all();
  }, rounds);
  const float want = 2.f * float(rounds + 1);  // the timed rounds and a warm-up
  if (y[0] != want || y[size_t(n - 1)] != want) std::printf("WRONG SUM\n");
  eng.delete_var(v, cpu(), [] {});
  eng.wait_all();
  return t * 1e6;
}

}  // namespace

int main() {
  const int n = 200000;
  std::printf("engine overhead: %d tiny CPU operations (ns per operation)\n", n);
  std::printf("%-26s %14s %14s %14s %14s\n", "engine", "push, 1 var", "total, 1 var", "push, 64 vars",
              "total, 64 vars");
  auto row = [&](const char* name, Engine& eng) {
    PushCost chain = tiny_ops(eng, n, 1), wide = tiny_ops(eng, n, 64);
    std::printf("%-26s %14.0f %14.0f %14.0f %14.0f\n", name, chain.push_ns, chain.total_ns, wide.push_ns,
                wide.total_ns);
  };
  {
    engine::NaiveEngine naive;
    row("naive", naive);
  }
  for (int workers : {1, 2}) {
    engine::ThreadedEngine threaded(workers);
    char name[64];
    std::snprintf(name, sizeof name, "threaded, %d worker%s", workers, workers > 1 ? "s" : "");
    row(name, threaded);
  }

  std::printf("\npush + wait_all of one tiny operation (median us)\n");
  {
    engine::NaiveEngine naive;
    std::printf("%-26s %12.2f\n", "naive", round_trip_us(naive));
  }
  for (int workers : {1, 2}) {
    engine::ThreadedEngine threaded(workers);
    char name[64];
    std::snprintf(name, sizeof name, "threaded, %d worker%s", workers, workers > 1 ? "s" : "");
    std::printf("%-26s %12.2f\n", name, round_trip_us(threaded));
  }

  std::printf("\npush + wait_all of one operation whose loop is split over %d kernel threads (median us)\n",
              num_threads());
  std::printf("%-26s %10s %10s %10s %10s\n", "engine", "2^14", "2^16", "2^18", "2^20");
  auto split_row = [&](const char* name, Engine& eng) {
    std::printf("%-26s", name);
    for (int64_t n : {int64_t(1) << 14, int64_t(1) << 16, int64_t(1) << 18, int64_t(1) << 20})
      std::printf(" %10.1f", split_loop_us(eng, n));
    std::printf("\n");
  };
  {
    engine::NaiveEngine naive;
    split_row("naive", naive);
  }
  for (int workers : {1, 2}) {
    engine::ThreadedEngine threaded(workers);
    split_row(workers == 1 ? "threaded, 1 worker" : "threaded, 2 workers", threaded);
  }

  std::printf("\n1,000 independent medium operations (1e5-element serial loops)\n");
  std::printf("%-26s %12s %10s\n", "engine", "time (ms)", "speedup");
  double base = 0;
  {
    engine::NaiveEngine naive;
    base = medium_ops(naive);
    std::printf("%-26s %12.1f %10.2f\n", "naive", base * 1e3, 1.0);
  }
  for (int workers : {1, 2}) {
    engine::ThreadedEngine threaded(workers);
    double t = medium_ops(threaded);
    char name[64];
    std::snprintf(name, sizeof name, "threaded, %d worker%s", workers, workers > 1 ? "s" : "");
    std::printf("%-26s %12.1f %10.2f\n", name, t * 1e3, base / t);
  }
  return 0;
}
