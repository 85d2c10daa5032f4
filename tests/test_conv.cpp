// Convolution, Deconvolution and Pooling: forward against direct double-precision loops, backward against central
// differences, shape inference (partial shapes included), attribute parsing and errors.
#include "testing.hpp"

#include <algorithm>
#include <mixt/op/op.hpp>
#include <mixt/test/gradient_check.hpp>
#include <string>

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::expect_error;
using mixt::testing::random_values;

namespace {

NDArray random_array(const Shape& s, Context ctx, double lo = -1, double hi = 1, uint64_t seed = 3) {
  return nd::array(mixt::testing::as_stored(random_values(size_t(s.size()), lo, hi, seed)), s, ctx);
}

/// The problems are linear in each input (or piecewise linear), so large steps give exact differences.
test::GradCheckOptions linear_opts() { return {.eps = 0.05, .rtol = 1e-2, .atol = 2e-3}; }

template <class Op>
void check_grad(const typename Op::Param& p, const std::vector<NDArray>& in, test::GradCheckOptions o = linear_opts()) {
  test::GradCheckResult r = test::check_numeric_gradient<Op>(p, in, {}, o);
  CHECK_MESSAGE(r.ok, r.report);
}

/// Spatial geometry padded to 3 axes (leading 1s), as the references below read it.
struct Geo {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, p[3] = {0, 0, 0},
          d[3] = {1, 1, 1};
};
void put(int64_t* dst, const std::vector<int64_t>& v) {
  for (size_t i = 0; i < v.size(); ++i) dst[3 - v.size() + i] = v[i];
}
int64_t prod3(const int64_t* a) { return a[0] * a[1] * a[2]; }

/// Direct convolution: y[n, f, o] = b[f] + sum_{c in group, k} x[n, c, o*s - p + k*d] w[f, c, k].
std::vector<double> conv_ref(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>* b,
                             int64_t N, int64_t C, int64_t F, int64_t G, const Geo& g) {
  const int64_t S = prod3(g.in), O = prod3(g.out), K = prod3(g.k), cg = C / G, fg = F / G;
  std::vector<double> y(size_t(N * F * O), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t f = 0; f < F; ++f)
      for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
        for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
          for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
            double acc = b ? (*b)[size_t(f)] : 0.0;
            for (int64_t cc = 0; cc < cg; ++cc) {
              const int64_t c = f / fg * cg + cc;
              for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
                for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
                    const int64_t i0 = o0 * g.s[0] - g.p[0] + k0 * g.d[0], i1 = o1 * g.s[1] - g.p[1] + k1 * g.d[1],
                                  i2 = o2 * g.s[2] - g.p[2] + k2 * g.d[2];
                    if (i0 < 0 || i0 >= g.in[0] || i1 < 0 || i1 >= g.in[1] || i2 < 0 || i2 >= g.in[2]) continue;
                    acc += x[size_t((n * C + c) * S + (i0 * g.in[1] + i1) * g.in[2] + i2)] *
                           w[size_t((f * cg + cc) * K + (k0 * g.k[1] + k1) * g.k[2] + k2)];
                  }
            }
            y[size_t((n * F + f) * O + (o0 * g.out[1] + o1) * g.out[2] + o2)] = acc;
          }
  return y;
}

/// Direct transposed convolution: each x[n, c, i] scatters x * w[c, f, k] onto y[n, g*fg + f, i*s - p + k*d].
std::vector<double> deconv_ref(const std::vector<double>& x, const std::vector<double>& w,
                               const std::vector<double>* b, int64_t N, int64_t C, int64_t F, int64_t G, const Geo& g) {
  const int64_t S = prod3(g.in), O = prod3(g.out), K = prod3(g.k), cg = C / G, fg = F / G;
  std::vector<double> y(size_t(N * F * O), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i0 = 0; i0 < g.in[0]; ++i0)
        for (int64_t i1 = 0; i1 < g.in[1]; ++i1)
          for (int64_t i2 = 0; i2 < g.in[2]; ++i2) {
            const double xv = x[size_t((n * C + c) * S + (i0 * g.in[1] + i1) * g.in[2] + i2)];
            for (int64_t f = 0; f < fg; ++f)
              for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
                for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
                    const int64_t o0 = i0 * g.s[0] - g.p[0] + k0 * g.d[0], o1 = i1 * g.s[1] - g.p[1] + k1 * g.d[1],
                                  o2 = i2 * g.s[2] - g.p[2] + k2 * g.d[2];
                    if (o0 < 0 || o0 >= g.out[0] || o1 < 0 || o1 >= g.out[1] || o2 < 0 || o2 >= g.out[2]) continue;
                    const int64_t fo = c / cg * fg + f;
                    y[size_t((n * F + fo) * O + (o0 * g.out[1] + o1) * g.out[2] + o2)] +=
                        xv * w[size_t((c * fg + f) * K + (k0 * g.k[1] + k1) * g.k[2] + k2)];
                  }
          }
  if (b)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t f = 0; f < F; ++f)
        for (int64_t o = 0; o < O; ++o) y[size_t((n * F + f) * O + o)] += (*b)[size_t(f)];
  return y;
}

struct ConvCase {
  const char* label;
  int64_t N, C, F, G;
  std::vector<int64_t> in, k, s, p, d;
  bool no_bias;
};

Shape with_batch(int64_t N, int64_t C, const std::vector<int64_t>& sp) {
  Shape s{N, C};
  for (int64_t v : sp) s.push_back(v);
  return s;
}

std::vector<ConvCase> conv_cases() {
  return {
      {"2-D 3x3", 2, 3, 4, 1, {7, 6}, {3, 3}, {}, {}, {}, false},
      {"2-D stride, pad, dilate", 2, 3, 5, 1, {8, 7}, {3, 2}, {2, 1}, {1, 2}, {2, 1}, false},
      {"2-D groups, no_bias", 2, 4, 6, 2, {5, 6}, {2, 3}, {1, 2}, {1, 1}, {1, 1}, true},
      {"2-D depthwise", 1, 3, 3, 3, {5, 5}, {3, 3}, {2, 2}, {1, 1}, {}, false},
      {"1-D", 2, 3, 2, 1, {9}, {3}, {2}, {1}, {2}, false},
      {"1-D groups", 3, 4, 4, 2, {6}, {2}, {}, {}, {}, true},
      {"3-D", 1, 2, 3, 1, {4, 5, 4}, {2, 3, 2}, {1, 2, 1}, {1, 1, 0}, {}, false},
  };
}

