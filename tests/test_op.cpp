// Operators: forward against double-precision loops, backward against central differences
// (mixt::test::check_numeric_gradient), shape inference, attribute parsing and errors.
#include "testing.hpp"

#include <functional>
#include <set>
#include <mixt/op/op.hpp>
#include <mixt/test/gradient_check.hpp>

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::expect_error;
using mixt::testing::random_values;

namespace {

std::vector<double> stored(std::vector<double> v) { return mixt::testing::as_stored(std::move(v)); }

NDArray random_array(const Shape& s, Context ctx, double lo = -1, double hi = 1, uint64_t seed = 3) {
  return nd::array(stored(random_values(size_t(s.size()), lo, hi, seed)), s, ctx);
}

template <class Op>
void check_grad(const typename Op::Param& p, const std::vector<NDArray>& in, std::vector<bool> which = {},
                test::GradCheckOptions o = {}) {
  test::GradCheckResult r = test::check_numeric_gradient<Op>(p, in, which, o);
  CHECK_MESSAGE(r.ok, r.report);
}

/// Softmax of each row of an (rows, k) matrix, in double.
std::vector<double> softmax_rows(const std::vector<double>& x, size_t rows, size_t k) {
  std::vector<double> y(x.size());
  for (size_t r = 0; r < rows; ++r) {
    double m = -INFINITY, s = 0;
    for (size_t j = 0; j < k; ++j) m = std::max(m, x[r * k + j]);
    for (size_t j = 0; j < k; ++j) s += std::exp(x[r * k + j] - m);
    for (size_t j = 0; j < k; ++j) y[r * k + j] = std::exp(x[r * k + j] - m) / s;
  }
  return y;
}

}  // namespace

MIXT_DEVICE_TEST("op: Activation forward and backward for every act_type") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(60, -3, 3, 1));
  for (auto& v : xv) if (std::abs(v) < 0.05) v = 0.3;  // keep relu's kink away from the finite differences
  NDArray x = nd::array(xv, Shape{3, 4, 5}, ctx);
  struct Case { const char* type; double (*f)(double); };
  for (Case c : {Case{"relu", [](double v) { return v > 0 ? v : 0; }},
                 Case{"sigmoid", [](double v) { return 1 / (1 + std::exp(-v)); }},
                 Case{"tanh", [](double v) { return std::tanh(v); }},
                 Case{"softrelu", [](double v) { return std::log1p(std::exp(v)); }},
                 Case{"softsign", [](double v) { return v / (1 + std::abs(v)); }}}) {
    CAPTURE(c.type);
    op::Activation::Param p{.act_type = c.type};
    std::vector<double> want(xv.size());
    for (size_t i = 0; i < xv.size(); ++i) want[i] = c.f(xv[i]);
    check_close(nd::Activation(x, p), want, 1e-5, 1e-6);
    check_grad<op::Activation>(p, {x});
  }
  CHECK_THROWS_AS(nd::Activation(x, {.act_type = "swish"}), Error);
  // relu's gradient at the kink is 0 (MXNet's relu_grad is x > 0).
  NDArray kink = nd::array(std::vector<double>{-1, 0, 2}, ctx);
  kink.attach_grad();
  NDArray loss;
  {
    autograd::record rec;
    loss = nd::sum(nd::Activation(kink, {.act_type = "relu"}));
  }
  loss.backward();
  CHECK(kink.grad().to_vector<double>() == std::vector<double>{0, 0, 1});
}

MIXT_DEVICE_TEST("op: LeakyReLU leaky, elu, selu, gelu and prelu") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(24, -2, 2, 2));
  for (auto& v : xv) if (std::abs(v) < 0.05) v = -0.4;
  NDArray x = nd::array(xv, Shape{2, 3, 4}, ctx);
  const double a = 1.6732632423543772, l = 1.0507009873554805;
  struct Case { const char* type; std::function<double(double)> f; };
  for (const Case& c : {Case{"leaky", [](double v) { return v > 0 ? v : 0.25 * v; }},
                        Case{"elu", [](double v) { return v > 0 ? v : 0.25 * (std::exp(v) - 1); }},
                        Case{"selu", [&](double v) { return l * (v > 0 ? v : a * (std::exp(v) - 1)); }},
                        Case{"gelu", [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }}}) {
    CAPTURE(c.type);
    op::LeakyReLU::Param p{.act_type = c.type};
    std::vector<double> want(xv.size());
    for (size_t i = 0; i < xv.size(); ++i) want[i] = c.f(xv[i]);
    check_close(nd::LeakyReLU(x, p), want, 1e-5, 1e-6);
    check_grad<op::LeakyReLU>(p, {x});
  }
  NDArray gamma = nd::array<double>({0.1, 0.2, 0.3}, ctx);
  op::LeakyReLU::Param pp{.act_type = "prelu"};
  std::vector<double> want(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) want[i] = xv[i] > 0 ? xv[i] : xv[i] * (0.1 * double((i / 4) % 3 + 1));
  check_close(nd::LeakyReLU(x, gamma, pp), want, 1e-5, 1e-6);
  check_grad<op::LeakyReLU>(pp, {x, gamma});
  // rrelu: outside training the slope is the bounds' mean; in training each negative element gets its own slope
  // from [lower_bound, upper_bound], kept as the hidden output that the backward multiplies by.
  op::LeakyReLU::Param pr{.act_type = "rrelu", .lower_bound = 0.1f, .upper_bound = 0.3f};
  for (size_t i = 0; i < xv.size(); ++i) want[i] = xv[i] > 0 ? xv[i] : xv[i] * 0.2;
  check_close(nd::LeakyReLU(x, pr), want, 1e-5, 1e-6);  // (no finite differences: they run in training mode)
  std::vector<NDArray> trained = op::invoke<op::LeakyReLU>(pr, {x}, {}, /*is_train=*/true);
  REQUIRE(trained.size() == 2);
  const auto y = trained[0].to_vector<double>(), slopes = trained[1].to_vector<double>();
  auto gv = stored(random_values(24, -1, 1, 3));
  NDArray g = nd::array(gv, x.shape(), ctx), gx = nd::zeros(x.shape(), ctx);
  op::LeakyReLU::backward(pr, {true}, {g}, {x}, trained, {op::Req::write}, {gx}, {});
  const auto gxv = gx.to_vector<double>();
  std::set<double> distinct;
  for (size_t i = 0; i < xv.size(); ++i) {
    CHECK(slopes[i] >= 0.1 - 1e-7);
    CHECK(slopes[i] < 0.3 + 1e-7);
    CHECK(y[i] == doctest::Approx(xv[i] > 0 ? xv[i] : xv[i] * slopes[i]).epsilon(1e-6));
    CHECK(gxv[i] == doctest::Approx(gv[i] * (xv[i] > 0 ? 1 : slopes[i])).epsilon(1e-6));
    if (xv[i] <= 0) distinct.insert(slopes[i]);
  }
  CHECK(distinct.size() > 3);  // drawn per element, not one slope
  expect_error([&] { nd::LeakyReLU(x, {.act_type = "rrelu", .lower_bound = 0.5f, .upper_bound = 0.2f}); },
               {"LeakyReLU", "upper_bound"});
}

