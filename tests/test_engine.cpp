// The dependency engine: ordering against a sequential oracle (MXNet's RandSumExpr, generalized), error
// propagation (reference §1.3), observed concurrency, deferred deletion, and the engine as the library uses it.
// Every case that waits for another thread to make progress does so with a timeout, so that a broken engine
// fails the case instead of hanging the run.
#include "testing.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cstdio>

using namespace mixt;
using engine::Engine;
using engine::NaiveEngine;
using engine::RunContext;
using engine::ThreadedEngine;
using engine::Var;

namespace {

constexpr auto kPatience = std::chrono::seconds(10);

/// A one-shot flag another thread sets; wait() gives up after kPatience.
struct Flag {
  std::mutex m;
  std::condition_variable cv;
  bool set = false;
  void raise() {
    std::lock_guard<std::mutex> lk(m);
    set = true;
    cv.notify_all();
  }
  bool wait() {
    std::unique_lock<std::mutex> lk(m);
    return cv.wait_for(lk, kPatience, [&] { return set; });
  }
};

/// One workload of the ordering test: reads some variables, writes others.
struct Workload {
  std::vector<int> reads, writes;
};

std::vector<Workload> random_workloads(uint64_t seed, int n_ops, int n_vars) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int> var(0, n_vars - 1), n_reads(0, 12), n_writes(0, 3);
  std::vector<Workload> w(static_cast<size_t>(n_ops));
  for (auto& op : w) {
    int r = n_reads(gen), k = n_writes(gen);
    if (r + k == 0) k = 1;
    for (int i = 0; i < r; ++i) op.reads.push_back(var(gen));  // duplicates and read+write overlaps included
    for (int i = 0; i < k; ++i) op.writes.push_back(var(gen));
  }
  return w;
}

/// What one workload does to the data: records what it read in seen[i], then updates each written value.
/// Written variables are deduplicated by the engine, so the update applies once per distinct variable.
void apply(const Workload& op, size_t i, std::vector<double>& data, std::vector<double>& seen) {
  double sum = 0;
  for (int r : op.reads) sum += data[size_t(r)];
  seen[i] = sum;
  std::vector<int> done;
  for (int w : op.writes) {
    if (std::find(done.begin(), done.end(), w) != done.end()) continue;
    done.push_back(w);
    data[size_t(w)] = data[size_t(w)] * 0.5 + sum / double(op.reads.size() + 1) + double(i % 7);
  }
}

/// Runs the workloads through `eng`; returns data and seen; checks the versions.
void run_workloads(Engine& eng, const std::vector<Workload>& ops, int n_vars, std::vector<double>& data,
                   std::vector<double>& seen) {
  data.assign(size_t(n_vars), 1.0);
  for (int v = 0; v < n_vars; ++v) data[size_t(v)] = v * 0.25;
  seen.assign(ops.size(), 0.0);
  std::vector<Var*> vars;
  for (int v = 0; v < n_vars; ++v) vars.push_back(eng.new_var());
  std::vector<uint64_t> writes_per_var(size_t(n_vars), 0);
  for (size_t i = 0; i < ops.size(); ++i) {
    std::vector<Var*> r, w;
    for (int x : ops[i].reads) r.push_back(vars[size_t(x)]);
    for (int x : ops[i].writes) w.push_back(vars[size_t(x)]);
    std::vector<int> distinct_writes;
    for (int x : ops[i].writes)
      if (std::find(distinct_writes.begin(), distinct_writes.end(), x) == distinct_writes.end()) {
        distinct_writes.push_back(x);
        ++writes_per_var[size_t(x)];
      }
    // Passed as drawn, duplicates and variables both read and written included: the engine sorts them out.
    eng.push([&ops, i, &data, &seen](RunContext) { apply(ops[i], i, data, seen); }, cpu(), r, w,
             engine::FnProperty::normal, "workload");
  }
  eng.wait_all();
  for (int v = 0; v < n_vars; ++v) CHECK(vars[size_t(v)]->version.load() == writes_per_var[size_t(v)]);
  int deleted = 0;
  for (Var* v : vars) eng.delete_var(v, cpu(), [&deleted] { ++deleted; });
  eng.wait_all();
  CHECK(deleted == n_vars);
}

}  // namespace

TEST_CASE("engine: 10,000 random reads and writes on 100 variables give the sequential result") {
  const int n_vars = 100, n_ops = 10000;
  for (uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    auto ops = random_workloads(seed, n_ops, n_vars);
    std::vector<double> want(static_cast<size_t>(n_vars)), want_seen(ops.size());
    for (int v = 0; v < n_vars; ++v) want[size_t(v)] = v * 0.25;
    for (size_t i = 0; i < ops.size(); ++i) apply(ops[i], i, want, want_seen);

    std::vector<double> data, seen;
    {
      NaiveEngine naive;
      run_workloads(naive, ops, n_vars, data, seen);
      CHECK(data == want);
      CHECK(seen == want_seen);
    }
    for (int workers : {1, 2, 4}) {
      CAPTURE(workers);
      ThreadedEngine threaded(workers);
      run_workloads(threaded, ops, n_vars, data, seen);
      CHECK(data == want);       // exact: every write saw exactly the values it would have seen in order
      CHECK(seen == want_seen);  // and so did every read
    }
  }
}