op::Convolution::Param conv_param(const ConvCase& c) {
  return {.kernel = c.k, .stride = c.s, .dilate = c.d, .pad = c.p, .num_filter = int(c.F), .num_group = int(c.G),
          .no_bias = c.no_bias};
}

Geo conv_geo(const ConvCase& c) {
  Geo g;
  put(g.in, c.in), put(g.k, c.k);
  if (!c.s.empty()) put(g.s, c.s);
  if (!c.p.empty()) put(g.p, c.p);
  if (!c.d.empty()) put(g.d, c.d);
  for (int j = 0; j < 3; ++j) g.out[j] = (g.in[j] + 2 * g.p[j] - g.d[j] * (g.k[j] - 1) - 1) / g.s[j] + 1;
  return g;
}

}  // namespace

MIXT_DEVICE_TEST("conv: Convolution forward matches direct loops") {
  auto ctx = Device::ctx();
  uint64_t seed = 100;
  for (const ConvCase& c : conv_cases()) {
    CAPTURE(c.label);
    Geo g = conv_geo(c);
    Shape ws = with_batch(c.F, c.C / c.G, c.k);
    NDArray x = random_array(with_batch(c.N, c.C, c.in), ctx, -1, 1, ++seed), w = random_array(ws, ctx, -1, 1, ++seed),
            b = random_array(Shape{c.F}, ctx, -1, 1, ++seed);
    auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
    op::Convolution::Param p = conv_param(c);
    NDArray y = c.no_bias ? nd::Convolution(x, w, p) : nd::Convolution(x, w, b, p);
    std::vector<int64_t> os(g.out + 3 - c.in.size(), g.out + 3);
    CHECK(y.shape() == with_batch(c.N, c.F, os));
    check_close(y, conv_ref(xv, wv, c.no_bias ? nullptr : &bv, c.N, c.C, c.F, c.G, g), 1e-5, 1e-5);
  }
}

MIXT_DEVICE_TEST("conv: Convolution forward and backward with req add") {
  auto ctx = Device::ctx();
  ConvCase c = conv_cases()[1];
  Geo g = conv_geo(c);
  NDArray x = random_array(with_batch(c.N, c.C, c.in), ctx, -1, 1, 1), w = random_array(with_batch(c.F, c.C, c.k), ctx, -1, 1, 2),
          b = random_array(Shape{c.F}, ctx, -1, 1, 3);
  op::Convolution::Param p = conv_param(c);
  std::vector<NDArray> out = op::invoke<op::Convolution>(p, {x, w, b});
  NDArray y = nd::ones(out[0].shape(), ctx);
  op::Convolution::forward(p, {}, {x, w, b}, {op::Req::add}, {y}, {});
  auto want = conv_ref(x.to_vector<double>(), w.to_vector<double>(), nullptr, c.N, c.C, c.F, c.G, g);
  auto bv = b.to_vector<double>();
  const int64_t O = prod3(g.out);
  for (size_t i = 0; i < want.size(); ++i) want[i] += 1 + bv[size_t(i / O % c.F)];
  check_close(y, want, 1e-5, 1e-5);
  // Backward with write and with add agree up to the initial values.
  NDArray head = random_array(y.shape(), ctx, -1, 1, 4);
  std::vector<NDArray> gw = {nd::zeros(x.shape(), ctx), nd::zeros(w.shape(), ctx), nd::zeros(b.shape(), ctx)};
  std::vector<NDArray> ga = {nd::ones(x.shape(), ctx), nd::ones(w.shape(), ctx), nd::ones(b.shape(), ctx)};
  op::Convolution::backward(p, {}, {head}, {x, w, b}, out, {op::Req::write, op::Req::write, op::Req::write}, gw, {});
  op::Convolution::backward(p, {}, {head}, {x, w, b}, out, {op::Req::add, op::Req::add, op::Req::add}, ga, {});
  for (int i = 0; i < 3; ++i) {
    auto v = gw[size_t(i)].to_vector<double>();
    for (auto& e : v) e += 1;
    check_close(ga[size_t(i)], v, 1e-5, 1e-5);
  }
}

MIXT_DEVICE_TEST("conv: Convolution backward matches numeric gradients") {
  auto ctx = Device::ctx();
  uint64_t seed = 200;
  for (const ConvCase& c : conv_cases()) {
    CAPTURE(c.label);
    if (c.in.size() == 3) continue;  // the 3-D case runs below with a smaller input
    NDArray x = random_array(with_batch(c.N, c.C, c.in), ctx, -1, 1, ++seed),
            w = random_array(with_batch(c.F, c.C / c.G, c.k), ctx, -1, 1, ++seed),
            b = random_array(Shape{c.F}, ctx, -1, 1, ++seed);
    op::Convolution::Param p = conv_param(c);
    if (c.no_bias) check_grad<op::Convolution>(p, {x, w});
    else check_grad<op::Convolution>(p, {x, w, b});
  }
  op::Convolution::Param p3{.kernel = {2, 2, 2}, .stride = {1, 2, 1}, .pad = {1, 0, 0}, .num_filter = 2};
  check_grad<op::Convolution>(p3, {random_array(Shape{1, 2, 3, 4, 3}, ctx, -1, 1, 1),
                                   random_array(Shape{2, 2, 2, 2, 2}, ctx, -1, 1, 2), random_array(Shape{2}, ctx)});
}

TEST_CASE("conv: a batch dealt unevenly to the CPU's kernel threads") {
  // With 4 threads and 5 items the slots hold 2, 2, 1 and 0 items; with 3 threads 2, 2 and 1.
  const int saved = num_threads();
  for (int threads : {3, 4}) {
    CAPTURE(threads);
    set_num_threads(threads);
    ConvCase c = conv_cases()[2];  // groups, no bias
    c.N = 5;
    Geo g = conv_geo(c);
    NDArray x = random_array(with_batch(c.N, c.C, c.in), cpu(), -1, 1, 31),
            w = random_array(with_batch(c.F, c.C / c.G, c.k), cpu(), -1, 1, 32);
    op::Convolution::Param p = conv_param(c);
    check_close(nd::Convolution(x, w, p), conv_ref(x.to_vector<double>(), w.to_vector<double>(), nullptr, c.N, c.C, c.F,
                                                   c.G, g), 1e-5, 1e-5);
    check_grad<op::Convolution>(p, {x, w});
  }
  set_num_threads(saved);
}