MIXT_DEVICE_TEST("op: softmax and log_softmax along each axis, with temperature") {
  auto ctx = Device::ctx();
  const Shape s{3, 4, 5};
  auto xv = stored(random_values(60, -3, 3, 4));
  NDArray x = nd::array(xv, s, ctx);
  for (int axis : {0, 1, 2, -1}) {
    for (double t : {1.0, 2.5, -0.5}) {
      CAPTURE(axis);
      CAPTURE(t);
      int ax = axis < 0 ? axis + 3 : axis;
      std::vector<double> want(60), want_log(60);
      // Loop over every line along `ax`.
      for (int64_t i = 0; i < 60; ++i) {
        int64_t idx[3] = {i / 20, (i / 5) % 4, i % 5};
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < s[ax]; ++j) {
          int64_t k[3] = {idx[0], idx[1], idx[2]};
          k[ax] = j;
          m = std::max(m, xv[size_t(k[0] * 20 + k[1] * 5 + k[2])] / t);
        }
        for (int64_t j = 0; j < s[ax]; ++j) {
          int64_t k[3] = {idx[0], idx[1], idx[2]};
          k[ax] = j;
          sum += std::exp(xv[size_t(k[0] * 20 + k[1] * 5 + k[2])] / t - m);
        }
        want[size_t(i)] = std::exp(xv[size_t(i)] / t - m) / sum;
        want_log[size_t(i)] = xv[size_t(i)] / t - m - std::log(sum);
      }
      op::SoftmaxParam p{.axis = axis, .temperature = std::nullopt};
      if (t != 1.0) p.temperature = t;
      check_close(nd::softmax(x, p), want, 1e-5, 1e-7);
      check_close(nd::log_softmax(x, p), want_log, 1e-5, 1e-6);
      check_grad<op::Softmax>(p, {x});
      check_grad<op::LogSoftmax>(p, {x});
      // softmin is softmax of -x: the reference at -T.
      if (axis != 2) continue;
      std::vector<double> want_min(60);
      for (int64_t i = 0; i < 60; ++i) {
        const int64_t row = i / 5;
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < 5; ++j) m = std::max(m, -xv[size_t(row * 5 + j)] / t);
        for (int64_t j = 0; j < 5; ++j) sum += std::exp(-xv[size_t(row * 5 + j)] / t - m);
        want_min[size_t(i)] = std::exp(-xv[size_t(i)] / t - m) / sum;
      }
      check_close(nd::softmin(x, p), want_min, 1e-5, 1e-7);
      check_grad<op::Softmin>(p, {x});
    }
  }
  NDArray big = nd::array<double>({3.4e38, -3.4e38, 0, 3.4e38}, Shape{2, 2}, ctx);
  check_close(nd::softmax(big), {1, 0, 0, 1});
  // A negative temperature shifts by the minimum: exp((x - max) / T) overflowed, exp(1e3) here.
  NDArray spread = nd::array<double>({-5, 5, 0, 1}, Shape{2, 2}, ctx);
  check_close(nd::softmax(spread, {.axis = -1, .temperature = -0.01}), {1, 0, 1, std::exp(-100.0)}, 1e-5, 1e-30);
  CHECK_THROWS_AS(nd::softmax(x, {.axis = 3, .temperature = std::nullopt}), Error);
  CHECK_THROWS_AS(nd::softmax(x, {.axis = 0, .temperature = 0.0}), Error);  // gave NaN
  CHECK_THROWS_AS(nd::log_softmax(x, {.axis = 0, .temperature = INFINITY}), Error);
  CHECK(nd::softmax(nd::zeros(Shape{2, 0}, ctx)).shape() == Shape{2, 0});  // an empty axis: an empty result
  CHECK(nd::log_softmax(nd::zeros(Shape{0, 3}, ctx), {.axis = 0, .temperature = std::nullopt}).shape() ==
        Shape{0, 3});
}

MIXT_DEVICE_TEST("op: softmax and log_softmax with use_length mask each line after its length") {
  auto ctx = Device::ctx();
  const Shape s{3, 4, 5};
  auto xv = stored(random_values(60, -3, 3, 21));
  NDArray x = nd::array(xv, s, ctx);
  for (int axis : {1, -1, 0}) {
    for (double t : {1.0, -2.0}) {
      CAPTURE(axis);
      CAPTURE(t);
      const int ax = axis < 0 ? axis + 3 : axis;
      std::vector<int64_t> ls(s.begin(), s.end());
      ls.erase(ls.begin() + ax);
      const Shape len_shape(ls);
      std::vector<double> lens(size_t(len_shape.size()));
      for (size_t i = 0; i < lens.size(); ++i) lens[i] = double(i % size_t(s[ax] + 1));  // 0 ... the full extent
      NDArray length = nd::array(lens, len_shape, ctx, DType::int32);
      // The reference: a softmax over the first len positions of each line, 0 after them (a line of 0: all 0).
      std::vector<double> want(60, 0.0), want_log(60, 0.0);
      for (int64_t i = 0; i < 60; ++i) {
        int64_t idx[3] = {i / 20, (i / 5) % 4, i % 5};
        int64_t rest[2], r = 0;
        for (int d = 0; d < 3; ++d)
          if (d != ax) rest[r++] = idx[d];
        const int64_t len = int64_t(lens[size_t(rest[0] * len_shape[1] + rest[1])]);
        if (idx[ax] >= len) continue;
        double m = -INFINITY, sum = 0;
        auto at = [&](int64_t j) {
          int64_t k[3] = {idx[0], idx[1], idx[2]};
          k[ax] = j;
          return xv[size_t(k[0] * 20 + k[1] * 5 + k[2])] / t;
        };
        for (int64_t j = 0; j < len; ++j) m = std::max(m, at(j));
        for (int64_t j = 0; j < len; ++j) sum += std::exp(at(j) - m);
        want[size_t(i)] = std::exp(xv[size_t(i)] / t - m) / sum;
        want_log[size_t(i)] = xv[size_t(i)] / t - m - std::log(sum);
      }
      op::SoftmaxParam p{.axis = axis, .temperature = t, .use_length = true};
      check_close(nd::softmax(x, length, p), want, 1e-5, 1e-7);
      check_close(nd::log_softmax(x, length, p), want_log, 1e-5, 1e-6);
      check_grad<op::Softmax>(p, {x, length.astype(DType::float32)}, {true, false});
      check_grad<op::LogSoftmax>(p, {x, length.astype(DType::float32)}, {true, false});
    }
  }
  expect_error([&] { nd::softmax(x, nd::ones(Shape{3, 5}, ctx), {.use_length = true}); },
               {"softmax", "argument 'length'", "(3, 4)", "(3, 5)"});
  expect_error([&] { nd::softmax(x, nd::ones(Shape{3, 4}, ctx), {}); }, {"softmax", "expected 1 inputs"});
  CHECK(op::parse_attrs<op::SoftmaxParam>("softmax", {{"use_length", "True"}}).use_length);
}

