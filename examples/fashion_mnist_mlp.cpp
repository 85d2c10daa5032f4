// Trains an MLP 784-256-128-10 on Fashion-MNIST imperatively: autograd records the forward pass, backward()
// fills the gradients, sgd_mom_update steps the weights (momentum 0.9, learning rate 0.1 decayed by 0.75 per epoch). Prints a progress bar with the loss and throughput,
// train and test accuracy after each epoch, and the final test accuracy.
//
//   fashion_mnist_mlp [epochs=10] [data_dir=/usr/share/datasets/fashion-mnist]
// Built with nvcc it trains on gpu(0) when one is present.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>

#include <mixt/gluon/data/idx.hpp>
#include <mixt/mixt.hpp>

namespace mx = mixt;

struct Layer {
  mx::NDArray weight, bias, weight_mom, bias_mom;
};

/// Xavier-uniform weights (out, in), zero biases, gradients attached.
static Layer make_layer(int64_t in, int64_t out, std::mt19937& gen, mx::Context ctx) {
  double limit = std::sqrt(6.0 / double(in + out));
  std::uniform_real_distribution<double> dist(-limit, limit);
  std::vector<double> w(size_t(in * out));
  for (auto& v : w) v = dist(gen);
  Layer l{mx::nd::array(w, {out, in}, ctx), mx::nd::zeros({out}, ctx), mx::nd::zeros({out, in}, ctx), mx::nd::zeros({out}, ctx)};
  l.weight.attach_grad();
  l.bias.attach_grad();
  return l;
}

static mx::NDArray forward(std::vector<Layer>& net, const mx::NDArray& x) {
  mx::NDArray h = x;
  for (size_t i = 0; i < net.size(); ++i) {
    h = mx::nd::FullyConnected(h, net[i].weight, net[i].bias, {.num_hidden = int(net[i].weight.shape()[0])});
    if (i + 1 < net.size()) h = mx::nd::Activation(h, {.act_type = "relu"});
  }
  return h;
}

/// Copies the rows `order[begin, end)` of a dataset into a batch on ctx.
static std::pair<mx::NDArray, mx::NDArray> batch(const mx::gluon::data::LabelledImages& d, const std::vector<size_t>& order,
                                                 size_t begin, size_t end, mx::Context ctx) {
  const size_t dim = size_t(d.image_shape.size()), n = end - begin;
  std::vector<float> x(n * dim), y(n);
  for (size_t i = 0; i < n; ++i) {
    size_t r = order[begin + i];
    std::copy_n(d.images.begin() + long(r * dim), dim, x.begin() + long(i * dim));
    y[i] = d.labels[r];
  }
  return {mx::nd::array(x, {int64_t(n), int64_t(dim)}, ctx), mx::nd::array(y, {int64_t(n)}, ctx)};
}

static double accuracy(std::vector<Layer>& net, const mx::gluon::data::LabelledImages& d, mx::Context ctx) {
  std::vector<size_t> order(d.size());
  std::iota(order.begin(), order.end(), 0);
  double correct = 0;
  for (size_t b = 0; b < d.size(); b += 1000) {
    auto [x, y] = batch(d, order, b, std::min(d.size(), b + 1000), ctx);
    correct += mx::nd::sum(mx::nd::argmax(forward(net, x), 1) == y).item<double>();
  }
  return correct / double(d.size());
}

int main(int argc, char** argv) {
  const int epochs = argc > 1 ? std::atoi(argv[1]) : 10;
  const std::string dir = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
  mx::Context ctx = mx::cpu();
#if MIXT_USE_CUDA
  if (mx::num_gpus() > 0) ctx = mx::gpu(0);
#endif
  auto train = mx::gluon::data::fashion_mnist(true, dir), test = mx::gluon::data::fashion_mnist(false, dir);
  std::printf("Fashion-MNIST: %zu training and %zu test images of %s, training on %s\n", train.size(), test.size(),
              train.image_shape.to_string().c_str(), ctx.to_string().c_str());

  std::mt19937 gen(1);
  std::vector<Layer> net = {make_layer(784, 256, gen, ctx), make_layer(256, 128, gen, ctx), make_layer(128, 10, gen, ctx)};
  const size_t batch_size = 128;
  const float momentum = 0.9f;
  std::vector<size_t> order(train.size());
  std::iota(order.begin(), order.end(), 0);

  double test_acc = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const float lr = 0.1f * std::pow(0.75f, float(epoch - 1));  // step decay: large steps first, then settle
    std::shuffle(order.begin(), order.end(), gen);
    auto start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    size_t seen = 0, steps = (train.size() + batch_size - 1) / batch_size;
    for (size_t s = 0; s < steps; ++s) {
      size_t b = s * batch_size, e = std::min(train.size(), b + batch_size);
      auto [x, y] = batch(train, order, b, e, ctx);
      mx::NDArray loss;
      {
        mx::autograd::record rec;
        loss = mx::nd::softmax_cross_entropy(forward(net, x), y);
      }
      loss.backward();
      const float rescale = 1.f / float(e - b);
      for (Layer& l : net) {
        mx::nd::sgd_mom_update(l.weight, l.weight.grad(), l.weight_mom, {.lr = lr, .momentum = momentum, .rescale_grad = rescale});
        mx::nd::sgd_mom_update(l.bias, l.bias.grad(), l.bias_mom, {.lr = lr, .momentum = momentum, .rescale_grad = rescale});
      }
      seen += e - b;
      if (s % 20 == 0 || s + 1 == steps) {
        loss_sum = loss.item<double>() / double(e - b);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        int filled = int(30 * (s + 1) / steps);
        std::printf("\repoch %2d [%-30s] %5.1f%%  loss %.4f  %7.0f samples/s", epoch, std::string(size_t(filled), '=').c_str(),
                    100.0 * double(s + 1) / double(steps), loss_sum, double(seen) / secs);
        std::fflush(stdout);
      }
    }
    double train_acc = accuracy(net, train, ctx);
    test_acc = accuracy(net, test, ctx);
    std::printf("\nepoch %2d: train accuracy %.4f, test accuracy %.4f\n", epoch, train_acc, test_acc);
  }
  std::printf("final test accuracy: %.4f\n", test_acc);
  return 0;
}