TEST_CASE("engine: versions count completed writes (MXNet VarVersion)") {
  NaiveEngine naive;
  ThreadedEngine threaded(2);
  for (Engine* eng : {static_cast<Engine*>(&naive), static_cast<Engine*>(&threaded)}) {
    Var* v = eng->new_var();
    CHECK(v->version.load() == 0);
    for (int i = 0; i < 10; ++i) eng->push([](RunContext) {}, cpu(), {v}, {});
    eng->wait_all();
    CHECK(v->version.load() == 0);
    for (int i = 0; i < 10; ++i) eng->push([](RunContext) {}, cpu(), {}, {v});
    eng->wait_all();
    CHECK(v->version.load() == 10);
    eng->delete_var(v, cpu(), [] {});
  }
}

TEST_CASE("engine: two independent operations run at the same time") {
  // Each waits for a flag the other raises: they can only both succeed if they run concurrently.
  ThreadedEngine eng(2);
  Var* a = eng.new_var();
  Var* b = eng.new_var();
  Flag fa, fb;
  bool a_saw_b = false, b_saw_a = false;
  eng.push([&](RunContext) { fa.raise(); a_saw_b = fb.wait(); }, cpu(), {}, {a});
  eng.push([&](RunContext) { fb.raise(); b_saw_a = fa.wait(); }, cpu(), {}, {b});
  eng.wait_all();
  CHECK(a_saw_b);
  CHECK(b_saw_a);
  eng.delete_var(a, cpu(), [] {});
  eng.delete_var(b, cpu(), [] {});
}