MIXT_DEVICE_TEST("op: softmax's dtype gives its output that dtype, computed in the wider one") {
  auto ctx = Device::ctx();
  const Shape s{3, 7};
  NDArray x16 = nd::array(random_values(21, -4, 4, 41), s, ctx, DType::float16);
  const auto xv = x16.to_vector<double>();  // the inputs as float16 rounded them
  auto gv = stored(random_values(21, -1, 1, 42));
  std::vector<double> want(21), want_log(21), want_gx(21), want_log_gx(21);
  for (int64_t r = 0; r < 3; ++r) {
    double m = -INFINITY, sum = 0, gy = 0, gsum = 0;
    for (int64_t j = 0; j < 7; ++j) m = std::max(m, xv[size_t(r * 7 + j)]);
    for (int64_t j = 0; j < 7; ++j) sum += std::exp(xv[size_t(r * 7 + j)] - m);
    for (int64_t j = 0; j < 7; ++j) {
      const size_t i = size_t(r * 7 + j);
      want[i] = std::exp(xv[i] - m) / sum, want_log[i] = xv[i] - m - std::log(sum);
      gy += gv[i] * want[i], gsum += gv[i];
    }
    for (int64_t j = 0; j < 7; ++j) {
      const size_t i = size_t(r * 7 + j);
      want_gx[i] = want[i] * (gv[i] - gy), want_log_gx[i] = gv[i] - want[i] * gsum;
    }
  }
  // float16 data, float32 probabilities: float32's precision, and the gradient in float16.
  for (bool log : {false, true}) {
    CAPTURE(log);
    x16.attach_grad();
    NDArray y;
    {
      autograd::record rec;
      y = log ? nd::log_softmax(x16, {.dtype = "float32"}) : nd::softmax(x16, {.dtype = "float32"});
    }
    CHECK(y.dtype() == DType::float32);
    check_close(y, log ? want_log : want, 1e-6, 1e-7);
    y.backward(nd::array(gv, s, ctx));
    CHECK(x16.grad().dtype() == DType::float16);
    check_close(x16.grad(), log ? want_log_gx : want_gx, 2e-3, 1e-3);
  }
  // float32 data, float16 output: computed in float32 and rounded once.
  NDArray x32 = x16.astype(DType::float32);
  NDArray h = nd::softmax(x32, {.dtype = "float16"});
  CHECK(h.dtype() == DType::float16);
  check_close(h, want, 1e-3, 1e-4);
  CHECK(h.to_vector<double>() == nd::softmax(x32).astype(DType::float16).to_vector<double>());
  expect_error([&] { nd::softmax(x32, {.dtype = "int32"}); }, {"softmax", "attribute 'dtype'", "int32"});
  CHECK_FALSE(op::parse_attrs<op::SoftmaxParam>("softmax", {{"dtype", "None"}}).dtype.has_value());
  CHECK(op::parse_attrs<op::SoftmaxParam>("log_softmax", {{"dtype", "float64"}}).dtype == "float64");
}

MIXT_DEVICE_TEST("op: SoftmaxOutput forward, and its backward for every normalization") {
  auto ctx = Device::ctx();
  const size_t n = 4, k = 5;
  auto xv = stored(random_values(n * k, -2, 2, 5));
  NDArray x = nd::array(xv, Shape{int64_t(n), int64_t(k)}, ctx);
  std::vector<double> labels = {1, 4, -1, 0};
  NDArray label = nd::array(labels, ctx);
  std::vector<double> y = softmax_rows(xv, n, k);
  for (std::string norm : {"null", "batch", "valid"}) {
    for (bool ignore : {false, true}) {
      for (double alpha : {0.0, 0.1}) {
        CAPTURE(norm);
        CAPTURE(ignore);
        CAPTURE(alpha);
        op::SoftmaxOutput::Param p{.grad_scale = 2, .use_ignore = ignore, .normalization = norm, .smooth_alpha = float(alpha)};
        std::vector<NDArray> out = op::invoke<op::SoftmaxOutput>(p, {x, label});
        check_close(out[0], y, 1e-5, 1e-7);
        NDArray grad = nd::zeros(x.shape(), ctx);
        op::SoftmaxOutput::backward(p, {}, {}, {x, label}, out, {op::Req::write, op::Req::null}, {grad, NDArray()}, {});
        double valid = 0;
        for (double l : labels) valid += l != -1;
        double scale = 2.0 / (norm == "batch" ? double(n) : norm == "valid" ? std::max(valid, 1.0) : 1.0);
        std::vector<double> want(n * k);
        for (size_t r = 0; r < n; ++r)
          for (size_t j = 0; j < k; ++j) {
            double target = double(j) == labels[r] ? 1 - alpha : alpha / double(k - 1);
            double g = (y[r * k + j] - target) * scale;
            want[r * k + j] = ignore && labels[r] == -1 ? 0 : g;
          }
        check_close(grad, want, 1e-5, 1e-7);
      }
    }
  }
  // The data's gradient written over `grad` by the forward and backward of p (without a head gradient).
  auto data_grad = [](const op::SoftmaxOutput::Param& p, const NDArray& data, const NDArray& lab, NDArray grad) {
    auto out = op::invoke<op::SoftmaxOutput>(p, {data, lab});
    op::SoftmaxOutput::backward(p, {}, {}, {data, lab}, out, {op::Req::write, op::Req::null}, {grad, NDArray()}, {});
    return grad;
  };
  // A label shaped like the output: (out - label) * grad_scale.
  NDArray soft_label = nd::full(x.shape(), 0.2, ctx);
  NDArray grad = data_grad({.grad_scale = 3}, x, soft_label, nd::zeros(x.shape(), ctx));
  std::vector<double> want(n * k);
  for (size_t i = 0; i < want.size(); ++i) want[i] = (y[i] - 0.2) * 3;
  check_close(grad, want, 1e-5, 1e-7);
  // normalization "valid" with every label ignored: the count is taken as 1, so the gradient is 0, not 0 / 0.
  NDArray ignored = nd::full(Shape{int64_t(n)}, -1.0, ctx);
  check_close(data_grad({.use_ignore = true, .normalization = "valid"}, x, ignored, nd::full(x.shape(), 7.0, ctx)),
              std::vector<double>(n * k, 0.0), 0, 0);
  // multi_output divides by the number of positions as well (MXNet: grad_scale / s3[2] unless "valid").
  {
    const std::vector<double> mv = {0.5, -1.0, 2.0, 1.5, 0.0, -0.5}, lab = {0, 1, 1};  // (1, 2 classes, 3)
    NDArray mx = nd::array(mv, Shape{1, 2, 3}, ctx), ml = nd::array(lab, Shape{1, 3}, ctx);
    NDArray mgrad = data_grad({.multi_output = true}, mx, ml, nd::zeros(mx.shape(), ctx));
    std::vector<double> mwant(6);
    for (size_t s = 0; s < 3; ++s) {
      const double e0 = std::exp(mv[s]), e1 = std::exp(mv[3 + s]);
      mwant[s] = (e0 / (e0 + e1) - (lab[s] == 0)) / 3;
      mwant[3 + s] = (e1 / (e0 + e1) - (lab[s] == 1)) / 3;
    }
    check_close(mgrad, mwant, 1e-5, 1e-7);
  }
  // out_grad multiplies by the head gradient, which is otherwise ignored (it was ignored always).
  const std::vector<NDArray> out = op::invoke<op::SoftmaxOutput>({}, {x, label});
  NDArray class_grad = nd::zeros(x.shape(), ctx), scaled_grad = nd::zeros(x.shape(), ctx);
  std::vector<double> hv = stored(random_values(n * k, 0.5, 2, 9));
  NDArray head = nd::array(hv, x.shape(), ctx);
  op::SoftmaxOutput::backward({}, {}, {head}, {x, label}, out, {op::Req::write, op::Req::null}, {class_grad, NDArray()},
                              {});
  op::SoftmaxOutput::backward({.out_grad = true}, {}, {head}, {x, label}, out, {op::Req::write, op::Req::null},
                              {scaled_grad, NDArray()}, {});
  std::vector<double> plain = class_grad.to_vector<double>(), want_scaled(n * k);
  for (size_t i = 0; i < want_scaled.size(); ++i) want_scaled[i] = plain[i] * hv[i];
  check_close(scaled_grad, want_scaled, 1e-5, 1e-7);
  CHECK_THROWS_AS(nd::SoftmaxOutput(x, label, {.normalization = "mean"}), Error);
  CHECK_THROWS_AS(nd::SoftmaxOutput(x, nd::zeros(Shape{3}, ctx)), Error);
  // The label's shape, not only its size: (2, 2) and (4, 1) hold 4 labels but are not (4,) (MXNet rejects them).
  expect_error([&] { nd::SoftmaxOutput(x, nd::zeros(Shape{2, 2}, ctx)); },
               {"SoftmaxOutput", "label", "(4,)", "(2, 2)"});
  expect_error([&] { nd::SoftmaxOutput(x, nd::zeros(Shape{4, 1}, ctx)); }, {"SoftmaxOutput", "label", "(4, 1)"});
  // An empty batch or class axis gives an empty output (these divided by zero); 0-d data is an error.
  CHECK(nd::SoftmaxOutput(nd::zeros(Shape{0, 3}, ctx), nd::zeros(Shape{0}, ctx)).shape() == Shape{0, 3});
  CHECK(nd::SoftmaxOutput(nd::zeros(Shape{2, 0}, ctx), nd::zeros(Shape{2}, ctx), {.preserve_shape = true}).size() == 0);
  const op::SoftmaxOutput::Param multi{.multi_output = true};
  CHECK(nd::SoftmaxOutput(nd::zeros(Shape{2, 0, 3}, ctx), nd::zeros(Shape{2, 3}, ctx), multi).size() == 0);
  // multi_output takes the label as (n, rest...), (n, prod(rest)) or (n, 1, rest...), as MXNet does.
  NDArray maps = nd::zeros(Shape{2, 3, 2, 2}, ctx);
  for (Shape s : {Shape{2, 2, 2}, Shape{2, 4}, Shape{2, 1, 2, 2}, Shape{2, 3, 2, 2}})
    CHECK(nd::SoftmaxOutput(maps, nd::zeros(s, ctx), multi).shape() == maps.shape());
  expect_error([&] { nd::SoftmaxOutput(maps, nd::zeros(Shape{8}, ctx), multi); }, {"SoftmaxOutput", "label", "(8,)"});
  CHECK_THROWS_AS(nd::SoftmaxOutput(nd::zeros(Shape{}, ctx), nd::zeros(Shape{1}, ctx)), Error);
  // The label has the data's dtype (MXNet's type inference): an int32 label fails in forward, naming 'label',
  // instead of in backward inside an internal assign.
  NDArray int_label = nd::zeros(Shape{4}, ctx, DType::int32);
  expect_error([&] { nd::SoftmaxOutput(x, int_label); }, {"SoftmaxOutput", "argument 'label'", "float32", "int32"});
  expect_error([&] { nd::softmax_cross_entropy(x, int_label); }, {"softmax_cross_entropy", "'label'", "int32"});
}