MIXT_DEVICE_TEST("conv: Convolution records for autograd") {
  auto ctx = Device::ctx();
  NDArray x = random_array(Shape{2, 2, 5, 5}, ctx, -1, 1, 5), w = random_array(Shape{3, 2, 3, 3}, ctx, -1, 1, 6),
          b = random_array(Shape{3}, ctx, -1, 1, 7);
  x.attach_grad(), w.attach_grad(), b.attach_grad();
  op::Convolution::Param p{.kernel = {3, 3}, .pad = {1, 1}, .num_filter = 3};
  NDArray y;
  {
    autograd::record rec;
    y = nd::Convolution(x, w, b, p);
  }
  y.backward();  // head of ones: db = N * H * W per filter, dx[.., i] = sum of the weights that reach i
  check_close(b.grad(), std::vector<double>(3, 2.0 * 25), 1e-5, 1e-5);
  std::vector<NDArray> g = {nd::zeros(x.shape(), ctx), nd::zeros(w.shape(), ctx), nd::zeros(b.shape(), ctx)};
  op::Convolution::backward(p, {}, {nd::ones(y.shape(), ctx)}, {x, w, b}, {y},
                            {op::Req::write, op::Req::write, op::Req::write}, g, {});
  check_close(x.grad(), g[0].to_vector<double>(), 1e-5, 1e-5);
  check_close(w.grad(), g[1].to_vector<double>(), 1e-5, 1e-5);
  // The center weight sees every input position: sum of x over the channel and batch.
  auto xv = x.to_vector<double>();
  double s = 0;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 25; ++i) s += xv[size_t(n * 50 + i)];
  CHECK(w.grad().to_vector<double>()[4] == doctest::Approx(s).epsilon(1e-4));

  // An empty batch: empty data gradient, zero weight and bias gradients (the bias sum reshaped with -1 and failed).
  NDArray x0 = nd::zeros(Shape{0, 2, 5, 5}, ctx);
  x0.attach_grad();
  {
    autograd::record rec;
    y = nd::Convolution(x0, w, b, p);
  }
  CHECK(y.shape() == Shape{0, 3, 5, 5});
  y.backward();
  check_close(b.grad(), std::vector<double>(3, 0.0));
  check_close(w.grad(), std::vector<double>(size_t(w.size()), 0.0));
  {
    autograd::record rec;
    y = nd::Deconvolution(x0, w.reshape({2, 3, 3, 3}), b, {.kernel = {3, 3}, .num_filter = 3, .no_bias = false});
  }
  y.backward();
  check_close(b.grad(), std::vector<double>(3, 0.0));
}

MIXT_DEVICE_TEST("conv: Convolution shape inference and partial shapes") {
  std::vector<Shape> aux;
  {
    std::vector<Shape> in = {Shape{8, 3, 32, 30}, Shape{}, Shape{}}, out(1);
    op::Convolution::infer_shape({.kernel = {5, 3}, .stride = {2, 2}, .pad = {2, 1}, .num_filter = 16}, in, out, aux);
    CHECK(in[1] == Shape{16, 3, 5, 3});
    CHECK(in[2] == Shape{16});
    CHECK(out[0] == Shape{8, 16, 16, 15});
  }
  {  // unknown data channels from the weight (times the groups); unknown extents stay unknown
    std::vector<Shape> in = {Shape{4, 0, 0, 9}, Shape{6, 2, 3, 3}, Shape{}}, out(1);
    op::Convolution::infer_shape({.kernel = {3, 3}, .dilate = {1, 2}, .num_filter = 6, .num_group = 3}, in, out, aux);
    CHECK(in[0] == Shape{4, 6, 0, 9});
    CHECK(out[0] == Shape{4, 6, 0, 5});
    CHECK(in[2] == Shape{6});
  }
  {  // unknown data: the weight gets what the attributes say
    std::vector<Shape> in = {Shape{}, Shape{0, 0, 0}}, out(1);
    op::Convolution::infer_shape({.kernel = {4}, .num_filter = 5, .no_bias = true}, in, out, aux);
    CHECK(in[1] == Shape{5, 0, 4});
    CHECK(out[0].ndim() == 0);
  }
  {  // dilation: 2*(3-1)+1 = 5 spans, 1-D
    std::vector<Shape> in = {Shape{2, 3, 11}, Shape{}, Shape{}}, out(1);
    op::Convolution::infer_shape({.kernel = {3}, .stride = {3}, .dilate = {2}, .num_filter = 4}, in, out, aux);
    CHECK(out[0] == Shape{2, 4, 3});
  }
}