TEST_CASE("engine: idle workers and kernel threads sleep once the work is done") {
  // Workers and kernel threads spin briefly for the next piece of work, then must block: a worker that kept
  // spinning held a core forever (it halved every 2-thread loop run from outside the engine). Each thread's CPU
  // clock over an idle stretch stays near zero when it sleeps and grows at a core's rate when it spins. (Only
  // mixt's threads: OpenBLAS's own threads yield-spin for a while after the library loads.)
  std::mutex m;
  std::vector<clockid_t> clocks;
  auto record_thread = [&] {
    clockid_t c;
    REQUIRE(pthread_getcpuclockid(pthread_self(), &c) == 0);
    std::lock_guard<std::mutex> lk(m);
    clocks.push_back(c);
  };
  ThreadedEngine eng(2);
  Var* a = eng.new_var();
  Var* b = eng.new_var();
  Flag fa, fb;  // the two operations wait for each other: one runs on each worker
  eng.push([&](RunContext) { record_thread(); fa.raise(); fb.wait(); }, cpu(), {}, {a});
  eng.push([&](RunContext) { record_thread(); fb.raise(); fa.wait(); }, cpu(), {}, {b});
  eng.wait_all();
  const int64_t parts = num_threads();
  std::atomic<int64_t> started{0};
  parallel_for(parts, 1, [&](int64_t b, int64_t e) {  // one part per kernel thread, held until all have started
    record_thread();
    started += e - b;
    const auto give_up = std::chrono::steady_clock::now() + kPatience;  // should the pool split fewer ways
    while (started.load() < parts && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  });
  CHECK(clocks.size() == size_t(2 + parts));
  auto cpu_ms = [&] {
    double sum = 0;
    for (clockid_t c : clocks) {
      timespec ts{};
      clock_gettime(c, &ts);
      sum += 1e3 * double(ts.tv_sec) + 1e-6 * double(ts.tv_nsec);
    }
    return sum;
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past every spin (tens of microseconds)
  const double before = cpu_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double idle_ms = cpu_ms() - before;
  CAPTURE(idle_ms);
  CHECK(idle_ms < 30);
  // Asleep, every thread has left the count of threads that want a CPU: only this one is left (core/spin.hpp).
  CHECK(mixt::detail::cpu_demand().load() == 1);
  eng.delete_var(a, cpu(), [] {});
  eng.delete_var(b, cpu(), [] {});
  eng.wait_all();
}

#ifdef __linux__
/// Voluntary context switches of one of this process's threads so far (Linux: /proc/self/task/TID/status).
static long voluntary_switches(pid_t tid) {
  std::FILE* f = std::fopen(("/proc/self/task/" + std::to_string(tid) + "/status").c_str(), "r");
  REQUIRE(f != nullptr);
  long n = -1;
  char line[256];
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1) break;
  std::fclose(f);
  return n;
}

TEST_CASE("engine: a worker runs the chain of operations it makes ready without waking another worker") {
  // Each operation of a chain becomes ready when the one before finishes, on the worker that ran it, which then
  // takes it from the queue itself. Waking the sleeping worker for it cost a futex wake-up per operation, and the
  // woken thread's claim on a core stopped the kernel thread's spin (cpu_workers.hpp, wake_needed).
  setenv("MIXT_ENGINE_MAX_PENDING", "0", 1);  // the whole chain is pushed while its first operation is held
  ThreadedEngine eng(2);
  unsetenv("MIXT_ENGINE_MAX_PENDING");
  Var* a = eng.new_var();
  Var* b = eng.new_var();
  std::atomic<pid_t> tid_a{0}, tid_b{0};
  Flag fa, fb;  // the two operations wait for each other: one runs on each worker
  eng.push([&](RunContext) { tid_a = pid_t(syscall(SYS_gettid)); fa.raise(); fb.wait(); }, cpu(), {}, {a});
  eng.push([&](RunContext) { tid_b = pid_t(syscall(SYS_gettid)); fb.raise(); fa.wait(); }, cpu(), {}, {b});
  eng.wait_all();
  REQUIRE(tid_a.load() != tid_b.load());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past every spin: both workers sleep

  constexpr int kChain = 1000;
  Var* v = eng.new_var();
  Flag gate;
  std::vector<pid_t> ran_on(kChain, 0);
  eng.push([&](RunContext) { gate.wait(); }, cpu(), {}, {v});  // wakes one worker, which holds the chain back
  for (int i = 0; i < kChain; ++i)
    eng.push([&ran_on, i](RunContext) { ran_on[size_t(i)] = pid_t(syscall(SYS_gettid)); }, cpu(), {}, {v});
  const long before_a = voluntary_switches(tid_a), before_b = voluntary_switches(tid_b);
  gate.raise();
  eng.wait_all();
  const pid_t chain_worker = ran_on[0];
  CHECK((chain_worker == tid_a.load() || chain_worker == tid_b.load()));
  int elsewhere = 0;
  for (pid_t t : ran_on) elsewhere += t != chain_worker;
  CHECK(elsewhere == 0);
  // The other worker slept through the chain (with a wake-up per operation it switched about once each).
  const long other_switches =
      chain_worker == tid_a.load() ? voluntary_switches(tid_b) - before_b : voluntary_switches(tid_a) - before_a;
  CHECK(other_switches <= 2);
  for (Var* x : {a, b, v}) eng.delete_var(x, cpu(), [] {});
  eng.wait_all();
}
#endif

TEST_CASE("engine: a malformed MIXT_ENGINE_MAX_PENDING or MIXT_CPU_WORKER_NTHREADS is an error, not 0") {
  setenv("MIXT_ENGINE_MAX_PENDING", "abc", 1);  // read as 0 it meant "no bound"
  CHECK_THROWS_AS(ThreadedEngine(1), Error);
  unsetenv("MIXT_ENGINE_MAX_PENDING");
  setenv("MIXT_CPU_WORKER_NTHREADS", "two", 1);
  CHECK_THROWS_AS(ThreadedEngine(), Error);
  unsetenv("MIXT_CPU_WORKER_NTHREADS");
}

TEST_CASE("engine: pushes from outside wait while too many operations are in flight; pushes inside never do") {
  setenv("MIXT_ENGINE_MAX_PENDING", "8", 1);
  ThreadedEngine eng(2);
  unsetenv("MIXT_ENGINE_MAX_PENDING");
  Var* gate_var = eng.new_var();
  Flag gate;
  std::atomic<int> pushed{0}, ran{0};
  eng.push([&](RunContext) { gate.wait(); }, cpu(), {}, {gate_var});
  int seen_while_held = -1;
  std::thread observer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    seen_while_held = pushed.load();  // the pusher is held: the gate keeps everything in flight
    gate.raise();
  });
  for (int i = 0; i < 20; ++i) {
    eng.push([&](RunContext) { ran.fetch_add(1); }, cpu(), {gate_var}, {});
    pushed.fetch_add(1);
  }
  observer.join();
  eng.wait_all();
  CHECK(seen_while_held == 7);  // 1 gate + 7 readers in flight; the 9th push waited
  CHECK(ran.load() == 20);
  // An operation pushing more than the bound from inside completes (its pushes are not held).
  std::atomic<int> children{0};
  eng.push([&](RunContext) {
    for (int i = 0; i < 30; ++i) eng.push([&](RunContext) { children.fetch_add(1); }, cpu(), {}, {gate_var});
  }, cpu(), {}, {});
  eng.wait_all();
  CHECK(children.load() == 30);
  eng.delete_var(gate_var, cpu(), [] {});
}