MIXT_DEVICE_TEST("op: softmax_cross_entropy against -sum log softmax[label], and its gradient") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(12, -2, 2, 6));
  NDArray x = nd::array(xv, Shape{3, 4}, ctx), label = nd::array<double>({3, 0, 2}, ctx);
  auto y = softmax_rows(xv, 3, 4);
  double want = -(std::log(y[3]) + std::log(y[4]) + std::log(y[10]));
  NDArray loss = nd::softmax_cross_entropy(x, label);
  CHECK(loss.shape() == Shape{1});
  check_close(loss, {want}, 1e-5);
  check_grad<op::SoftmaxCrossEntropy>({}, {x, label}, {true, false});
}

MIXT_DEVICE_TEST("op: regression outputs") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(6, -2, 2, 7)), lv = stored(random_values(6, -1, 1, 8));
  NDArray x = nd::array(xv, Shape{3, 2}, ctx), label = nd::array(lv, Shape{3, 2}, ctx);
  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(kind);
    op::RegressionParam p{.grad_scale = 3};
    std::vector<NDArray> out;
    NDArray grad = nd::zeros(x.shape(), ctx);
    std::vector<double> want_out(6), want_grad(6);
    for (size_t i = 0; i < 6; ++i) {
      double o = kind == 1 ? 1 / (1 + std::exp(-xv[i])) : xv[i];
      want_out[i] = o;
      double d = kind == 2 ? double((o > lv[i]) - (o < lv[i])) : o - lv[i];
      want_grad[i] = 3.0 / 2.0 * d;  // grad_scale / (label.size() / label.shape[0])
    }
    auto run = [&](auto op_tag) {
      using Op = decltype(op_tag);
      out = op::invoke<Op>(p, {x, label});
      Op::backward(p, {}, {}, {x, label}, out, {op::Req::write, op::Req::null}, {grad, NDArray()}, {});
    };
    if (kind == 0) run(op::LinearRegressionOutput{});
    if (kind == 1) run(op::LogisticRegressionOutput{});
    if (kind == 2) run(op::MAERegressionOutput{});
    check_close(out[0], want_out, 1e-5, 1e-7);
    check_close(grad, want_grad, 1e-5, 1e-7);
  }
  // The label's batch extent must be the data's: (2, 3) holds 6 values too, but its scale would be 1/3.
  expect_error([&] { nd::LinearRegressionOutput(x, nd::zeros(Shape{2, 3}, ctx)); },
               {"LinearRegressionOutput", "label", "(2, 3)"});
  CHECK(nd::LinearRegressionOutput(nd::zeros(Shape{3, 1}, ctx), nd::zeros(Shape{3}, ctx)).shape() == Shape{3, 1});
  expect_error([&] { nd::LinearRegressionOutput(x, label.astype(DType::int32)); },
               {"LinearRegressionOutput", "argument 'label'", "int32"});
}