MIXT_DEVICE_TEST("conv: Convolution attributes and errors") {
  auto ctx = Device::ctx();
  auto p = op::parse_attrs<op::Convolution::Param>(
      "Convolution", {{"kernel", "(3, 3)"}, {"stride", "(2, 2)"}, {"num_filter", "8"}, {"no_bias", "True"},
                      {"workspace", "512"}, {"cudnn_tune", "fastest"}, {"layout", "NCHW"}});
  CHECK(p.kernel == op::IntTuple{3, 3});
  CHECK(p.stride == op::IntTuple{2, 2});
  CHECK(p.num_filter == 8);
  CHECK(p.no_bias);
  auto a = op::to_attrs(p);
  CHECK(a["kernel"] == "(3, 3)");
  CHECK(a["dilate"] == "()");
  CHECK(a["num_group"] == "1");
  CHECK(op::parse_attrs<op::Convolution::Param>("Convolution", a).stride == op::IntTuple{2, 2});
  expect_error([] { op::parse_attrs<op::Convolution::Param>("Convolution", {{"kernel", "3x3"}}); },
               {"Convolution", "kernel"});

  NDArray x = random_array(Shape{2, 4, 6, 6}, ctx), w = random_array(Shape{4, 4, 3, 3}, ctx), b = random_array(Shape{4}, ctx);
  expect_error([&] { nd::Convolution(x, w, b, {.num_filter = 4}); }, {"Convolution", "kernel"});
  expect_error([&] { nd::Convolution(x, w, b, {.kernel = {3, 3, 3, 3}, .num_filter = 4}); }, {"Convolution", "kernel"});
  expect_error([&] { nd::Convolution(x, w, b, {.kernel = {3, 3}, .stride = {1}, .num_filter = 4}); },
               {"Convolution", "stride"});
  expect_error([&] { nd::Convolution(x, w, b, {.kernel = {3, 3}, .stride = {0, 1}, .num_filter = 4}); },
               {"Convolution", "stride"});
  expect_error([&] { nd::Convolution(x, w, b, {.kernel = {3, 3}, .pad = {-1, 0}, .num_filter = 4}); },
               {"Convolution", "pad"});
  expect_error([&] { nd::Convolution(x, w, b, {.kernel = {3, 3}, .dilate = {0, 0}, .num_filter = 4}); },
               {"Convolution", "dilate"});
  expect_error([&] { nd::Convolution(x, w, b, {.kernel = {3, 3}, .num_filter = 0}); }, {"Convolution", "num_filter"});
  expect_error([&] { nd::Convolution(x, w, b, {.kernel = {3, 3}, .num_filter = 4, .num_group = 3}); },
               {"Convolution", "num_filter", "num_group"});
  expect_error([&] { nd::Convolution(x, w, b, {.kernel = {3, 3}, .num_filter = 4, .layout = "NHWC"}); },
               {"Convolution", "layout", "NHWC"});
  expect_error(
      [&] { nd::Convolution(x, random_array(Shape{4, 3, 3, 3}, ctx), b, {.kernel = {3, 3}, .num_filter = 4}); },
      {"Convolution", "weight", "(4, 3, 3, 3)"});
  expect_error([&] { nd::Convolution(x, w, random_array(Shape{5}, ctx), {.kernel = {3, 3}, .num_filter = 4}); },
               {"Convolution", "bias"});
  expect_error([&] { nd::Convolution(random_array(Shape{2, 4, 6}, ctx), w, b, {.kernel = {3, 3}, .num_filter = 4}); },
               {"Convolution", "data", "dimensions"});
  // A 0-d array (read as "unknown" by shape inference) and a weight of another dtype used to run: NaN, garbage.
  expect_error([&] { nd::Convolution(nd::zeros(Shape{}, ctx), w, b, {.kernel = {3, 3}, .num_filter = 4}); },
               {"Convolution", "data", "dimensions"});
  expect_error([&] { nd::Convolution(x, w.astype(DType::float64), b, {.kernel = {3, 3}, .num_filter = 4}); },
               {"Convolution", "weight", "float32", "float64"});
  expect_error([&] { nd::Pooling(nd::zeros(Shape{}, ctx), {.kernel = {2, 2}}); }, {"Pooling", "data", "dimensions"});
  expect_error(
      [&] { nd::Convolution(x, random_array(Shape{4, 4, 7, 7}, ctx), b, {.kernel = {7, 7}, .num_filter = 4}); },
      {"Convolution", "data", "kernel"});
  expect_error([&] { nd::Convolution(random_array(Shape{2, 3, 6, 6}, ctx), random_array(Shape{4, 1, 3, 3}, ctx), b,
                                    {.kernel = {3, 3}, .num_filter = 4, .num_group = 2}); },
               {"Convolution", "data", "num_group"});
}

namespace {

struct DeconvCase {
  const char* label;
  int64_t N, C, F, G;
  std::vector<int64_t> in, k, s, p, d, adj;
  bool bias;
};

std::vector<DeconvCase> deconv_cases() {
  return {
      {"2-D 3x3", 2, 3, 2, 1, {4, 5}, {3, 3}, {}, {}, {}, {}, false},
      {"2-D stride 2, pad 1, adj 1, bias", 2, 2, 3, 1, {4, 3}, {3, 3}, {2, 2}, {1, 1}, {}, {1, 0}, true},
      {"2-D groups, dilate", 1, 4, 6, 2, {3, 4}, {2, 3}, {2, 1}, {0, 1}, {2, 1}, {}, true},
      {"1-D stride 3", 2, 3, 2, 1, {5}, {4}, {3}, {1}, {}, {2}, false},
  };
}

Geo deconv_geo(const DeconvCase& c) {
  Geo g;
  put(g.in, c.in), put(g.k, c.k);
  if (!c.s.empty()) put(g.s, c.s);
  if (!c.p.empty()) put(g.p, c.p);
  if (!c.d.empty()) put(g.d, c.d);
  int64_t adj[3] = {0, 0, 0};
  if (!c.adj.empty()) put(adj, c.adj);
  for (int j = 0; j < 3; ++j) g.out[j] = (g.in[j] - 1) * g.s[j] - 2 * g.p[j] + g.d[j] * (g.k[j] - 1) + 1 + adj[j];
  return g;
}

op::Deconvolution::Param deconv_param(const DeconvCase& c) {
  return {.kernel = c.k, .stride = c.s, .dilate = c.d, .pad = c.p, .adj = c.adj, .num_filter = int(c.F),
          .num_group = int(c.G), .no_bias = !c.bias};
}

}  // namespace

MIXT_DEVICE_TEST("conv: Deconvolution forward matches a direct scatter loop") {
  auto ctx = Device::ctx();
  CHECK(op::Deconvolution::Param{}.no_bias);  // MXNet's default
  uint64_t seed = 300;
  for (const DeconvCase& c : deconv_cases()) {
    CAPTURE(c.label);
    Geo g = deconv_geo(c);
    NDArray x = random_array(with_batch(c.N, c.C, c.in), ctx, -1, 1, ++seed),
            w = random_array(with_batch(c.C, c.F / c.G, c.k), ctx, -1, 1, ++seed),
            b = random_array(Shape{c.F}, ctx, -1, 1, ++seed);
    auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
    op::Deconvolution::Param p = deconv_param(c);
    NDArray y = c.bias ? nd::Deconvolution(x, w, b, p) : nd::Deconvolution(x, w, p);
    std::vector<int64_t> os(g.out + 3 - c.in.size(), g.out + 3);
    CHECK(y.shape() == with_batch(c.N, c.F, os));
    check_close(y, deconv_ref(xv, wv, c.bias ? &bv : nullptr, c.N, c.C, c.F, c.G, g), 1e-5, 1e-5);
  }
  // Deconvolution is the data gradient of Convolution: <conv(x), y> == <x, deconv(y)> with the same weight.
  NDArray x = random_array(Shape{2, 3, 7, 6}, ctx, -1, 1, 1), w = random_array(Shape{4, 3, 3, 2}, ctx, -1, 1, 2);
  NDArray cx = nd::Convolution(x, w, {.kernel = {3, 2}, .stride = {2, 2}, .pad = {1, 0}, .num_filter = 4});
  NDArray yv = random_array(cx.shape(), ctx, -1, 1, 3);
  NDArray dy = nd::Deconvolution(yv, w, {.kernel = {3, 2}, .stride = {2, 2}, .pad = {1, 0}, .adj = {0, 0}, .num_filter = 3});
  REQUIRE(dy.shape() == x.shape());
  auto a = cx.to_vector<double>(), bb = yv.to_vector<double>(), xx = x.to_vector<double>(), dd = dy.to_vector<double>();
  double l = 0, r = 0;
  for (size_t i = 0; i < a.size(); ++i) l += a[i] * bb[i];
  for (size_t i = 0; i < xx.size(); ++i) r += xx[i] * dd[i];
  CHECK(l == doctest::Approx(r).epsilon(1e-4));
}