TEST_CASE("engine: reads between two writes run in parallel; the next write waits for them") {
  ThreadedEngine eng(3);
  Var* v = eng.new_var();
  int value = 0;
  Flag r1, r2;
  bool ok1 = false, ok2 = false;
  int read1 = -1, read2 = -1, final_value = -1;
  eng.push([&](RunContext) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    value = 1;
  }, cpu(), {}, {v});
  eng.push([&](RunContext) { read1 = value; r1.raise(); ok1 = r2.wait(); }, cpu(), {v}, {});
  eng.push([&](RunContext) { read2 = value; r2.raise(); ok2 = r1.wait(); }, cpu(), {v}, {});
  eng.push([&](RunContext) { value = 2; }, cpu(), {}, {v});
  eng.push([&](RunContext) { final_value = value; }, cpu(), {v}, {});
  eng.wait_all();
  CHECK(ok1);
  CHECK(ok2);
  CHECK(read1 == 1);  // the reads saw the first write ...
  CHECK(read2 == 1);  // ... and ran before the second
  CHECK(final_value == 2);
  eng.delete_var(v, cpu(), [] {});
}

TEST_CASE("engine: wait_for_var waits for pending writes only, and a read after a write sees it") {
  ThreadedEngine eng(2);
  Var* v = eng.new_var();
  int value = 0;
  eng.push([&](RunContext) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    value = 42;
  }, cpu(), {}, {v});
  eng.wait_for_var(v);
  CHECK(value == 42);

  // A read still running does not hold wait_for_var back.
  Flag release, reading;
  bool released = false;
  eng.push([&](RunContext) { reading.raise(); released = release.wait(); }, cpu(), {v}, {});
  REQUIRE(reading.wait());
  eng.wait_for_var(v);  // returns although the read is blocked
  release.raise();
  eng.wait_all();
  CHECK(released);
  eng.delete_var(v, cpu(), [] {});
}

TEST_CASE("engine: a deleted variable's memory is released only after the operations using it") {
  ThreadedEngine eng(2);
  Var* v = eng.new_var();
  Flag go;
  std::atomic<bool> op_done{false}, deleted_after_op{false}, deleted{false};
  eng.push([&](RunContext) {
    go.wait();
    op_done = true;
  }, cpu(), {v}, {});
  eng.delete_var(v, cpu(), [&] {
    deleted_after_op = op_done.load();
    deleted = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK_FALSE(deleted.load());  // still in use
  go.raise();
  eng.wait_all();
  CHECK(deleted.load());
  CHECK(deleted_after_op.load());
}

TEST_CASE("engine: pushes from several threads at once") {
  ThreadedEngine eng(2);
  Var* shared = eng.new_var();
  int64_t total = 0;
  std::vector<std::thread> pushers;
  std::vector<int64_t> own(4, 0);
  std::vector<Var*> own_vars;
  for (int t = 0; t < 4; ++t) own_vars.push_back(eng.new_var());
  for (int t = 0; t < 4; ++t)
    pushers.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        eng.push([&total](RunContext) { ++total; }, cpu(), {}, {shared});
        eng.push([&own, t](RunContext) { ++own[size_t(t)]; }, cpu(), {shared}, {own_vars[size_t(t)]});
      }
    });
  for (auto& p : pushers) p.join();
  eng.wait_all();
  CHECK(total == 8000);
  for (int t = 0; t < 4; ++t) CHECK(own[size_t(t)] == 2000);
  eng.delete_var(shared, cpu(), [] {});
  for (Var* v : own_vars) eng.delete_var(v, cpu(), [] {});
}

