// Time per training step of the Fashion-MNIST MLP (784-256-128-10, batch 128), the step of
// examples/fashion_mnist_mlp.cpp: a batch copied in from host memory, the forward pass recorded by autograd,
// softmax cross-entropy, backward, and sgd_mom_update of the six parameters. Random data: the timing does not
// depend on the values. Prints ms per step and samples per second, one line per context:
//   mixt <ctx> step_ms <ms> samples_per_s <rate>
// benchmarks/compare_mxnet runs this program and MXNet's Gluon on the same machine and prints the ratios.
// On the CPU the engine's cost is measured too: the program times `rounds` runs of the steps in alternation with
// as many runs of itself under the naive engine (a child process: the engine is chosen once per process), and
// prints the medians, the first line for the engine the environment chose:
//   mixt cpu(0) naive_step_ms <ms> engine_over_naive <ratio>
//
//   bench_mlp [steps=300] [rounds=5]          (bench_mlp --one-run [steps]: one CPU run, the child's mode)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <mixt/mixt.hpp>

#include "median_time.hpp"

namespace mx = mixt;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kBatch = 128;

struct Layer {
  mx::NDArray weight, bias, weight_mom, bias_mom;
};

Layer make_layer(int64_t in, int64_t out, mx::Context ctx) {
  Layer l{mx::nd::random::uniform(-0.05, 0.05, {out, in}, ctx), mx::nd::zeros({out}, ctx),
          mx::nd::zeros({out, in}, ctx), mx::nd::zeros({out}, ctx)};
  l.weight.attach_grad();
  l.bias.attach_grad();
  return l;
}

/// One training step on host data (x: batch*784 floats, y: batch labels), as the example runs it.
void step(std::vector<Layer>& net, const std::vector<float>& x, const std::vector<float>& y, int64_t batch,
          mx::Context ctx) {
  mx::NDArray data = mx::nd::array(x, {batch, 784}, ctx), label = mx::nd::array(y, {batch}, ctx);
  mx::NDArray loss;
  {
    mx::autograd::record rec;
    mx::NDArray h = data;
    for (size_t i = 0; i < net.size(); ++i) {
      h = mx::nd::FullyConnected(h, net[i].weight, net[i].bias, {.num_hidden = int(net[i].weight.shape()[0])});
      if (i + 1 < net.size()) h = mx::nd::Activation(h, {.act_type = "relu"});
    }
    loss = mx::nd::softmax_cross_entropy(h, label);
  }
  loss.backward();
  const float rescale = 1.f / float(batch);
  for (Layer& l : net) {
    mx::nd::sgd_mom_update(l.weight, l.weight.grad(), l.weight_mom, {.lr = 0.05f, .momentum = 0.9f, .rescale_grad = rescale});
    mx::nd::sgd_mom_update(l.bias, l.bias.grad(), l.bias_mom, {.lr = 0.05f, .momentum = 0.9f, .rescale_grad = rescale});
  }
}

/// ms per step over `steps` steps after a warm-up.
double step_ms(mx::Context ctx, int steps) {
  const int64_t batch = kBatch;
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> pixel(0.f, 1.f);
  std::uniform_int_distribution<int> cls(0, 9);
  // A few distinct batches, as an epoch feeds different data each step.
  std::vector<std::vector<float>> xs(4, std::vector<float>(size_t(batch * 784))), ys(4, std::vector<float>(size_t(batch)));
  for (auto& x : xs) for (auto& v : x) v = pixel(gen);
  for (auto& y : ys) for (auto& v : y) v = float(cls(gen));

  std::vector<Layer> net = {make_layer(784, 256, ctx), make_layer(256, 128, ctx), make_layer(128, 10, ctx)};
  for (int s = 0; s < 20; ++s) step(net, xs[size_t(s % 4)], ys[size_t(s % 4)], batch, ctx);  // warm pools and threads
  mx::waitall();
  auto t0 = Clock::now();
  for (int s = 0; s < steps; ++s) step(net, xs[size_t(s % 4)], ys[size_t(s % 4)], batch, ctx);
  mx::waitall();
  return 1e3 * std::chrono::duration<double>(Clock::now() - t0).count() / steps;
}

void print_step(mx::Context ctx, double ms) {
  std::printf("mixt %s step_ms %.4f samples_per_s %.0f\n", ctx.to_string().c_str(), ms, double(kBatch) * 1e3 / ms);
}

/// One CPU run of this program under the naive engine; its ms per step, or a negative value when it failed.
double naive_child_ms(const char* self, int steps) {
  const std::string cmd = "MIXT_ENGINE=naive '" + std::string(self) + "' --one-run " + std::to_string(steps);
  FILE* child = popen(cmd.c_str(), "r");
  if (!child) return -1;
  double ms = -1;
  char line[256];
  while (std::fgets(line, sizeof line, child)) std::sscanf(line, "mixt cpu(0) step_ms %lf", &ms);
  return pclose(child) == 0 ? ms : -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--one-run") == 0) {
    print_step(mx::cpu(), step_ms(mx::cpu(), argc > 2 ? std::atoi(argv[2]) : 300));
    return 0;
  }
  const int steps = argc > 1 ? std::atoi(argv[1]) : 300;
  const int rounds = std::max(1, argc > 2 ? std::atoi(argv[2]) : 5);
  std::vector<double> engine_ms, naive_ms;
  for (int r = 0; r < rounds; ++r) {  // alternated: both see the same drift of a shared machine's speed
    engine_ms.push_back(step_ms(mx::cpu(), steps));
    const double n = naive_child_ms(argv[0], steps);
    if (n > 0) naive_ms.push_back(n);
  }
  print_step(mx::cpu(), median_of(engine_ms));
  if (naive_ms.size() == size_t(rounds))
    std::printf("mixt cpu(0) naive_step_ms %.4f engine_over_naive %.3f\n", median_of(naive_ms),
                median_of(engine_ms) / median_of(naive_ms));
  else
    std::printf("mixt cpu(0) naive_step_ms - (the naive child run failed)\n");
#if MIXT_USE_CUDA
  if (mx::num_gpus() > 0) print_step(mx::gpu(0), step_ms(mx::gpu(0), steps * 4));
#endif
  return 0;
}