MIXT_DEVICE_TEST("conv: Deconvolution target_shape, backward and shape inference") {
  auto ctx = Device::ctx();
  // target_shape picks pad and adj: (x-1)*s + k = 3*2 + 3 = 9 -> 8 needs pad 1 minus adj 1, -> 7 pad 1
  for (int64_t t : {9, 8, 7}) {
    CAPTURE(t);
    std::vector<Shape> in = {Shape{1, 2, 4, 4}, Shape{}}, out(1), aux;
    op::Deconvolution::infer_shape({.kernel = {3, 3}, .stride = {2, 2}, .target_shape = {t, t}, .num_filter = 3}, in,
                                   out, aux);
    CHECK(out[0] == Shape{1, 3, t, t});
    CHECK(in[1] == Shape{2, 3, 3, 3});
  }
  {
    NDArray x = random_array(Shape{1, 2, 4, 4}, ctx, -1, 1, 1), w = random_array(Shape{2, 3, 3, 3}, ctx, -1, 1, 2);
    NDArray y = nd::Deconvolution(x, w, {.kernel = {3, 3}, .stride = {2, 2}, .target_shape = {8, 8}, .num_filter = 3});
    NDArray y2 = nd::Deconvolution(x, w, {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}, .adj = {1, 1}, .num_filter = 3});
    CHECK(y.shape() == Shape{1, 3, 8, 8});
    check_close(y, y2.to_vector<double>(), 1e-6, 1e-6);
  }
  uint64_t seed = 400;
  for (const DeconvCase& c : deconv_cases()) {
    CAPTURE(c.label);
    NDArray x = random_array(with_batch(c.N, c.C, c.in), ctx, -1, 1, ++seed),
            w = random_array(with_batch(c.C, c.F / c.G, c.k), ctx, -1, 1, ++seed),
            b = random_array(Shape{c.F}, ctx, -1, 1, ++seed);
    op::Deconvolution::Param p = deconv_param(c);
    if (c.bias) check_grad<op::Deconvolution>(p, {x, w, b});
    else check_grad<op::Deconvolution>(p, {x, w});
  }
  std::vector<Shape> aux;
  {  // data channels from the weight's first axis
    std::vector<Shape> in = {Shape{2, 0, 5}, Shape{6, 2, 3}, Shape{}}, out(1);
    op::Deconvolution::infer_shape({.kernel = {3}, .stride = {2}, .num_filter = 4, .num_group = 2, .no_bias = false},
                                   in, out, aux);
    CHECK(in[0] == Shape{2, 6, 5});
    CHECK(out[0] == Shape{2, 4, 11});
    CHECK(in[2] == Shape{4});
  }
  {
    std::vector<Shape> in = {Shape{}, Shape{0, 0, 0, 0}}, out(1);
    op::Deconvolution::infer_shape({.kernel = {2, 2}, .num_filter = 4, .num_group = 2}, in, out, aux);
    CHECK(in[1] == Shape{0, 2, 2, 2});
  }
  NDArray x = random_array(Shape{1, 2, 4, 4}, ctx), w = random_array(Shape{2, 3, 3, 3}, ctx);
  expect_error([&] { nd::Deconvolution(x, w, {.kernel = {3, 3}, .stride = {2, 2}, .adj = {2, 0}, .num_filter = 3}); },
               {"Deconvolution", "adj"});
  expect_error([&] { nd::Deconvolution(x, w, {.kernel = {3, 3}, .target_shape = {20, 20}, .num_filter = 3}); },
               {"Deconvolution", "target_shape"});
  expect_error([&] { nd::Deconvolution(x, random_array(Shape{2, 2, 3, 3}, ctx), {.kernel = {3, 3}, .num_filter = 3}); },
               {"Deconvolution", "weight"});
  expect_error([&] { nd::Deconvolution(x, w, {.kernel = {3, 3}, .pad = {3, 3}, .num_filter = 3}); },
               {"Deconvolution", "data", "padding"});
  auto p = op::parse_attrs<op::Deconvolution::Param>("Deconvolution",
                                                     {{"kernel", "(4, 4)"}, {"adj", "(1, 1)"}, {"num_filter", "2"}});
  CHECK(p.adj == op::IntTuple{1, 1});
  CHECK(op::to_attrs(p)["no_bias"] == "True");
}

namespace {

/// Direct pooling over (N*C, spatial...) planes in double, MXNet's window and divisor rules.
std::vector<double> pool_ref(const std::vector<double>& x, int64_t planes, const Geo& g, const std::string& type,
                             bool include_pad, int pv = 2) {
  const int64_t S = prod3(g.in), O = prod3(g.out);
  std::vector<double> y(size_t(planes * O));
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t o0 = 0; o0 < g.out[0]; ++o0)
      for (int64_t o1 = 0; o1 < g.out[1]; ++o1)
        for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
          const int64_t o[3] = {o0, o1, o2};
          int64_t lo[3], hi[3], padded = 1, inside = 1;
          for (int j = 0; j < 3; ++j) {
            int64_t b = o[j] * g.s[j] - g.p[j], e = std::min(b + g.k[j], g.in[j] + g.p[j]);
            padded *= e - b;
            lo[j] = std::max<int64_t>(b, 0), hi[j] = std::min(e, g.in[j]);
            inside *= hi[j] - lo[j];
          }
          double acc = type == "max" ? -INFINITY : 0.0;
          for (int64_t a = lo[0]; a < hi[0]; ++a)
            for (int64_t b = lo[1]; b < hi[1]; ++b)
              for (int64_t d = lo[2]; d < hi[2]; ++d) {
                const double v = x[size_t(c * S + (a * g.in[1] + b) * g.in[2] + d)];
                if (type == "max") acc = std::max(acc, v);
                else if (type == "lp") acc += std::pow(v, pv);
                else acc += v;
              }
          if (type == "avg") acc /= double(include_pad ? padded : inside);
          if (type == "lp") acc = std::pow(acc, 1.0 / pv);
          y[size_t(c * O + (o0 * g.out[1] + o1) * g.out[2] + o2)] = acc;
        }
  return y;
}