TEST_CASE("engine: an error is stored on what the operation writes, inherited by readers, rethrown once") {
  ThreadedEngine eng(2);
  Var* v = eng.new_var();
  Var* w = eng.new_var();
  Var* u = eng.new_var();
  bool reader_ran = false, unrelated_ran = false;
  const auto where = mixt::source_location::current();
  const int line = int(where.line());
  eng.push([](RunContext) { throw std::runtime_error("boom"); }, cpu(), {}, {v}, engine::FnProperty::normal,
           "failing_op", where);  // returns at once: nothing is thrown here
  eng.push([&](RunContext) { reader_ran = true; }, cpu(), {v}, {w}, engine::FnProperty::normal, "reader");
  eng.push([&](RunContext) { unrelated_ran = true; }, cpu(), {}, {u});
  try {
    eng.wait_for_var(w);
    FAIL("wait_for_var did not rethrow the inherited error");
  } catch (const Error& e) {
    CHECK(e.op() == "failing_op");
    CHECK(e.message() == "boom");
    const std::string what = e.what();
    CHECK(what.find("mixt::Error in failing_op: boom (called at ") == 0);
    CHECK(what.find(":" + std::to_string(line) + ")") != std::string::npos);  // test_engine.cpp or .cu
  }
  CHECK_FALSE(reader_ran);  // skipped: it read a failed variable
  eng.wait_for_var(u);
  CHECK(unrelated_ran);
  CHECK_NOTHROW(eng.wait_for_var(v));  // the same error, already rethrown once
  CHECK_NOTHROW(eng.wait_all());

  // A program that catches every error at wait_for_var and never calls wait_all keeps only the unseen ones.
  for (int round = 0; round < 100; ++round) {
    eng.push([](RunContext) { throw std::runtime_error("again"); }, cpu(), {}, {v});
    CHECK_THROWS_AS(eng.wait_for_var(v), Error);
  }
  CHECK(eng.stored_errors() == 1);  // the last one rethrown, dropped when the next is stored
  eng.push([](RunContext) { throw std::runtime_error("unseen"); }, cpu(), {}, {u});
  try {
    eng.wait_all();
    FAIL("wait_all did not rethrow the unseen error");
  } catch (const Error& e) {
    CHECK(e.message() == "unseen");
  }
  CHECK(eng.stored_errors() == 0);
  for (Var* x : {v, w, u}) eng.delete_var(x, cpu(), [] {});
  eng.wait_all();
}

TEST_CASE("engine: wait_all rethrows the first error and clears them all; a second wait_all is silent") {
  ThreadedEngine eng(1);  // one FIFO worker: the failures happen in push order
  Var* v = eng.new_var();
  Var* x = eng.new_var();
  eng.push([](RunContext) { detail::fail("first_op", "first failure"); }, cpu(), {}, {v}, engine::FnProperty::normal,
           "first_op");
  eng.push([](RunContext) { throw 42; }, cpu(), {}, {x}, engine::FnProperty::normal, "second_op");
  try {
    eng.wait_all();
    FAIL("wait_all did not rethrow");
  } catch (const Error& e) {
    CHECK(e.op() == "first_op");
    CHECK(e.message() == "first failure");
  }
  CHECK_NOTHROW(eng.wait_all());
  CHECK_NOTHROW(eng.wait_for_var(v));  // cleared by wait_all
  CHECK_NOTHROW(eng.wait_for_var(x));

  // A non-standard exception becomes a mixt::Error naming the operation.
  eng.push([](RunContext) { throw 42; }, cpu(), {}, {x}, engine::FnProperty::normal, "odd_op");
  try {
    eng.wait_for_var(x);
    FAIL("wait_for_var did not rethrow");
  } catch (const Error& e) {
    CHECK(e.op() == "odd_op");
    CHECK(e.message() == "unknown exception");
  }
  CHECK_NOTHROW(eng.wait_all());

  // A failed variable is still deleted (its deleter runs: no leak).
  bool deleted = false;
  eng.push([](RunContext) { throw std::logic_error("late"); }, cpu(), {}, {v});
  eng.delete_var(v, cpu(), [&] { deleted = true; });
  eng.delete_var(x, cpu(), [] {});
  CHECK_THROWS_AS(eng.wait_all(), Error);
  CHECK(deleted);
}

TEST_CASE("engine: the naive engine runs at once and throws at the call") {
  NaiveEngine eng;
  Var* v = eng.new_var();
  int value = 0;
  eng.push([&](RunContext) { value = 5; }, cpu(), {}, {v});
  CHECK(value == 5);  // already done
  try {
    eng.push([](RunContext) { throw std::runtime_error("bad"); }, cpu(), {}, {v}, engine::FnProperty::normal,
             "naive_op", mixt::source_location::current());
    FAIL("the naive engine did not throw at the call");
  } catch (const Error& e) {
    CHECK(e.op() == "naive_op");
    CHECK(std::string(e.what()).find("test_engine.c") != std::string::npos);  // .cpp, or .cu in the CUDA build
  }
  bool deleted = false;
  eng.delete_var(v, cpu(), [&] { deleted = true; });
  CHECK(deleted);
}

TEST_CASE("engine: the process-wide engine is threaded unless MIXT_ENGINE=naive") {
  const char* kind = std::getenv("MIXT_ENGINE");
  const bool naive = kind && (std::string(kind) == "naive" || std::string(kind) == "NaiveEngine");
  CHECK((dynamic_cast<ThreadedEngine*>(&Engine::get()) != nullptr) == !naive);
  CHECK((dynamic_cast<NaiveEngine*>(&Engine::get()) != nullptr) == naive);
}