MIXT_DEVICE_TEST("op: FullyConnected forward, backward and shape inference") {
  auto ctx = Device::ctx();
  const int64_t N = 3, H = 4;
  NDArray x = random_array(Shape{N, 2, 3}, ctx, -1, 1, 9), w = random_array(Shape{H, 6}, ctx, -1, 1, 10),
          b = random_array(Shape{H}, ctx, -1, 1, 11);
  auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
  std::vector<double> want(size_t(N * H));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h) {
      double s = bv[size_t(h)];
      for (int64_t k = 0; k < 6; ++k) s += xv[size_t(n * 6 + k)] * wv[size_t(h * 6 + k)];
      want[size_t(n * H + h)] = s;
    }
  op::FullyConnected::Param p{.num_hidden = int(H)};
  NDArray y = nd::FullyConnected(x, w, b, p);
  CHECK(y.shape() == Shape{N, H});
  check_close(y, want, 1e-5, 1e-6);
  check_grad<op::FullyConnected>(p, {x, w, b});
  check_grad<op::FullyConnected>({.num_hidden = int(H), .no_bias = true}, {x, w});
  // flatten = false: (N, 2, 3) x W(H, 3)^T -> (N, 2, H)
  NDArray w3 = random_array(Shape{H, 3}, ctx, -1, 1, 12);
  op::FullyConnected::Param pf{.num_hidden = int(H), .flatten = false};
  NDArray y3 = op::invoke<op::FullyConnected>(pf, {x, w3, b})[0];
  CHECK(y3.shape() == Shape{N, 2, H});
  check_grad<op::FullyConnected>(pf, {x, w3, b});

  // Shape inference, partial shapes included.
  std::vector<Shape> in = {Shape{8, 3, 5}, Shape{}, Shape{}}, out(1), aux;
  op::FullyConnected::infer_shape({.num_hidden = 10}, in, out, aux);
  CHECK(in[1] == Shape{10, 15});
  CHECK(in[2] == Shape{10});
  CHECK(out[0] == Shape{8, 10});
  std::vector<Shape> in2 = {Shape{8, 0}, Shape{10, 7}, Shape{}}, out2(1);
  op::FullyConnected::infer_shape({.num_hidden = 10}, in2, out2, aux);
  CHECK(in2[0] == Shape{8, 7});
  std::vector<Shape> bad = {Shape{8, 5}, Shape{10, 6}, Shape{}}, out3(1);
  CHECK_THROWS_AS(op::FullyConnected::infer_shape({.num_hidden = 10}, bad, out3, aux), Error);
  CHECK_THROWS_AS(nd::FullyConnected(x, w, b, {.num_hidden = 0}), Error);
  try {
    nd::FullyConnected(x, random_array(Shape{H, 5}, ctx), b, p);
    FAIL("a (4, 5) weight for 6 inputs must fail");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("FullyConnected") != std::string::npos);
    CHECK(std::string(e.what()).find("weight") != std::string::npos);
  }
  // A batch of 0, 1-D data and 0-d data: these failed inside reshape or dot.
  NDArray empty_batch = nd::FullyConnected(nd::zeros(Shape{0, 2, 3}, ctx), w, b, p);
  CHECK(empty_batch.shape() == Shape{0, H});
  check_grad<op::FullyConnected>(p, {nd::zeros(Shape{0, 2, 3}, ctx), w, b});
  // With flatten, 1-D data (K,) is K rows of one feature, as MXNet's shape inference has it (the product of no
  // trailing extents is 1): weight (H, 1), output (K, H). Without flatten it is one row.
  NDArray x1 = x.at(1).reshape({6}), w1 = random_array(Shape{H, 1}, ctx, -1, 1, 12);
  NDArray rows = nd::FullyConnected(x1, w1, b, p);
  REQUIRE(rows.shape() == Shape{6, H});
  std::vector<double> want_rows;
  for (int64_t k = 0; k < 6; ++k)
    for (int64_t h = 0; h < H; ++h)
      want_rows.push_back(xv[size_t(6 + k)] * w1.to_vector<double>()[size_t(h)] + bv[size_t(h)]);
  check_close(rows, want_rows, 1e-5, 1e-6);
  check_grad<op::FullyConnected>(p, {x1, w1, b});
  expect_error([&] { nd::FullyConnected(x1, w, b, p); }, {"FullyConnected", "weight", "(4, 1)"});
  NDArray row = nd::FullyConnected(x1, w, b, {.num_hidden = int(H), .flatten = false});
  REQUIRE(row.shape() == Shape{H});
  check_close(row, std::vector<double>(want.begin() + H, want.begin() + 2 * H), 1e-5, 1e-6);
  try {
    nd::FullyConnected(nd::zeros(Shape{}, ctx), w, b, p);
    FAIL("0-d data must fail");
  } catch (const Error& e) {
    CHECK(e.op() == "FullyConnected");
    CHECK(std::string(e.what()).find("data") != std::string::npos);
  }
}

TEST_CASE("op: FullyConnected names itself in dtype errors") {
  NDArray i32 = nd::zeros(Shape{2, 3}, cpu(), DType::int32), w = nd::zeros(Shape{4, 3});
  for (auto call : std::vector<std::function<void()>>{
           [&] { nd::FullyConnected(i32, w.astype(DType::int32), {.num_hidden = 4, .no_bias = true}); },
           [&] { nd::FullyConnected(nd::zeros(Shape{2, 3}), w.astype(DType::float64), {.num_hidden = 4}); },
           [&] { nd::FullyConnected(nd::zeros(Shape{2, 3}), w, nd::zeros(Shape{4}, cpu(), DType::float64),
                                    {.num_hidden = 4}); }}) {
    try {
      call();
      FAIL("expected a dtype error");
    } catch (const Error& e) {
      CHECK(e.op() == "FullyConnected");
      CHECK_MESSAGE(std::string(e.what()).find("dtype") != std::string::npos, std::string(e.what()));
    }
  }
}

MIXT_DEVICE_TEST("op: optimizer updates against their formulas") {
  auto ctx = Device::ctx();
  auto wv = stored(random_values(10, -1, 1, 13)), gv = stored(random_values(10, -3, 3, 14)),
       sv = stored(random_values(10, 0, 1, 15));
  const double lr = 0.1, wd = 0.01, rescale = 0.5, clipg = 0.6;
  auto g_of = [&](size_t i) { return std::min(std::max(rescale * gv[i], -clipg), clipg); };
  // Adam and RMSProp add the weight decay before clipping (MXNet's AdamUpdateKernel, RMSPropUpdate); SGD after.
  auto decayed_g_of = [&](size_t i) { return std::min(std::max(rescale * gv[i] + wd * wv[i], -clipg), clipg); };
  {
    NDArray w = nd::array(wv, ctx), g = nd::array(gv, ctx);
    nd::sgd_update(w, g, {.lr = 0.1f, .wd = 0.01f, .rescale_grad = 0.5f, .clip_gradient = 0.6f});
    std::vector<double> want(10);
    for (size_t i = 0; i < 10; ++i) want[i] = (1 - lr * wd) * wv[i] - lr * g_of(i);
    check_close(w, want, 1e-5, 1e-7);
  }
  {
    NDArray w = nd::array(wv, ctx), g = nd::array(gv, ctx), mom = nd::array(sv, ctx);
    nd::sgd_mom_update(w, g, mom, {.lr = 0.1f, .momentum = 0.9f, .wd = 0.01f, .rescale_grad = 0.5f, .clip_gradient = 0.6f});
    std::vector<double> wm(10), wwant(10);
    for (size_t i = 0; i < 10; ++i) {
      wm[i] = 0.9 * sv[i] - lr * wd * wv[i] - lr * g_of(i);
      wwant[i] = wv[i] + wm[i];
    }
    check_close(mom, wm, 1e-5, 1e-7);
    check_close(w, wwant, 1e-5, 1e-7);
  }
  {
    NDArray w = nd::array(wv, ctx), g = nd::array(gv, ctx), mean = nd::array(sv, ctx), var = nd::array(sv, ctx);
    nd::adam_update(w, g, mean, var, {.lr = 0.1f, .wd = 0.01f, .rescale_grad = 0.5f, .clip_gradient = 0.6f});
    std::vector<double> wm(10), wvar(10), wwant(10);
    for (size_t i = 0; i < 10; ++i) {
      double gg = decayed_g_of(i);
      wm[i] = 0.9 * sv[i] + 0.1 * gg;
      wvar[i] = 0.999 * sv[i] + 0.001 * gg * gg;
      wwant[i] = wv[i] - lr * wm[i] / (std::sqrt(wvar[i]) + 1e-8);
    }
    check_close(mean, wm, 1e-5, 1e-7);
    check_close(var, wvar, 1e-5, 1e-7);
    check_close(w, wwant, 1e-5, 1e-6);
  }
  {
    NDArray w = nd::array(wv, ctx), g = nd::array(gv, ctx), n = nd::array(sv, ctx);
    nd::rmsprop_update(w, g, n, {.lr = 0.1f, .wd = 0.01f, .rescale_grad = 0.5f, .clip_gradient = 0.6f, .clip_weights = 0.8f});
    std::vector<double> wn(10), wwant(10);
    for (size_t i = 0; i < 10; ++i) {
      double gg = decayed_g_of(i);
      wn[i] = 0.05 * gg * gg + 0.95 * sv[i];
      wwant[i] = std::min(std::max(wv[i] - lr * gg / std::sqrt(wn[i] + 1e-8), -0.8), 0.8);
    }
    check_close(n, wn, 1e-5, 1e-7);
    check_close(w, wwant, 1e-5, 1e-6);
  }
  NDArray w = nd::zeros(Shape{3}, ctx);
  expect_error([&] { nd::sgd_update(w, nd::zeros(Shape{4}, ctx), {.lr = 0.1f}); },
               {"sgd_update", "argument 'grad'", "expected shape (3,)", "received (4,)"});
  expect_error([&] { nd::adam_update(w, nd::zeros(Shape{3}, ctx), w.copy(), w.astype(DType::float64), {.lr = 0.1f}); },
               {"adam_update", "argument 'var'", "expected dtype float32", "received float64"});
  expect_error([&] { nd::sgd_mom_update(w, w.copy(), nd::zeros(Shape{3}, cpu(7)), {.lr = 0.1f}); },
               {"sgd_mom_update", "argument 'mom'", "expected context", "received cpu(7)"});
  // lr is required, as in MXNet: forgetting it used to be an update by 0.
  NDArray g = nd::ones(Shape{3}, ctx);
  expect_error([&] { nd::sgd_update(w, g, {}); }, {"sgd_update", "'lr' is required"});
  expect_error([&] { nd::sgd_mom_update(w, g, w.copy(), {.momentum = 0.9f}); }, {"sgd_mom_update", "'lr'"});
  expect_error([&] { nd::adam_update(w, g, w.copy(), w.copy(), {}); }, {"adam_update", "'lr'"});
  expect_error([&] { nd::rmsprop_update(w, g, w.copy(), {}); }, {"rmsprop_update", "'lr'"});
  check_close(w, std::vector<double>(3, 0.0));
  nd::sgd_update(w, g, {.lr = 0.f});  // 0 given is 0
  check_close(w, std::vector<double>(3, 0.0));
}