/// Distinct values spaced 0.1 apart (a shuffled ramp), so that max pooling's argmax is stable under the finite
/// differences.
NDArray distinct_array(const Shape& s, Context ctx, uint64_t seed) {
  const size_t n = size_t(s.size());
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (double(i) - double(n) / 2) * 0.1;
  std::mt19937_64 gen(seed);
  std::shuffle(v.begin(), v.end(), gen);
  return nd::array(mixt::testing::as_stored(v), s, ctx);
}

}  // namespace

MIXT_DEVICE_TEST("conv: Pooling forward and backward for every type and convention") {
  auto ctx = Device::ctx();
  struct Case {
    const char* label;
    std::vector<int64_t> in, k, s, p;
    std::string convention;
    std::optional<bool> include_pad;
  };
  std::vector<Case> cases = {
      {"2-D 2x2 stride 2", {6, 6}, {2, 2}, {2, 2}, {}, "valid", {}},
      {"2-D 3x3 stride 1 pad 1", {5, 4}, {3, 3}, {}, {1, 1}, "valid", {}},
      {"2-D 3x3 stride 2 pad 1 full", {7, 6}, {3, 3}, {2, 2}, {1, 1}, "full", {}},
      {"2-D full, no count_include_pad", {7, 5}, {3, 2}, {2, 2}, {1, 0}, "full", false},
      {"2-D pad, no count_include_pad", {5, 5}, {3, 3}, {2, 1}, {1, 1}, "valid", false},
      {"1-D", {9}, {3}, {2}, {1}, "valid", {}},
      {"1-D full", {8}, {3}, {2}, {0}, "full", {}},
      {"1-D same: the last window clipped", {10}, {3}, {3}, {}, "same", {}},
      {"1-D same, stride 1", {7}, {4}, {}, {}, "same", false},
      {"3-D", {3, 4, 5}, {2, 2, 3}, {1, 2, 2}, {0, 1, 1}, "valid", {}},
  };
  uint64_t seed = 500;
  for (const Case& c : cases)
    for (const char* type : {"max", "avg", "sum", "lp"}) {
      CAPTURE(c.label);
      CAPTURE(type);
      Geo g;
      put(g.in, c.in), put(g.k, c.k);
      if (!c.s.empty()) put(g.s, c.s);
      if (!c.p.empty()) put(g.p, c.p);
      for (int j = 0; j < 3; ++j) {
        const int64_t span = g.in[j] + 2 * g.p[j] - g.k[j];
        g.out[j] = (c.convention == "full" ? (span + g.s[j] - 1) / g.s[j] : span / g.s[j]) + 1;
        // MXNet's same: ceil(width / stride) windows from o * stride (the unused leading axes have width 1)
        if (c.convention == "same") g.out[j] = int64_t(std::ceil(double(g.in[j]) / double(g.s[j])));
      }
      const bool lp = std::string(type) == "lp";
      NDArray x = lp ? random_array(with_batch(2, 3, c.in), ctx, 0.2, 1.5, ++seed)
                     : distinct_array(with_batch(2, 3, c.in), ctx, ++seed);
      op::Pooling::Param p{.kernel = c.k, .pool_type = type, .pooling_convention = c.convention, .stride = c.s,
                           .pad = c.p, .count_include_pad = c.include_pad};
      if (lp) p.p_value = 2;
      NDArray y = nd::Pooling(x, p);
      std::vector<int64_t> os(g.out + 3 - c.in.size(), g.out + 3);
      CHECK(y.shape() == with_batch(2, 3, os));
      check_close(y, pool_ref(x.to_vector<double>(), 6, g, type, c.include_pad.value_or(true)), 1e-5, 1e-5);
      check_grad<op::Pooling>(p, {x}, lp ? test::GradCheckOptions{.eps = 1e-2, .rtol = 1e-2, .atol = 1e-3} : linear_opts());
    }
  // lp with p = 1 and 3
  NDArray x = random_array(Shape{1, 2, 5, 5}, ctx, 0.2, 1.5, 7);
  for (int pv : {1, 3}) {
    op::Pooling::Param p{.kernel = {2, 2}, .pool_type = "lp", .stride = {2, 2}, .p_value = pv};
    Geo g;
    put(g.in, {5, 5}), put(g.k, {2, 2}), put(g.s, {2, 2}), put(g.out, {2, 2});
    check_close(nd::Pooling(x, p), pool_ref(x.to_vector<double>(), 2, g, "lp", true, pv), 1e-5, 1e-5);
    check_grad<op::Pooling>(p, {x}, {.eps = 1e-2, .rtol = 1e-2, .atol = 1e-3});
  }
}

MIXT_DEVICE_TEST("conv: Pooling max takes the first maximum, global pooling") {
  auto ctx = Device::ctx();
  // Ties: the gradient goes to the first maximum of each window only (the own kernels' rule; which tie cuDNN
  // picks is its own choice, so this part runs with cudnn_off).
  NDArray x = nd::array<double>({1, 3, 3, 0, 2, 3, 1, 3}, Shape{1, 1, 2, 4}, ctx);
  op::Pooling::Param p{.kernel = {2, 2}, .cudnn_off = true, .stride = {2, 2}};
  NDArray y = nd::Pooling(x, p);
  check_close(y, {3, 3});
  std::vector<NDArray> gx = {nd::zeros(x.shape(), ctx)};
  NDArray head = nd::array(std::vector<double>{10, 20}, Shape{1, 1, 1, 2}, ctx);
  op::Pooling::backward(p, {}, std::vector<NDArray>{head}, {x}, {y}, {op::Req::write}, gx, {});
  check_close(gx[0], {0, 10, 20, 0, 0, 0, 0, 0});
  // Padding never wins a max, even over negative values.
  NDArray neg = nd::array<double>({-5, -4, -3, -2}, Shape{1, 1, 4}, ctx);
  check_close(nd::Pooling(neg, {.kernel = {3}, .pad = {1}}), {-4, -3, -2, -2});

  // Global pooling: the kernel covers the input whatever kernel, stride and pad say.
  NDArray z = random_array(Shape{2, 3, 4, 5}, ctx, -1, 1, 9);
  auto zv = z.to_vector<double>();
  std::vector<double> mx(6), avg(6);
  for (size_t c = 0; c < 6; ++c) {
    mx[c] = *std::max_element(zv.begin() + long(c * 20), zv.begin() + long(c * 20 + 20));
    double s = 0;
    for (size_t i = 0; i < 20; ++i) s += zv[c * 20 + i];
    avg[c] = s / 20;
  }
  NDArray gm = nd::Pooling(z, {.global_pool = true});
  CHECK(gm.shape() == Shape{2, 3, 1, 1});
  check_close(gm, mx);
  NDArray ga = nd::Pooling(z, {.kernel = {2, 2}, .pool_type = "avg", .global_pool = true, .stride = {2, 2}, .pad = {1, 1}});
  CHECK(ga.shape() == Shape{2, 3, 1, 1});
  check_close(ga, avg, 1e-5, 1e-6);
  check_grad<op::Pooling>({.pool_type = "avg", .global_pool = true}, {z});
  NDArray z1 = distinct_array(Shape{2, 2, 7}, ctx, 3);
  CHECK(nd::Pooling(z1, {.pool_type = "sum", .global_pool = true}).shape() == Shape{2, 2, 1});
  check_grad<op::Pooling>({.global_pool = true}, {z1});
}