TEST_CASE("engine: NDArray host reads wait for pending writes and rethrow their errors once") {
  auto& eng = Engine::get();
  NDArray a = nd::zeros({4, 3});
  NDArray keep = a;
  eng.push([keep](RunContext) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    float* p = keep.data<float>();
    for (int i = 0; i < 12; ++i) p[i] = float(i);
  }, cpu(), {}, {a.var()}, engine::FnProperty::normal, "slow_write");
  NDArray b = a * 2.f;  // queued behind the write
  std::vector<float> want_b;
  for (int i = 0; i < 12; ++i) want_b.push_back(2.f * float(i));
  CHECK(b.to_vector<float>() == want_b);

  NDArray c = nd::ones({4, 3});
  auto fail = [&] {
    eng.push([](RunContext) { throw std::runtime_error("kernel failed"); }, cpu(), {}, {a.var()},
             engine::FnProperty::normal, "broken_kernel", mixt::source_location::current());
  };
  if (!dynamic_cast<ThreadedEngine*>(&eng)) {
    CHECK_THROWS_AS(fail(), Error);  // the naive engine throws at the call
  } else {
    fail();  // returns at once
    NDArray d = a + c;  // reads the failed array: skipped, inherits the error
    try {
      d.to_vector<float>();
      FAIL("the host read did not rethrow");
    } catch (const Error& e) {
      CHECK(e.op() == "broken_kernel");
    }
    CHECK_NOTHROW(d.wait_to_read());  // once
    CHECK_NOTHROW(a.at(1).wait_to_read());
    CHECK(c.to_vector<float>() == std::vector<float>(12, 1.f));  // untouched arrays keep their values
    CHECK_NOTHROW(mixt::waitall());
  }
}

TEST_CASE("engine: rows of a failed array share its error: the first read rethrows, the second does not") {
  auto& eng = Engine::get();
  if (!dynamic_cast<ThreadedEngine*>(&eng)) return;  // the naive engine throws at the call instead
  NDArray a = nd::zeros({2, 3});
  eng.push([](RunContext) { throw std::runtime_error("rows failed"); }, cpu(), {}, {a.var()},
           engine::FnProperty::normal, "split");
  NDArray r0 = a.at(0), r1 = a.at(1);
  CHECK_THROWS_AS(r0.to_vector<float>(), Error);
  CHECK_NOTHROW(r1.to_vector<float>());
  CHECK_NOTHROW(mixt::waitall());
}

TEST_CASE("engine: dropping the last handle while an operation still writes frees the storage afterwards") {
  auto& eng = Engine::get();
  const bool threaded = dynamic_cast<ThreadedEngine*>(&eng) != nullptr;
  Flag go;
  if (!threaded) go.raise();  // the naive engine runs the op inside push()
  std::atomic<bool> finished{false};
  {
    NDArray a = nd::zeros({1 << 12});
    float* p = a.data<float>();  // only the raw pointer goes into the op: the engine must keep the memory alive
    eng.push([p, &go, &finished](RunContext) {
      go.wait();
      for (int i = 0; i < (1 << 12); ++i) p[i] = 1.f;  // AddressSanitizer sees a use-after-free if freed early
      finished = true;
    }, cpu(), {}, {a.var()}, engine::FnProperty::normal, "late_writer");
  }  // the last handle dies here; with the threaded engine the op has not run yet
  const size_t in_use_before = memory::cpu_pool().bytes_in_use();
  go.raise();
  mixt::waitall();
  CHECK(finished.load());
  if (threaded) CHECK(memory::cpu_pool().bytes_in_use() + 4 * (1 << 12) == in_use_before);  // returned only now
}

TEST_CASE("thread pool: back-to-back and spaced loops cover every index once; any part's error reaches the caller") {
  const int saved = num_threads();
  set_num_threads(3);  // the caller and two workers, whatever the machine has
  const int64_t n = 3001;
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  for (int round = 1; round <= 300; ++round) {
    // Most loops follow at once (workers still spinning); every 25th after a pause long enough that they sleep.
    if (round % 25 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1, std::memory_order_relaxed);
    });
    bool all = true;
    for (auto& h : hits) all = all && h.load(std::memory_order_relaxed) == round;
    REQUIRE(all);
  }
  for (int64_t failing : {int64_t(0), n - 1}) {  // in the caller's part, then in a worker's
    std::atomic<int64_t> covered{0};
    CHECK_THROWS_WITH_AS(parallel_for(n, 1, [&](int64_t b, int64_t e) {
      covered += e - b;
      if (b <= failing && failing < e) throw std::runtime_error("part failed");
    }), "part failed", std::runtime_error);
    CHECK(covered.load() == n);  // every part ran to its end before the error was rethrown
  }
  set_num_threads(saved);
}