MIXT_DEVICE_TEST("op: optimizer settings at their edges: clipping at 0, and where epsilon goes") {
  auto ctx = Device::ctx();
  {  // clip_gradient = 0 clips every gradient to 0 (MXNet turns clipping on for clip_gradient >= 0)
    NDArray w = nd::array(std::vector<double>{1, 2}, ctx), g = nd::array(std::vector<double>{5, -5}, ctx);
    nd::sgd_update(w, g, {.lr = 0.1f, .clip_gradient = 0.0f});
    check_close(w, {1, 2}, 0, 0);
  }
  {  // rmsprop: w -= lr g / sqrt(n + eps); eps 1, gamma1 0.5, n0 0, g 1, lr 1: n = 0.5, w = 1 - 1 / sqrt(1.5)
    NDArray w = nd::ones(Shape{1}, ctx), g = nd::ones(Shape{1}, ctx), n = nd::zeros(Shape{1}, ctx);
    nd::rmsprop_update(w, g, n, {.lr = 1.0f, .gamma1 = 0.5f, .epsilon = 1.0f});
    check_close(n, {0.5}, 1e-6, 0);
    check_close(w, {1 - 1 / std::sqrt(1.5)}, 1e-6, 0);
  }
  {  // rmsprop clip_weights = 0 clips the weights to 0
    NDArray w = nd::array(std::vector<double>{1, -1}, ctx), g = nd::ones(Shape{2}, ctx), n = nd::zeros(Shape{2}, ctx);
    nd::rmsprop_update(w, g, n, {.lr = 0.01f, .clip_weights = 0.0f});
    check_close(w, {0, 0}, 0, 0);
  }
  {  // adam: w -= lr m / (sqrt(v) + eps); eps 1, beta1 = beta2 = 0, g 2, lr 1: m 2, v 4, w = 1 - 2 / 3
    NDArray w = nd::ones(Shape{1}, ctx), g = nd::full(Shape{1}, 2.0, ctx), m = nd::zeros(Shape{1}, ctx),
            v = nd::zeros(Shape{1}, ctx);
    nd::adam_update(w, g, m, v, {.lr = 1.0f, .beta1 = 0.0f, .beta2 = 0.0f, .epsilon = 1.0f});
    check_close(w, {1.0 / 3}, 1e-6, 0);
  }
}

TEST_CASE("op: errors from the nd:: calls name the caller's line, not the library's") {
  NDArray x = nd::zeros(Shape{1, 1, 3, 3});
  auto called_here = [](auto&& call) {
    try {
      call();
    } catch (const Error& e) {
      return std::string(e.where().file_name()).find("test_op.c") != std::string::npos;  // .cpp, or .cu
    }
    return false;
  };
  CHECK(called_here([&] { nd::Pooling(x, {.kernel = {5, 5}}); }));
  CHECK(called_here([&] { nd::Concat({x, nd::zeros(Shape{2, 2})}); }));
  CHECK(called_here([&] { nd::topk(x, {.axis = 7}); }));
  CHECK(called_here([&] { nd::take(x, nd::zeros(Shape{}), {.axis = 9}); }));
  CHECK(called_here([&] { nd::softmax(x, {.axis = 4, .temperature = std::nullopt}); }));
  CHECK(called_here([&] { test::check_numeric_gradient<op::FullyConnected>({.num_hidden = 2}, {x, x}); }));
  // An error raised by a step inside the operator (its own assign or reduction) is the operator's, at this line.
  auto named = [&](const char* op, auto&& call) {
    testing::expect_error(call, {std::string("mixt::Error in ") + op + ":", "test_op.c"});
  };
  NDArray w = nd::zeros(Shape{3}), half = nd::zeros(Shape{3}, cpu(), DType::float16);
  named("sgd_update", [&] { nd::sgd_update(w, half, {.lr = 0.1f}); });
  named("sgd_mom_update", [&] { nd::sgd_mom_update(w, half, w.copy(), {.lr = 0.1f}); });
  named("adam_update", [&] { nd::adam_update(w, half, w.copy(), w.copy(), {.lr = 0.1f}); });
  named("rmsprop_update", [&] { nd::rmsprop_update(w, half, w.copy(), {.lr = 0.1f}); });
  named("sgd_update", [&] { nd::sgd_update(w, nd::zeros(Shape{4}), {.lr = 0.1f}); });
  if constexpr (!expr::expr_dtype_enabled(DType::float64)) {  // this binary compiles float32 expressions only
    NDArray f64 = nd::zeros(Shape{2, 3}, cpu(), DType::float64);
    named("Activation", [&] { nd::Activation(f64, {.act_type = "relu"}); });
    named("softmax", [&] { nd::softmax(f64); });
    named("LayerNorm", [&] { nd::LayerNorm(f64, nd::ones(Shape{3}, cpu(), DType::float64),
                                           nd::zeros(Shape{3}, cpu(), DType::float64)); });
  }
}