MIXT_DEVICE_TEST("conv: Pooling shape inference, attributes and errors") {
  auto ctx = Device::ctx();
  std::vector<Shape> aux;
  {
    std::vector<Shape> in = {Shape{4, 3, 0, 12}}, out(1);  // full: ceil((12 - 3) / 2) + 1 = 6
    op::Pooling::infer_shape({.kernel = {3, 3}, .pooling_convention = "full", .stride = {2, 2}}, in, out, aux);
    CHECK(out[0] == Shape{4, 3, 0, 6});
    std::vector<Shape> in2 = {Shape{4, 3, 11, 11}}, out2(1);
    op::Pooling::infer_shape({.kernel = {3, 3}, .stride = {2, 2}}, in2, out2, aux);
    CHECK(out2[0] == Shape{4, 3, 5, 5});
    std::vector<Shape> in3 = {Shape{}}, out3(1);
    op::Pooling::infer_shape({.kernel = {3, 3}}, in3, out3, aux);
    CHECK(out3[0].ndim() == 0);
    std::vector<Shape> in4 = {Shape{2, 3, 5, 6, 7}}, out4(1);
    op::Pooling::infer_shape({.global_pool = true}, in4, out4, aux);
    CHECK(out4[0] == Shape{2, 3, 1, 1, 1});
  }
  auto p = op::parse_attrs<op::Pooling::Param>(
      "Pooling", {{"kernel", "(2, 2)"}, {"pool_type", "avg"}, {"stride", "(2, 2)"}, {"count_include_pad", "False"},
                  {"pooling_convention", "full"}});
  CHECK(p.pool_type == "avg");
  CHECK(p.count_include_pad == std::optional<bool>(false));
  CHECK(op::to_attrs(p)["p_value"] == "None");
  CHECK(op::to_attrs(p)["count_include_pad"] == "False");
  // MXNet 2's symbol files write output_size (adaptive pooling) as None into every Pooling node.
  CHECK_FALSE(op::parse_attrs<op::Pooling::Param>("Pooling", {{"kernel", "(2, 2)"}, {"output_size", "None"}})
                  .output_size.has_value());

  NDArray x = random_array(Shape{1, 2, 5, 5}, ctx);
  expect_error([&] { nd::Pooling(x, {.kernel = {2, 2}, .pool_type = "median"}); }, {"Pooling", "pool_type", "median"});
  expect_error([&] { nd::Pooling(x, {.kernel = {2, 2}, .pooling_convention = "round"}); },
               {"Pooling", "pooling_convention"});
  expect_error([&] { nd::Pooling(x, {.kernel = {2, 2}, .pool_type = "lp"}); }, {"Pooling", "p_value"});
  expect_error([&] { nd::Pooling(x, {}); }, {"Pooling", "kernel"});
  expect_error([&] { nd::Pooling(x, {.kernel = {2}}); }, {"Pooling", "data", "dimensions"});
  expect_error([&] { nd::Pooling(x, {.kernel = {2, 2}, .stride = {1, 2, 3}}); }, {"Pooling", "stride"});
  expect_error([&] { nd::Pooling(x, {.kernel = {2, 2}, .pad = {-1, 0}}); }, {"Pooling", "pad"});
  expect_error([&] { nd::Pooling(x, {.kernel = {6, 6}}); }, {"Pooling", "data", "kernel"});
  expect_error([&] { nd::Pooling(x, {.kernel = {2, 2}, .layout = "NHWC"}); }, {"Pooling", "layout"});
  expect_error([&] { nd::Pooling(x, {.kernel = {2, 2}, .pooling_convention = "same"}); },
               {"Pooling", "pooling_convention", "1-D", "(2, 2)"});
  NDArray x1 = random_array(Shape{1, 2, 5}, ctx);
  expect_error([&] { nd::Pooling(x1, {.kernel = {2}, .pooling_convention = "same", .pad = {1}}); },
               {"Pooling", "pad", "(1,)"});
  expect_error([&] { nd::Pooling(x1, {.kernel = {2}, .output_size = "(3,)"}); }, {"Pooling", "output_size", "(3,)"});
}

TEST_CASE("conv: the CPU's im2col/col2im loops match the GPU's element kernels") {
  // Both kernel shapes run here on the host: the element kernels are what a GPU launches.
  struct G3 { std::vector<int64_t> in, k, s, p, d; };
  for (const G3& c : {G3{{5, 6, 7}, {2, 3, 2}, {1, 2, 3}, {1, 0, 2}, {2, 1, 1}}, G3{{1, 7, 9}, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, {1, 1, 2}},
                      G3{{1, 1, 11}, {1, 1, 4}, {1, 1, 3}, {0, 0, 2}, {1, 1, 2}},
                      G3{{1, 3, 2}, {1, 2, 3}, {1, 1, 1}, {0, 2, 2}, {1, 1, 2}}}) {  // whole rows in the padding
    op::conv_detail::ConvGeom g;
    g.N = 2, g.Ci = 3, g.Co = 2;
    for (int j = 0; j < 3; ++j) {
      g.in[j] = c.in[size_t(j)], g.k[j] = c.k[size_t(j)], g.s[j] = c.s[size_t(j)], g.p[j] = c.p[size_t(j)], g.d[j] = c.d[size_t(j)];
      g.out[j] = (g.in[j] + 2 * g.p[j] - g.d[j] * (g.k[j] - 1) - 1) / g.s[j] + 1;
    }
    const int64_t S = g.in_size(), O = g.out_size(), K = g.ksize();
    std::vector<double> img = random_values(size_t(g.N * g.Ci * S), -1, 1, 5), col_e(size_t(g.N * g.Ci * K * O), 7.0),
                        col_r(col_e.size(), -7.0);
    for (int64_t i = 0; i < g.N * g.Ci * O; ++i) op::conv_detail::Im2ColKernel<double>{img.data(), col_e.data(), g}(i);
    for (int64_t n = 0; n < g.N; ++n) op::conv_detail::im2col_cpu(g, img.data() + n * g.Ci * S, col_r.data() + n * g.Ci * K * O);
    CHECK(col_e == col_r);
    std::vector<double> col = random_values(col_e.size(), -1, 1, 6);
    for (bool acc : {false, true}) {
      std::vector<double> im_e(img.size(), 0.5), im_r(img.size(), 0.5);
      for (int64_t i = 0; i < g.N * g.Ci * S; ++i) op::conv_detail::Col2ImKernel<double>{col.data(), im_e.data(), g, acc}(i);
      for (int64_t i = 0; i < g.N * g.Ci * g.in[0] * g.in[1]; ++i)
        op::conv_detail::Col2ImRowKernel<double>{col.data(), im_r.data(), g, acc}(i);
      check_close(im_r, im_e, 1e-12, 1e-12);
    }
  }
}