TEST_CASE("thread pool: set_num_threads while another thread runs loops: every loop covers its indices once") {
  const int saved = num_threads();
  const int64_t n = 1001;
  std::atomic<bool> done{false};
  std::atomic<int> bad_loops{0}, loops{0};
  std::thread looper([&] {
    std::vector<int> hits(static_cast<size_t>(n));
    while (!done.load()) {
      std::fill(hits.begin(), hits.end(), 0);
      parallel_for(n, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) ++hits[size_t(i)];
      });
      if (std::count(hits.begin(), hits.end(), 1) != n) ++bad_loops;
      ++loops;
    }
  });
  for (int round = 0; round < 40; ++round) {
    set_num_threads(1 + round % 4);
    CHECK(num_threads() == 1 + round % 4);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  while (loops.load() == 0) std::this_thread::yield();  // at least one loop, however slow the thread's start
  done = true;
  looper.join();
  CHECK(loops.load() > 0);
  CHECK(bad_loops.load() == 0);
  // From inside a loop it would wait for that very loop: an error instead.
  set_num_threads(2);
  CHECK_THROWS_WITH_AS(parallel_for(2, 1, [](int64_t b, int64_t) {
    if (b == 0) set_num_threads(3);
  }), doctest::Contains("called from inside a parallel loop"), Error);
  set_num_threads(saved);
}

TEST_CASE("thread pool: a thread that helps runs a part of the loop in progress; helping wakes no kernel thread") {
  mixt::detail::ThreadPool pool(2);  // the caller and one kernel thread
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // past the kernel thread's spin: it sleeps
  CHECK_FALSE(pool.help());  // no loop in progress
  // With a helper announced, the loop wakes no sleeping thread; its first part waits until the second has been
  // claimed, so only the helper can run it.
  pool.helping(true);
  std::atomic<bool> claimed{false};
  std::thread::id second_part_thread;
  bool help_inside_part = true;
  std::thread caller([&] {
    pool.parallel_for(2, 1, [&](int64_t b, int64_t) {
      if (b == 0) {
        const auto give_up = std::chrono::steady_clock::now() + kPatience;
        while (!claimed.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
      } else {
        second_part_thread = std::this_thread::get_id();
        help_inside_part = pool.help();  // a part never helps another loop
        claimed = true;
      }
    });
  });
  bool helped = false;
  for (auto give_up = std::chrono::steady_clock::now() + kPatience;
       !helped && std::chrono::steady_clock::now() < give_up;)
    helped = pool.help();
  pool.helping(false);
  caller.join();
  CHECK(helped);
  CHECK(second_part_thread == std::this_thread::get_id());
  CHECK_FALSE(help_inside_part);
  CHECK_FALSE(pool.help());
}

TEST_CASE("engine: operations whose loops the waiting thread helps with cover every index once") {
  const int saved = num_threads();
  set_num_threads(3);
  ThreadedEngine eng(2);
  const int64_t n = 3001;
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  Var* v = eng.new_var();
  for (int round = 1; round <= 200; ++round) {
    eng.push([&](RunContext) {
      parallel_for(n, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1, std::memory_order_relaxed);
      });
    }, cpu(), {}, {v});
    eng.wait_all();  // spins, running parts of the operation's loop meanwhile
    bool all = true;
    for (auto& h : hits) all = all && h.load(std::memory_order_relaxed) == round;
    REQUIRE(all);
  }
  // An error in any part reaches the operation, and wait_all.
  eng.push([&](RunContext) {
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      if (b <= n / 2 && n / 2 < e) throw std::runtime_error("part failed");
    });
  }, cpu(), {}, {v});
  CHECK_THROWS_WITH_AS(eng.wait_all(), doctest::Contains("part failed"), Error);
  eng.delete_var(v, cpu(), [] {});
  eng.wait_all();
  set_num_threads(saved);
}

#if MIXT_USE_CUDA
namespace {
__global__ void engine_test_spin_fill(float* p, int n, float v, long long cycles) {
  long long t0 = clock64();
  while (clock64() - t0 < cycles) {}
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) p[i] = v;
}
__global__ void engine_test_add(float* dst, const float* src, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) dst[i] += src[i];
}
cudaStream_t stream_of(const RunContext& rc) { return static_cast<cudaStream_t>(rc.stream); }
}  // namespace