TEST_CASE("op: attributes parse from MXNet's strings and print back") {
  auto p = op::parse_attrs<op::FullyConnected::Param>("FullyConnected", {{"num_hidden", "128"}, {"no_bias", "True"}});
  CHECK(p.num_hidden == 128);
  CHECK(p.no_bias);
  CHECK(p.flatten);
  auto a = op::to_attrs(p);
  CHECK(a["num_hidden"] == "128");
  CHECK(a["no_bias"] == "True");
  CHECK(a["flatten"] == "True");
  auto s = op::parse_attrs<op::SoftmaxParam>("softmax", {{"axis", "1"}, {"temperature", "None"}});
  CHECK(s.axis == 1);
  CHECK(!s.temperature);
  auto u = op::parse_attrs<op::SgdParam>("sgd_update", {{"lr", "0.05"}, {"wd", "1e-4"}});
  CHECK(u.lr == doctest::Approx(0.05));
  CHECK(op::to_attrs(u)["lr"] == "0.05");
  CHECK(op::attr::format(op::IntTuple{3, 3}) == "(3, 3)");
  op::IntTuple t;
  op::attr::parse("Convolution", "kernel", "(3, 5)", t);
  CHECK(t == op::IntTuple{3, 5});
  CHECK_THROWS_AS(op::parse_attrs<op::FullyConnected::Param>("FullyConnected", {{"num_hidden", "many"}}), Error);
  CHECK_THROWS_AS(op::parse_attrs<op::FullyConnected::Param>("FullyConnected", {{"num_hiden", "3"}}), Error);
  try {
    op::parse_attrs<op::FullyConnected::Param>("FullyConnected", {{"no_bias", "maybe"}});
  } catch (const Error& e) {
    std::string w = e.what();
    CHECK(w.find("FullyConnected") != std::string::npos);
    CHECK(w.find("no_bias") != std::string::npos);
    CHECK(w.find("maybe") != std::string::npos);
  }
}

// Backward with Req::add adds the bias gradient (the sum of the head over the batch) to what was there.
MIXT_DEVICE_TEST("op: FullyConnected backward with req add accumulates every gradient") {
  auto ctx = Device::ctx();
  NDArray x = nd::array({1, 2, 3, 4, 5, 6}, Shape{2, 3}, ctx), w = nd::array({1, 0, -1, 2, 1, 0}, Shape{2, 3}, ctx),
          b = nd::array({0.5, -0.5}, Shape{2}, ctx), head = nd::array({1, 2, 3, 4}, Shape{2, 2}, ctx);
  op::FullyConnected::Param p{.num_hidden = 2};
  std::vector<NDArray> out = op::invoke<op::FullyConnected>(p, {x, w, b});
  std::vector<NDArray> ig = {nd::ones(x.shape(), ctx), nd::ones(w.shape(), ctx), nd::ones(b.shape(), ctx)};
  op::FullyConnected::backward(p, {}, {head}, {x, w, b}, out, {op::Req::add, op::Req::add, op::Req::add}, ig, {});
  // dx = head . w, dw = head^T . x, db = column sums of head; each plus the 1 already there.
  check_close(ig[0], {6, 3, 0, 12, 5, -2});
  check_close(ig[1], {14, 18, 22, 19, 25, 31});
  check_close(ig[2], {5, 7});
}

namespace {
/// An operator for checking the checkers: y = x + the context's device id, and a hidden output y2 = x whose head
/// gradient the backward reads (so it must be 0).
struct ProbeOp {
  static constexpr const char* name = "Probe";
  struct Param {};
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static int num_outputs(const Param&) { return 2; }
  static void infer_shape(const Param&, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    out[0] = out[1] = in[0];
  }
  static void forward(const Param&, const op::OpContext&, const std::vector<NDArray>& in,
                      const std::vector<op::Req>& req, const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    op::write(out[0], req[0], in[0] + double(in[0].ctx().dev_id));
    op::write(out[1], req[1], in[0] * 1.0);
  }
  static void backward(const Param&, const op::OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>&,
                       const std::vector<NDArray>&, const std::vector<op::Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    op::write(ig[0], req[0], og[0] + og[1]);
  }
};
}  // namespace

// Hidden outputs get a zero head gradient; check_consistency reports results that differ.
TEST_CASE("gradient check: hidden outputs get zero heads; check_consistency reports a difference") {
  NDArray x = nd::array({0.5, -1.0, 2.0}, Shape{3});
  test::GradCheckResult r = test::check_numeric_gradient<ProbeOp>({}, {x});
  CHECK_MESSAGE(r.ok, r.report);
  test::GradCheckResult c = test::check_consistency<ProbeOp>({}, {x}, cpu(0), cpu(1));
  CHECK_FALSE(c.ok);
  CHECK(c.report.find("result 0 element 0") != std::string::npos);
}

TEST_CASE("op: topk with k equal to the axis extent; argsort's float16 indices up to 2048") {
  NDArray x = nd::array<double>({3, 1, 4, 1, 5}, Shape{5}, cpu());
  check_close(nd::topk(x, {.k = 5}), {4, 2, 0, 1, 3}, 0, 0);
  check_close(nd::topk(x, {.k = 5, .ret_typ = "value"}), {5, 4, 3, 1, 1}, 0, 0);
  // 2049 elements: every index 0 ... 2048 is exact in float16; 2050 elements are one too many.
  NDArray r = nd::argsort(nd::arange(0, 2049, 1, 1, cpu()), {.is_ascend = false, .dtype = "float16"});
  CHECK(r.to_vector<double>()[0] == 2048.0);
  expect_error([&] { nd::argsort(nd::arange(0, 2050, 1, 1, cpu()), {.dtype = "float16"}); }, {"argsort", "float16"});
  // A k below 1 means the whole axis: with that axis unknown, so is the output's.
  std::vector<Shape> in{Shape{3, 0}}, out(1), aux;
  op::TopK::infer_shape({.k = -1, .ret_typ = "value"}, in, out, aux);
  CHECK(out[0] == (Shape{3, 0}));
}

// From the fifth mutation round: each case below failed a mutant that every earlier test let through.

MIXT_DEVICE_TEST("op: LeakyReLU's gradient at exactly 0 is the slope, as MXNet's (x > 0 ? 1 : slope)") {
  auto ctx = Device::ctx();
  NDArray x = nd::array({-1.0, 0.0, 2.0}, Shape{3}, ctx), head = nd::ones(Shape{3}, ctx), ig = nd::zeros(Shape{3}, ctx);
  op::LeakyReLU::Param p{.act_type = "leaky", .slope = 0.25f};
  std::vector<NDArray> out = op::invoke<op::LeakyReLU>(p, {x});
  op::LeakyReLU::backward(p, {}, {head}, {x}, out, {op::Req::write}, {ig}, {});
  check_close(ig, {0.25, 0.25, 1});
}

MIXT_DEVICE_TEST("op: FullyConnected forward with req add adds x W^T + b to the output") {
  auto ctx = Device::ctx();
  NDArray x = nd::array({1, 2, 3, 4, 5, 6}, Shape{2, 3}, ctx), w = nd::array({1, 0, -1, 2, 1, 0}, Shape{2, 3}, ctx),
          b = nd::array({0.5, -0.5}, Shape{2}, ctx), y = nd::ones(Shape{2, 2}, ctx);
  op::FullyConnected::Param p{.num_hidden = 2};
  op::FullyConnected::forward(p, {}, {x, w, b}, {op::Req::add}, {y}, {});
  check_close(y, {1 - 2 + 0.5, 1 + 4 - 0.5, 1 - 2 + 0.5, 1 + 13 - 0.5});
}