// A tuple attribute longer than the kernel is an error, not cut to the kernel's length.
TEST_CASE("conv: a stride with more values than the kernel is an error") {
  NDArray x = nd::ones(Shape{1, 1, 5, 5}), w = nd::ones(Shape{1, 1, 3, 3});
  expect_error([&] { nd::Convolution(x, w, {.kernel = {3, 3}, .stride = {1, 1, 1}, .num_filter = 1}); },
               {"Convolution", "stride", "expected 2 values"});
}

TEST_CASE("conv: lp pooling keeps signs (MXNet's a^p, no absolute value); its gradient at an all-zero window is 0") {
  NDArray x = nd::array<double>({-1, 2, -3, 4}, Shape{1, 1, 4}, cpu());
  check_close(nd::Pooling(x, {.kernel = {2}, .pool_type = "lp", .stride = {2}, .p_value = 1}), {1, 1});
  check_close(nd::Pooling(x, {.kernel = {2}, .pool_type = "lp", .stride = {2}, .p_value = 3}),
              {std::cbrt(7.0), std::cbrt(37.0)});
  op::Pooling::Param p{.kernel = {2}, .pool_type = "lp", .stride = {2}, .p_value = 2};
  NDArray z = nd::array<double>({0, 0, 1, 0}, Shape{1, 1, 4}, cpu());
  NDArray y = nd::Pooling(z, p);
  check_close(y, {0, 1});
  std::vector<NDArray> gx = {nd::zeros(z.shape(), cpu())};
  NDArray head = nd::array<double>({10, 20}, Shape{1, 1, 2}, cpu());
  op::Pooling::backward(p, {}, std::vector<NDArray>{head}, {z}, {y}, {op::Req::write}, gx, {});
  check_close(gx[0], {0, 0, 20, 0});  // not NaN at the all-zero window
  expect_error([&] { nd::Pooling(x, {.kernel = {2}, .pool_type = "lp", .p_value = 4}); }, {"Pooling", "p_value"});
}

TEST_CASE("conv: avg pooling without count_include_pad gives 0 for a window entirely in the padding") {
  NDArray x = nd::array<double>({1, 2, 3}, Shape{1, 1, 3}, cpu());
  NDArray y =
      nd::Pooling(x, {.kernel = {2}, .pool_type = "avg", .stride = {2}, .pad = {2}, .count_include_pad = false});
  REQUIRE(y.shape() == (Shape{1, 1, 3}));
  check_close(y, {0, 1.5, 3});
}

TEST_CASE("conv: max pooling ignores NaN and starts from the lowest finite value, as MXNet's kernels do") {
  // MXNet's pool.h starts each window at -FLT_MAX and compares with >, and its cuDNN path does not propagate NaN:
  // a NaN never wins, and a window of -inf gives -FLT_MAX. (nd::max, a reduction, propagates NaN.)
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  NDArray x = nd::array<double>({nan, 1, -inf, -inf}, Shape{1, 1, 4}, cpu());
  check_close(nd::Pooling(x, {.kernel = {2}, .stride = {2}}), {1, -double(std::numeric_limits<float>::max())}, 0, 0);
}

TEST_CASE("conv: a kernel exactly as wide as the padded input gives one output") {
  NDArray x = nd::array<double>({1, 2, 3}, Shape{1, 1, 3}, cpu());
  NDArray w = nd::array<double>({1, 10, 100}, Shape{1, 1, 3}, cpu());
  NDArray y = nd::Convolution(x, w, {.kernel = {3}, .num_filter = 1});
  REQUIRE(y.shape() == (Shape{1, 1, 1}));
  check_close(y, {321});
  NDArray y2 = nd::Convolution(x, w, {.kernel = {3}, .dilate = {2}, .pad = {1}, .num_filter = 1});  // span 5 = 3 + 2
  REQUIRE(y2.shape() == (Shape{1, 1, 1}));
  check_close(y2, {2 * 10});
}

TEST_CASE("conv: Deconvolution and Convolution forward with req add add to the output; adj below 0 is an error") {
  NDArray x = nd::array<double>({1, 2}, Shape{1, 1, 2}, cpu()), w = nd::array<double>({1, 10}, Shape{1, 1, 2}, cpu());
  op::Deconvolution::Param p{.kernel = {2}, .num_filter = 1};
  NDArray y = nd::full(Shape{1, 1, 3}, 1.0, cpu());
  op::Deconvolution::forward(p, {}, {x, w}, {op::Req::add}, {y}, {});
  check_close(y, {1 + 1, 1 + 10 + 2, 1 + 20});
  op::Convolution::Param pc{.kernel = {2}, .num_filter = 1, .no_bias = true};
  NDArray yc = nd::full(Shape{1, 1, 1}, 1.0, cpu());
  op::Convolution::forward(pc, {}, {x, w}, {op::Req::add}, {yc}, {});
  check_close(yc, {1 + 1 + 20});
  NDArray ones = nd::ones(Shape{1, 1, 3}, cpu()), w2 = nd::ones(Shape{1, 1, 2}, cpu());
  expect_error([&] { nd::Deconvolution(ones, w2, {.kernel = {2}, .stride = {2}, .adj = {-1}, .num_filter = 1}); },
               {"Deconvolution", "adj"});
}