TEST_CASE("engine: GPU compute and copy streams are ordered by events; GPU frees wait for the streams") {
  if (!testing::gpu_available()) return;
  const int n = 1 << 20, rounds = 20;
  ThreadedEngine eng(2);
  float *a = nullptr, *b = nullptr;
  REQUIRE(cudaMalloc(&a, n * 4) == cudaSuccess);
  REQUIRE(cudaMalloc(&b, n * 4) == cudaSuccess);
  Var* va = eng.new_var();
  Var* vb = eng.new_var();
  std::vector<std::vector<float>> host(rounds, std::vector<float>(size_t(n)));
  void* streams[2] = {nullptr, nullptr};
  for (int k = 1; k <= rounds; ++k) {
    // A slow kernel writes a on the compute stream; the copy stream copies a to b (must wait for it); the compute
    // stream adds b to a (must wait for the copy); the copy stream brings a to the host. Each round: a == 2k.
    eng.push([=](RunContext rc) { engine_test_spin_fill<<<64, 256, 0, stream_of(rc)>>>(a, n, float(k), 2000000); },
             gpu(0), {}, {va}, engine::FnProperty::normal, "fill");
    eng.push([=, &streams](RunContext rc) {
      streams[1] = rc.stream;
      cudaMemcpyAsync(b, a, size_t(n) * 4, cudaMemcpyDeviceToDevice, stream_of(rc));
    }, gpu(0), {va}, {vb}, engine::FnProperty::copy_to_gpu, "d2d");
    eng.push([=, &streams](RunContext rc) {
      streams[0] = rc.stream;
      if (!rc.blas_handle) throw std::runtime_error("no cuBLAS handle on the compute worker");
      engine_test_add<<<64, 256, 0, stream_of(rc)>>>(a, b, n);
    }, gpu(0), {vb}, {va}, engine::FnProperty::normal, "add");
    float* h = host[size_t(k - 1)].data();
    eng.push([=](RunContext rc) {
      cudaMemcpyAsync(h, a, size_t(n) * 4, cudaMemcpyDeviceToHost, stream_of(rc));
      cudaStreamSynchronize(stream_of(rc));
    }, gpu(0), {va}, {}, engine::FnProperty::copy_from_gpu, "d2h");
  }
  eng.wait_all();
  for (int k = 1; k <= rounds; ++k) CHECK(host[size_t(k - 1)] == std::vector<float>(size_t(n), 2.f * k));
  CHECK(streams[0] != streams[1]);

  // wait_for_var: afterwards the values are on the device.
  eng.push([=](RunContext rc) { engine_test_spin_fill<<<64, 256, 0, stream_of(rc)>>>(a, n, 7.f, 20000000); },
           gpu(0), {}, {va});
  eng.wait_for_var(va);
  std::vector<float> h(static_cast<size_t>(n));
  cudaMemcpy(h.data(), a, size_t(n) * 4, cudaMemcpyDeviceToHost);
  CHECK(h.front() == 7.f);
  CHECK(h.back() == 7.f);

  // An error in a GPU operation reaches the waiter; a deletion frees only after the kernels using the memory.
  eng.push([](RunContext) { throw std::runtime_error("gpu op failed"); }, gpu(0), {}, {vb},
           engine::FnProperty::normal, "gpu_fail");
  CHECK_THROWS_AS(eng.wait_for_var(vb), Error);
  std::atomic<bool> freed{false};
  eng.push([=](RunContext rc) { engine_test_spin_fill<<<64, 256, 0, stream_of(rc)>>>(a, n, 3.f, 20000000); },
           gpu(0), {}, {va});
  eng.delete_var(va, gpu(0), [&freed, a] {
    freed = true;
    cudaFree(a);
  });
  eng.delete_var(vb, gpu(0), [b] { cudaFree(b); });
  eng.wait_all();
  CHECK(freed.load());
  CHECK(cudaGetLastError() == cudaSuccess);
}
#endif

// Stopping the CPU workers runs what is still queued first (the threaded engine drains its work before it
// stops them, so only a direct use of the pool can tell).
TEST_CASE("engine: the CPU workers run every queued operation before they stop") {
  std::atomic<int> ran{0};
  engine::detail::OprBlock ops[4];
  {
    engine::detail::CpuWorkers workers(1, [&](engine::detail::OprBlock*) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ++ran;
    });
    for (auto& op : ops) workers.push(&op);
  }
  CHECK(ran == 4);
}

// From the sixth mutation round: each case below failed a mutant that every earlier test let through.

TEST_CASE("engine: an error is stored on what the failed operation writes, not on what it reads") {
  engine::ThreadedEngine eng(1);  // one FIFO worker: the reader below runs after the failure has finished
  engine::Var* v = eng.new_var();
  engine::Var* w = eng.new_var();
  engine::Var* u = eng.new_var();
  bool later_reader_ran = false;
  eng.push([](engine::RunContext) { throw std::runtime_error("boom"); }, cpu(), {v}, {w});
  eng.push([&](engine::RunContext) { later_reader_ran = true; }, cpu(), {v}, {u});
  CHECK_NOTHROW(eng.wait_for_var(u));
  CHECK(later_reader_ran);  // v holds no error: its readers run
  CHECK_NOTHROW(eng.wait_for_var(v));
  CHECK_THROWS_AS(eng.wait_for_var(w), Error);
  CHECK_NOTHROW(eng.wait_all());
  for (engine::Var* x : {v, w, u}) eng.delete_var(x, cpu(), [] {});
  eng.wait_all();
}