MIXT_DEVICE_TEST("op: FullyConnected in float64; its bias add needs float64 expressions compiled in") {
  auto ctx = Device::ctx();
  const DType f64 = DType::float64;
  NDArray x = nd::array({1, 2, 3, 4, 5, 6}, Shape{2, 3}, ctx, f64), w = nd::array({1, 0, -1, 2, 1, 0}, Shape{2, 3}, ctx, f64),
          b = nd::array({0.5, -0.5}, Shape{2}, ctx, f64);
  NDArray y = nd::FullyConnected(x, w, {.num_hidden = 2});
  CHECK(y.dtype() == f64);
  check_close(y, {-2, 4, -2, 13});
  if constexpr (expr::expr_dtype_enabled(DType::float64)) {
    check_close(nd::FullyConnected(x, w, b, {.num_hidden = 2}), {-1.5, 3.5, -1.5, 12.5});
  } else {
    expect_error([&] { nd::FullyConnected(x, w, b, {.num_hidden = 2}); }, {"FullyConnected", "MIXT_EXPR_DTYPES"});
  }
}

MIXT_DEVICE_TEST("op: clip's gradient passes at both bounds") {
  auto ctx = Device::ctx();
  NDArray x = nd::array({-1.0, 0.0, 0.5, 1.0, 2.0}, Shape{5}, ctx);
  NDArray head = nd::array({1, 2, 3, 4, 5}, Shape{5}, ctx), ig = nd::zeros(Shape{5}, ctx);
  op::Clip::Param p{.a_min = 0, .a_max = 1};
  op::Clip::backward(p, {}, {head}, {x}, {}, {op::Req::write}, {ig}, {});
  check_close(ig, {0, 2, 3, 4, 0});
}

MIXT_DEVICE_TEST("op: take with mode raise rejects an index equal to the axis extent") {
  auto ctx = Device::ctx();
  NDArray a = nd::array({1, 2, 3}, Shape{3}, ctx);
  expect_error([&] { nd::take(a, nd::array({0, 3}, Shape{2}, ctx), {.mode = "raise"}); }, {"take", "raise", "3"});
  check_close(nd::take(a, nd::array({0, 2}, Shape{2}, ctx), {.mode = "raise"}), {1, 3});
}

// From the sixth mutation round: each case below failed a mutant that every earlier test let through.

MIXT_DEVICE_TEST("op: masked softmax of very negative values is shifted by their own maximum") {
  auto ctx = Device::ctx();
  NDArray x = nd::array(std::vector<double>{-1000, -1001, 5, -2000, -2000, -2000}, Shape{2, 3}, ctx);
  NDArray len = nd::array<float>({2, 3}, ctx);
  NDArray y = nd::softmax(x, len, op::SoftmaxParam{.use_length = true});
  const double e = std::exp(-1.0);
  check_close(y, {1 / (1 + e), e / (1 + e), 0, 1 / 3., 1 / 3., 1 / 3.});
  NDArray ly = nd::log_softmax(x, len, op::SoftmaxParam{.use_length = true});
  check_close(ly, {-std::log1p(e), -1 - std::log1p(e), 0, -std::log(3.), -std::log(3.), -std::log(3.)});
}

MIXT_DEVICE_TEST("op: the length input of a masked softmax gets a zero gradient") {
  auto ctx = Device::ctx();
  NDArray x = nd::array(std::vector<double>{1, 2, 3, 4, 5, 6}, Shape{2, 3}, ctx);
  NDArray len = nd::array<float>({2, 3}, ctx);
  x.attach_grad();
  len.attach_grad(GradReq::add);
  len.grad().assign(5.0);  // req add: a written zero keeps 5; an unwritten buffer adds what the pool held
  NDArray y;
  {
    autograd::record rec;
    y = nd::softmax(x, len, op::SoftmaxParam{.use_length = true});
  }
  testing::poison_pool(ctx);
  y.backward();
  check_close(len.grad(), {5, 5});
}

MIXT_DEVICE_TEST("op: SoftmaxOutput multi_output with valid normalization divides by the valid count only") {
  auto ctx = Device::ctx();
  // data (1, 3, 2): class axis 1, two spatial positions; labels (1, 2) = [0, 2]; valid count 2.
  const std::vector<double> xv{0.5, -1, 1.5, 0, -0.5, 2};
  NDArray x = nd::array(xv, Shape{1, 3, 2}, ctx), label = nd::array(std::vector<double>{0, 2}, Shape{1, 2}, ctx);
  x.attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = nd::SoftmaxOutput(x, label, op::SoftmaxOutput::Param{.multi_output = true, .normalization = "valid"});
  }
  y.backward();
  std::vector<double> want(6);
  for (int s = 0; s < 2; ++s) {
    double z = 0;
    for (int k = 0; k < 3; ++k) z += std::exp(xv[size_t(k * 2 + s)]);
    const int lab = s == 0 ? 0 : 2;
    for (int k = 0; k < 3; ++k)
      want[size_t(k * 2 + s)] = (std::exp(xv[size_t(k * 2 + s)]) / z - (k == lab)) / 2;
  }
  check_close(x.grad(), want, 1e-5, 1e-6);
}

TEST_CASE("op: regression outputs infer a flat label for (N, 1) data and data's shape otherwise") {
  std::vector<Shape> aux;
  std::vector<Shape> in = {Shape{4, 1}, Shape{}}, out(1);
  op::LinearRegressionOutput::infer_shape({}, in, out, aux);
  CHECK(in[1] == Shape{4});
  CHECK(out[0] == Shape{4, 1});
  std::vector<Shape> in2 = {Shape{4, 3}, Shape{}}, out2(1);
  op::MAERegressionOutput::infer_shape({}, in2, out2, aux);
  CHECK(in2[1] == Shape{4, 3});
}

MIXT_DEVICE_TEST("op: the label of a regression output gets a zero gradient") {
  auto ctx = Device::ctx();
  NDArray x = nd::array(std::vector<double>{1, 2, 3, 4}, Shape{2, 2}, ctx);
  NDArray label = nd::array(std::vector<double>{0, 1, 1, 0}, Shape{2, 2}, ctx);
  x.attach_grad();
  label.attach_grad(GradReq::add);
  label.grad().assign(5.0);  // req add: the written zero keeps 5
  NDArray y;
  {
    autograd::record rec;
    y = nd::LinearRegressionOutput(x, label);
  }
  testing::poison_pool(ctx);
  y.backward();
  check_close(x.grad(), {0.5, 0.5, 1, 2});  // (out - label) / 2 outputs per row
  check_close(label.grad(), {5, 5, 5, 5});
}

MIXT_DEVICE_TEST("op: update operators reject a gradient or state of another shape than the weight") {
  auto ctx = Device::ctx();
  NDArray w = nd::zeros(Shape{2, 3}, ctx), g = nd::ones(Shape{1, 3}, ctx), s = nd::zeros(Shape{2, 3}, ctx);
  expect_error([&] { nd::sgd_update(w, g, {.lr = 0.1f}); }, {"sgd_update", "argument 'grad': expected shape (2, 3)"});
  expect_error([&] { nd::sgd_mom_update(w, s, nd::zeros(Shape{3}, ctx), {.lr = 0.1f}); },
               {"argument 'mom': expected shape (2, 3)"});
  expect_error([&] { nd::adam_update(w, s, s, nd::zeros(Shape{1, 3}, ctx), {.lr = 0.1f}); }, {"argument 'var'"});
  expect_error([&] { nd::rmsprop_update(w, g, s, {.lr = 0.1f}); }, {"rmsprop_update", "argument 'grad'"});
  check_close(w, std::vector<double>(6, 0.0));  // nothing was applied
}
