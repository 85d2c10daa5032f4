// The IDX reader's errors, and a short version of the Fashion-MNIST MLP training (examples/fashion_mnist_mlp.cpp):
// a few hundred steps on a subset must lower the loss and beat a fixed accuracy floor.
#include "testing.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include <mixt/gluon/data/idx.hpp>

using namespace mixt;

namespace {

std::string write_file(const std::string& name, const std::vector<uint8_t>& bytes) {
  std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  return path;
}

std::vector<uint8_t> idx_bytes(uint8_t type, std::vector<uint32_t> dims, size_t data_bytes) {
  std::vector<uint8_t> b = {0, 0, type, uint8_t(dims.size())};
  for (uint32_t d : dims) for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(d >> s));
  for (size_t i = 0; i < data_bytes; ++i) b.push_back(uint8_t(i * 7));
  return b;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("idx: reads values and shapes; rejects truncated, malformed and mismatched files") {
  auto ok = write_file("mixt_ok.idx", idx_bytes(0x08, {2, 3}, 6));
  auto d = gluon::data::read_idx(ok);
  CHECK(d.shape == Shape{2, 3});
  CHECK(d.values == std::vector<double>{0, 7, 14, 21, 28, 35});
  NDArray a = gluon::data::load_idx(ok);
  CHECK(a.shape() == Shape{2, 3});
  CHECK(a.to_vector<float>()[5] == 35.f);
  // Big-endian int32 values.
  std::vector<uint8_t> ints = {0, 0, 0x0C, 1, 0, 0, 0, 2, 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 1, 0};
  CHECK(gluon::data::read_idx(write_file("mixt_int.idx", ints)).values == std::vector<double>{-2, 256});

  CHECK(error_of([&] { gluon::data::read_idx(write_file("mixt_trunc.idx", idx_bytes(0x08, {2, 3}, 5))); }).find("truncated") != std::string::npos);
  auto bad_magic = idx_bytes(0x08, {4}, 4);
  bad_magic[0] = 0x12;
  CHECK(error_of([&] { gluon::data::read_idx(write_file("mixt_magic.idx", bad_magic)); }).find("magic") != std::string::npos);
  CHECK(error_of([&] { gluon::data::read_idx(write_file("mixt_type.idx", idx_bytes(0x07, {4}, 4))); }).find("element type") != std::string::npos);
  CHECK(error_of([&] { gluon::data::read_idx(write_file("mixt_short.idx", {0, 0})); }).find("truncated") != std::string::npos);
  // Dimensions whose product overflows 64 bits (2^64 wraps to 0, which the data would match) or exceeds the data.
  using Dims = std::vector<uint32_t>;
  for (const Dims& dims : {Dims{65536, 65536, 65536, 65536}, Dims(8, 0xFFFFFFFF), Dims{0, 0xFFFFFFFF, 0xFFFFFFFF}}) {
    CAPTURE(dims.size());
    const std::string path = write_file("mixt_huge.idx", idx_bytes(0x0D, dims, 8));
    const std::string e = error_of([&] { gluon::data::read_idx(path); });
    CHECK(e.find("mixt_huge.idx") != std::string::npos);
    CHECK(e.find("int64") != std::string::npos);
  }
  CHECK(error_of([&] { gluon::data::read_idx(write_file("mixt_big.idx", idx_bytes(0x0D, {3, 0x80000000}, 8))); })
            .find("truncated") != std::string::npos);
  CHECK(error_of([&] { gluon::data::read_idx(write_file("mixt_long.idx", idx_bytes(0x08, {2, 3}, 7))); })
            .find("past the end") != std::string::npos);
  // The header is read first, and then only the data it announces: a small gzip file that inflates to 64 MiB past
  // a one-element header, and /dev/zero (whose element type 0x00 is unknown), fail at once. Both used to be read
  // whole first: /dev/zero until memory ran out.
  const std::string bomb = (std::filesystem::temp_directory_path() / "mixt_bomb.idx.gz").string();
  {
    gzFile g = gzopen(bomb.c_str(), "wb");
    const std::vector<uint8_t> head = idx_bytes(0x08, {1}, 1), zeros(size_t(1) << 20, 0);
    gzwrite(g, head.data(), unsigned(head.size()));
    for (int i = 0; i < 64; ++i) gzwrite(g, zeros.data(), unsigned(zeros.size()));
    gzclose(g);
  }
  CHECK(error_of([&] { gluon::data::read_idx(bomb); }).find("past the end") != std::string::npos);
  if (std::filesystem::exists("/dev/zero"))
    CHECK(error_of([&] { gluon::data::read_idx("/dev/zero"); }).find("element type 0x00") != std::string::npos);
  auto empty = gluon::data::read_idx(write_file("mixt_empty.idx", idx_bytes(0x08, {0xFFFFFFFF, 0, 7}, 0)));
  CHECK(empty.shape == Shape{0xFFFFFFFF, 0, 7});
  CHECK(empty.values.empty());
  CHECK(error_of([&] { gluon::data::read_idx("/nonexistent/mixt.idx"); }).find("cannot open") != std::string::npos);
  auto images = write_file("mixt_images.idx", idx_bytes(0x08, {3, 2, 2}, 12));
  auto labels = write_file("mixt_labels.idx", idx_bytes(0x08, {2}, 2));
  CHECK(error_of([&] { gluon::data::read_idx_pair(images, labels); }).find("counts differ") != std::string::npos);
}

TEST_CASE("training: a short Fashion-MNIST MLP run lowers the loss and beats an accuracy floor") {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): nothing to train on");
    return;
  }
  auto train = gluon::data::fashion_mnist(true, dir), test = gluon::data::fashion_mnist(false, dir);
  REQUIRE(train.size() == 60000);
  REQUIRE(test.size() == 10000);
  auto ctx = cpu();
  std::mt19937 gen(3);
  auto layer = [&](int64_t in, int64_t out) {
    std::uniform_real_distribution<double> dist(-std::sqrt(6.0 / double(in + out)), std::sqrt(6.0 / double(in + out)));
    std::vector<double> w(size_t(in * out));
    for (auto& v : w) v = dist(gen);
    std::vector<NDArray> p = {nd::array(w, Shape{out, in}, ctx), nd::zeros(Shape{out}, ctx)};
    for (auto& x : p) x.attach_grad();
    return p;
  };
  std::vector<std::vector<NDArray>> net = {layer(784, 128), layer(128, 10)};
  auto forward = [&](const NDArray& x) {
    NDArray h = nd::Activation(nd::FullyConnected(x, net[0][0], net[0][1], {.num_hidden = 128}), {.act_type = "relu"});
    return nd::FullyConnected(h, net[1][0], net[1][1], {.num_hidden = 10});
  };
  auto make_batch = [&](const gluon::data::LabelledImages& d, size_t begin, size_t n) {
    std::vector<float> x(d.images.begin() + long(begin * 784), d.images.begin() + long((begin + n) * 784));
    std::vector<float> y(d.labels.begin() + long(begin), d.labels.begin() + long(begin + n));
    return std::pair{nd::array(x, Shape{int64_t(n), 784}, ctx), nd::array(y, Shape{int64_t(n)}, ctx)};
  };
  const size_t batch = 64, steps = 300;
  double first_loss = 0, last_loss = 0;
  for (size_t s = 0; s < steps; ++s) {
    auto [x, y] = make_batch(train, (s * batch) % 19200, batch);
    NDArray loss;
    {
      autograd::record rec;
      loss = nd::softmax_cross_entropy(forward(x), y);
    }
    loss.backward();
    for (auto& l : net)
      for (auto& p : l) nd::sgd_update(p, p.grad(), {.lr = 0.1f, .rescale_grad = 1.f / float(batch)});
    double v = loss.item<double>() / double(batch);
    if (s < 10) first_loss += v / 10;
    if (s >= steps - 10) last_loss += v / 10;
  }
  auto [tx, ty] = make_batch(test, 0, 2000);
  double acc = nd::sum(nd::argmax(forward(tx), 1) == ty).item<double>() / 2000.0;
  MESSAGE("loss " << first_loss << " -> " << last_loss << ", test accuracy on 2000 images " << acc);
  CHECK(last_loss < first_loss * 0.5);
  CHECK(acc > 0.75);
}

// Signed 8- and 16-bit values, and images scaled by 1/255.
TEST_CASE("idx: signed 8- and 16-bit values; images scaled to [0, 1]") {
  using V = std::vector<double>;
  CHECK(gluon::data::read_idx(write_file("mixt_i8.idx", {0, 0, 0x09, 1, 0, 0, 0, 2, 0xFF, 0x05})).values == V{-1, 5});
  CHECK(gluon::data::read_idx(write_file("mixt_i16.idx", {0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x00})).values ==
        V{-2, 256});
  auto images = write_file("mixt_img.idx", {0, 0, 0x08, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 255, 51});
  auto labels = write_file("mixt_lab.idx", {0, 0, 0x08, 1, 0, 0, 0, 1, 7});
  gluon::data::LabelledImages set = gluon::data::read_idx_pair(images, labels);
  CHECK(set.image_shape == Shape{1, 2});
  CHECK(set.images == std::vector<float>{1.0f, 0.2f});
  CHECK(set.labels == std::vector<float>{7.0f});
}
