// BatchNorm, LayerNorm, Dropout and Embedding: forward against double-precision loops, backward against central
// differences, moving-statistic updates, shape inference (partial shapes too), errors, and behaviour under
// autograd's train / predict modes.
#include "testing.hpp"

#include <mixt/op/op.hpp>
#include <mixt/test/gradient_check.hpp>

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::expect_error;
using mixt::testing::random_values;

namespace {

std::vector<double> stored(std::vector<double> v) { return mixt::testing::as_stored(std::move(v)); }

template <class Op>
void check_grad(const typename Op::Param& p, const std::vector<NDArray>& in, std::vector<bool> which = {},
                bool is_train = true, const std::vector<NDArray>& aux = {}, test::GradCheckOptions o = {}) {
  test::GradCheckResult r = test::check_numeric_gradient<Op>(p, in, which, o, is_train, aux);
  CHECK_MESSAGE(r.ok, r.report);
}

/// (pre, C, post) of a shape around axis a.
struct Split {
  int64_t pre = 1, C = 1, post = 1;
  Split(const Shape& s, int a) {
    C = s[a];
    for (int d = 0; d < a; ++d) pre *= s[d];
    for (int d = a + 1; d < s.ndim(); ++d) post *= s[d];
  }
  int64_t channel(int64_t i) const { return (i / post) % C; }
};

/// Double-precision BatchNorm: y; mean and biased var per channel (batch statistics when `batch`, else mm / mv).
struct BnRef {
  std::vector<double> y, mean, var;
};
BnRef bn_ref(const std::vector<double>& x, const Shape& s, int axis, const std::vector<double>& gamma,
             const std::vector<double>& beta, const std::vector<double>& mm, const std::vector<double>& mv,
             double eps, bool batch, bool fix_gamma) {
  Split sp(s, axis);
  BnRef r;
  r.mean.assign(size_t(sp.C), 0);
  r.var.assign(size_t(sp.C), 0);
  if (batch) {
    std::vector<double> cnt(size_t(sp.C), 0);
    for (size_t i = 0; i < x.size(); ++i) { r.mean[size_t(sp.channel(int64_t(i)))] += x[i]; cnt[size_t(sp.channel(int64_t(i)))] += 1; }
    for (int64_t c = 0; c < sp.C; ++c) r.mean[size_t(c)] /= cnt[size_t(c)];
    for (size_t i = 0; i < x.size(); ++i) {
      size_t c = size_t(sp.channel(int64_t(i)));
      r.var[c] += (x[i] - r.mean[c]) * (x[i] - r.mean[c]) / cnt[c];
    }
  } else {
    r.mean = mm;
    r.var = mv;
  }
  r.y.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    size_t c = size_t(sp.channel(int64_t(i)));
    r.y[i] = (x[i] - r.mean[c]) / std::sqrt(r.var[c] + eps) * (fix_gamma ? 1.0 : gamma[c]) + beta[c];
  }
  return r;
}

/// Double-precision LayerNorm over axis a.
std::vector<double> ln_ref(const std::vector<double>& x, const Shape& s, int a, const std::vector<double>& gamma,
                           const std::vector<double>& beta, double eps) {
  Split sp(s, a);
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < sp.pre; ++i)
    for (int64_t j = 0; j < sp.post; ++j) {
      double m = 0, v = 0;
      for (int64_t c = 0; c < sp.C; ++c) m += x[size_t((i * sp.C + c) * sp.post + j)];
      m /= double(sp.C);
      for (int64_t c = 0; c < sp.C; ++c) {
        double d = x[size_t((i * sp.C + c) * sp.post + j)] - m;
        v += d * d;
      }
      v /= double(sp.C);
      for (int64_t c = 0; c < sp.C; ++c) {
        size_t k = size_t((i * sp.C + c) * sp.post + j);
        y[k] = (x[k] - m) / std::sqrt(v + eps) * gamma[size_t(c)] + beta[size_t(c)];
      }
    }
  return y;
}

std::vector<double> mix(const std::vector<double>& old, const std::vector<double>& batch, double momentum) {
  std::vector<double> r(old.size());
  for (size_t i = 0; i < r.size(); ++i) r[i] = old[i] * momentum + batch[i] * (1 - momentum);
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// BatchNorm

MIXT_DEVICE_TEST("BatchNorm: training normalizes with batch statistics and updates the moving statistics") {
  auto ctx = Device::ctx();
  const Shape s{4, 3, 2, 5};
  auto xv = stored(random_values(120, -2, 3, 1));
  auto gv = stored(random_values(3, 0.5, 2, 2)), bv = stored(random_values(3, -1, 1, 3));
  auto mmv = stored(random_values(3, -0.5, 0.5, 4)), mvv = stored(random_values(3, 0.5, 1.5, 5));
  for (bool fix_gamma : {false, true}) {
    CAPTURE(fix_gamma);
    NDArray x = nd::array(xv, s, ctx), gamma = nd::array(gv, Shape{3}, ctx), beta = nd::array(bv, Shape{3}, ctx);
    NDArray mm = nd::array(mmv, Shape{3}, ctx), mv = nd::array(mvv, Shape{3}, ctx);
    op::BatchNorm::Param p{.eps = 1e-3, .momentum = 0.9f, .fix_gamma = fix_gamma, .output_mean_var = true};
    auto out = op::invoke<op::BatchNorm>(p, {x, gamma, beta}, {mm, mv}, true);
    REQUIRE(out.size() == 3);
    BnRef r = bn_ref(xv, s, 1, gv, bv, mmv, mvv, 1e-3, true, fix_gamma);
    check_close(out[0], r.y, 1e-4, 1e-5);
    check_close(out[1], r.mean, 1e-5, 1e-6);
    // MXNet's 'var' output is the inverse standard deviation.
    std::vector<double> invstd;
    for (double v : r.var) invstd.push_back(1 / std::sqrt(v + 1e-3));
    check_close(out[2], invstd, 1e-4, 1e-6);
    auto mm1 = mix(mmv, r.mean, 0.9), mv1 = mix(mvv, r.var, 0.9);
    check_close(mm, mm1, 1e-5, 1e-6);
    check_close(mv, mv1, 1e-5, 1e-6);
    // nd::BatchNorm outside train mode reads the moving statistics and leaves them alone.
    NDArray y2 = nd::BatchNorm(x, gamma, beta, mm, mv, {.momentum = 0.5f, .fix_gamma = fix_gamma});
    check_close(y2, bn_ref(xv, s, 1, gv, bv, mm1, mv1, 1e-3, false, fix_gamma).y, 1e-4, 1e-5);
    check_close(mm, mm1, 1e-5, 1e-6);
    {  // In train mode it mixes again, from the updated values.
      autograd::train_mode tm;
      NDArray y3 = nd::BatchNorm(x, gamma, beta, mm, mv, {.momentum = 0.5f, .fix_gamma = fix_gamma});
      check_close(y3, r.y, 1e-4, 1e-5);
    }
    check_close(mm, mix(mm1, r.mean, 0.5), 1e-5, 1e-6);
    check_close(mv, mix(mv1, r.var, 0.5), 1e-5, 1e-6);
    // fix_gamma writes 1 into gamma, as MXNet's forward does; otherwise gamma is left alone.
    check_close(gamma, fix_gamma ? std::vector<double>(3, 1.0) : gv, 0, 0);
  }
}

MIXT_DEVICE_TEST("BatchNorm: predict mode and use_global_stats use the moving statistics without updating them") {
  auto ctx = Device::ctx();
  const Shape s{5, 4, 3};
  auto xv = stored(random_values(60, -2, 2, 11));
  auto gv = stored(random_values(4, 0.5, 2, 12)), bv = stored(random_values(4, -1, 1, 13));
  auto mmv = stored(random_values(4, -0.5, 0.5, 14)), mvv = stored(random_values(4, 0.5, 1.5, 15));
  NDArray x = nd::array(xv, s, ctx), gamma = nd::array(gv, Shape{4}, ctx), beta = nd::array(bv, Shape{4}, ctx);
  NDArray mm = nd::array(mmv, Shape{4}, ctx), mv = nd::array(mvv, Shape{4}, ctx);
  BnRef r = bn_ref(xv, s, 1, gv, bv, mmv, mvv, 0.01, false, false);
  // Predict mode.
  auto out = op::invoke<op::BatchNorm>({.eps = 0.01, .fix_gamma = false, .output_mean_var = true}, {x, gamma, beta},
                                       {mm, mv}, false);
  check_close(out[0], r.y, 1e-4, 1e-5);
  check_close(out[1], mmv, 0, 0);
  std::vector<double> invstd;
  for (double v : mvv) invstd.push_back(1 / std::sqrt(v + 0.01));
  check_close(out[2], invstd, 1e-5, 1e-6);
  // Train mode with use_global_stats.
  NDArray y = op::invoke<op::BatchNorm>({.eps = 0.01, .fix_gamma = false, .use_global_stats = true}, {x, gamma, beta},
                                        {mm, mv}, true)[0];
  check_close(y, r.y, 1e-4, 1e-5);
  check_close(mm, mmv, 0, 0);
  check_close(mv, mvv, 0, 0);
  // fix_gamma (the default) reads gamma as 1.
  NDArray y1 = nd::BatchNorm(x, gamma, beta, mm, mv, {.eps = 0.01});
  check_close(y1, bn_ref(xv, s, 1, gv, bv, mmv, mvv, 0.01, false, true).y, 1e-4, 1e-5);
  // MXNet's defaults.
  op::BatchNorm::Param d;
  CHECK(d.eps == 1e-3);
  CHECK(d.momentum == 0.9f);
  CHECK(d.fix_gamma);
  CHECK_FALSE(d.use_global_stats);
  CHECK_FALSE(d.output_mean_var);
  CHECK(d.axis == 1);
  CHECK(op::BatchNorm::outputs(d) == std::vector<std::string>{"output"});
  CHECK(op::BatchNorm::aux_states(d) == std::vector<std::string>{"moving_mean", "moving_var"});
  CHECK(op::to_attrs(d).at("fix_gamma") == "True");
}

MIXT_DEVICE_TEST("BatchNorm: axis other than 1") {
  auto ctx = Device::ctx();
  const Shape s{3, 4, 5};
  auto xv = stored(random_values(60, -2, 2, 21));
  for (int axis : {-1, 0, 2}) {
    CAPTURE(axis);
    const int a = axis < 0 ? axis + 3 : axis;
    const int64_t C = s[a];
    auto gv = stored(random_values(size_t(C), 0.5, 2, 22)), bv = stored(random_values(size_t(C), -1, 1, 23));
    std::vector<double> mmv(size_t(C), 0.0), mvv(size_t(C), 1.0);
    NDArray x = nd::array(xv, s, ctx), gamma = nd::array(gv, Shape{C}, ctx), beta = nd::array(bv, Shape{C}, ctx);
    NDArray mm = nd::zeros(Shape{C}, ctx), mv = nd::ones(Shape{C}, ctx);
    op::BatchNorm::Param p{.fix_gamma = false, .axis = axis};
    NDArray y = op::invoke<op::BatchNorm>(p, {x, gamma, beta}, {mm, mv}, true)[0];
    BnRef r = bn_ref(xv, s, a, gv, bv, mmv, mvv, 1e-3, true, false);
    check_close(y, r.y, 1e-4, 1e-5);
    check_close(mm, mix(mmv, r.mean, 0.9), 1e-5, 1e-6);
    check_close(mv, mix(mvv, r.var, 0.9), 1e-5, 1e-6);
    check_grad<op::BatchNorm>(p, {x, gamma, beta}, {}, true, {mm, mv});
  }
}

MIXT_DEVICE_TEST("BatchNorm: backward matches finite differences") {
  auto ctx = Device::ctx();
  const Shape s{3, 2, 4};
  NDArray x = nd::array(stored(random_values(24, -2, 2, 31)), s, ctx);
  NDArray gamma = nd::array(stored(random_values(2, 0.5, 2, 32)), Shape{2}, ctx);
  NDArray beta = nd::array(stored(random_values(2, -1, 1, 33)), Shape{2}, ctx);
  NDArray mm = nd::array(stored(random_values(2, -0.5, 0.5, 34)), Shape{2}, ctx);
  NDArray mv = nd::array(stored(random_values(2, 0.5, 1.5, 35)), Shape{2}, ctx);
  test::GradCheckOptions o{.eps = 1e-3, .rtol = 2e-2, .atol = 2e-3};
  SUBCASE("training, learned gamma") { check_grad<op::BatchNorm>({.fix_gamma = false}, {x, gamma, beta}, {}, true, {mm, mv}, o); }
  SUBCASE("training, fix_gamma") { check_grad<op::BatchNorm>({}, {x, gamma, beta}, {}, true, {mm, mv}, o); }
  SUBCASE("predict") { check_grad<op::BatchNorm>({.fix_gamma = false}, {x, gamma, beta}, {}, false, {mm, mv}, o); }
  SUBCASE("use_global_stats") {
    check_grad<op::BatchNorm>({.fix_gamma = false, .use_global_stats = true}, {x, gamma, beta}, {}, true, {mm, mv}, o);
  }
  SUBCASE("fix_gamma gives gamma a zero gradient, and the check left the moving statistics alone") {
    auto mm0 = mm.to_vector<double>();
    auto out = op::invoke<op::BatchNorm>({}, {x, gamma, beta}, {mm.copy(), mv.copy()}, true);
    std::vector<NDArray> ig = {nd::zeros(s, ctx), nd::full(Shape{2}, 5.f, ctx), nd::zeros(Shape{2}, ctx)};
    std::vector<NDArray> og = {nd::ones(s, ctx), nd::zeros(Shape{2}, ctx), nd::zeros(Shape{2}, ctx)};
    op::BatchNorm::backward({}, {true, {}}, og, {x, gamma, beta}, out,
                            {op::Req::write, op::Req::write, op::Req::write}, ig, {mm, mv});
    check_close(ig[1], {0, 0}, 0, 0);
    check_close(ig[2], {12, 12}, 1e-6, 1e-6);
    // A constant head gradient has no effect on normalized data.
    check_close(ig[0], std::vector<double>(24, 0.0), 0, 1e-5);
    check_grad<op::BatchNorm>({}, {x, gamma, beta}, {}, true, {mm, mv}, o);
    check_close(mm, mm0, 0, 0);
  }
}

TEST_CASE("BatchNorm: shape inference, partial shapes and errors") {
  using BN = op::BatchNorm;
  BN::Param p;
  {
    std::vector<Shape> in{Shape{8, 3, 4, 4}, Shape{}, Shape{}}, out(3), aux(2);
    BN::infer_shape(p, in, out, aux);
    CHECK(in[1] == Shape{3});
    CHECK(in[2] == Shape{3});
    CHECK(aux[0] == Shape{3});
    CHECK(aux[1] == Shape{3});
    CHECK(out[0] == Shape{8, 3, 4, 4});
    CHECK(out[1] == Shape{3});
    CHECK(out[2] == Shape{3});
  }
  {  // The channel extent comes from gamma when data's is unknown.
    std::vector<Shape> in{Shape{0, 0, 5}, Shape{7}, Shape{}}, out(3), aux(2);
    BN::infer_shape(p, in, out, aux);
    CHECK(in[0] == Shape{0, 7, 5});
    CHECK(in[2] == Shape{7});
    CHECK(aux[1] == Shape{7});
    CHECK(out[0] == Shape{0, 7, 5});
  }
  {  // Unknown data: the per-channel shapes still agree with each other.
    std::vector<Shape> in{Shape{}, Shape{}, Shape{6}}, out(3), aux(2);
    BN::infer_shape(p, in, out, aux);
    CHECK(in[0].ndim() == 0);
    CHECK(in[1] == Shape{6});
    CHECK(aux[0] == Shape{6});
  }
  {  // axis = -1
    std::vector<Shape> in{Shape{2, 3, 9}, Shape{}, Shape{}}, out(3), aux(2);
    BN::infer_shape({.axis = -1}, in, out, aux);
    CHECK(in[1] == Shape{9});
  }
  std::vector<Shape> aux(2), out(3);
  std::vector<Shape> bad{Shape{2, 3}, Shape{4}, Shape{}};
  expect_error([&] { BN::infer_shape(p, bad, out, aux); }, {"BatchNorm", "gamma"});
  std::vector<Shape> in{Shape{2, 3}, Shape{}, Shape{}};
  expect_error([&] { BN::infer_shape({.axis = 2}, in, out, aux); }, {"BatchNorm", "axis"});
  expect_error([&] { BN::infer_shape({.eps = -1}, in, out, aux); }, {"BatchNorm", "eps"});
  expect_error([&] { BN::infer_shape({.momentum = 2}, in, out, aux); }, {"BatchNorm", "momentum"});
  NDArray x = nd::zeros(Shape{2, 3}), g = nd::ones(Shape{3}), b = nd::zeros(Shape{3});
  expect_error([&] { op::invoke<op::BatchNorm>(p, {x, g, b}); }, {"BatchNorm", "auxiliary"});
  expect_error([&] { nd::BatchNorm(x, g, b, nd::zeros(Shape{3}), nd::zeros(Shape{4})); }, {"BatchNorm", "moving_var"});
  expect_error([&] { nd::BatchNorm(x, g, nd::zeros(Shape{2}), nd::zeros(Shape{3}), nd::ones(Shape{3})); },
               {"BatchNorm", "beta"});
  // Every input and moving statistic has the data's dtype, named when not (fix_gamma ignores gamma's values,
  // not its dtype).
  NDArray f64 = nd::ones(Shape{3}, cpu(), DType::float64);
  expect_error([&] { nd::BatchNorm(x, f64, b, nd::zeros(Shape{3}), nd::ones(Shape{3})); },
               {"BatchNorm", "argument 'gamma'", "expected dtype float32", "float64"});
  expect_error([&] { nd::BatchNorm(x, g, b, f64, nd::ones(Shape{3}), {.fix_gamma = false}); },
               {"BatchNorm", "auxiliary state 'moving_mean'", "float64"});
  // Attributes as strings.
  BN::Param q = op::parse_attrs<BN::Param>("BatchNorm", {{"eps", "0.01"}, {"fix_gamma", "False"}, {"axis", "-1"}});
  CHECK(q.eps == 0.01);
  CHECK_FALSE(q.fix_gamma);
  CHECK(q.axis == -1);
  // min/max_calib_range (a quantized graph's output range) are read and change nothing, as in MXNet's float
  // BatchNorm.
  BN::Param calib = op::parse_attrs<BN::Param>(
      "BatchNorm", {{"fix_gamma", "False"}, {"min_calib_range", "-1.5"}, {"max_calib_range", "None"}});
  CHECK(calib.min_calib_range == std::optional<float>(-1.5f));
  CHECK_FALSE(calib.max_calib_range.has_value());
  NDArray xr = nd::array(stored(random_values(12, -2, 2, 31)), Shape{4, 3});
  NDArray gr = nd::array(stored(random_values(3, 0.5, 2, 32)), Shape{3});
  const NDArray plain = nd::BatchNorm(xr, gr, b, nd::zeros(Shape{3}), nd::ones(Shape{3}), {.fix_gamma = false});
  check_close(nd::BatchNorm(xr, gr, b, nd::zeros(Shape{3}), nd::ones(Shape{3}), calib), plain.to_vector<double>(),
              0, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// LayerNorm

MIXT_DEVICE_TEST("LayerNorm: forward against a double loop, backward against finite differences") {
  auto ctx = Device::ctx();
  const Shape s{3, 4, 5};
  auto xv = stored(random_values(60, -2, 2, 41));
  for (int axis : {-1, 1, 0}) {
    CAPTURE(axis);
    const int a = axis < 0 ? axis + 3 : axis;
    const int64_t C = s[a];
    auto gv = stored(random_values(size_t(C), 0.5, 2, 42)), bv = stored(random_values(size_t(C), -1, 1, 43));
    NDArray x = nd::array(xv, s, ctx), gamma = nd::array(gv, Shape{C}, ctx), beta = nd::array(bv, Shape{C}, ctx);
    op::LayerNorm::Param p{.axis = axis};
    check_close(nd::LayerNorm(x, gamma, beta, p), ln_ref(xv, s, a, gv, bv, 1e-5), 1e-4, 1e-5);
    auto out = op::invoke<op::LayerNorm>({.axis = axis, .eps = 0.1f, .output_mean_var = true}, {x, gamma, beta});
    REQUIRE(out.size() == 3);
    Shape stat = s;
    stat[a] = 1;
    CHECK(out[1].shape() == stat);
    CHECK(out[2].shape() == stat);
    check_close(out[0], ln_ref(xv, s, a, gv, bv, 0.1), 1e-4, 1e-5);
    // mean and std: the per-item statistics.
    Split sp(s, a);
    std::vector<double> mean, sd;
    for (int64_t i = 0; i < sp.pre; ++i)
      for (int64_t j = 0; j < sp.post; ++j) {
        double m = 0, v = 0;
        for (int64_t c = 0; c < C; ++c) m += xv[size_t((i * C + c) * sp.post + j)] / double(C);
        for (int64_t c = 0; c < C; ++c) v += std::pow(xv[size_t((i * C + c) * sp.post + j)] - m, 2) / double(C);
        mean.push_back(m);
        sd.push_back(std::sqrt(v + 0.1));
      }
    check_close(out[1], mean, 1e-5, 1e-6);
    check_close(out[2], sd, 1e-5, 1e-6);
    check_grad<op::LayerNorm>(p, {x, gamma, beta}, {}, true, {}, {.rtol = 2e-2, .atol = 2e-3});
  }
  op::LayerNorm::Param d;
  CHECK(d.axis == -1);
  CHECK(d.eps == 1e-5f);
  CHECK_FALSE(d.output_mean_var);
}

TEST_CASE("LayerNorm: shape inference, partial shapes and errors") {
  using LN = op::LayerNorm;
  std::vector<Shape> aux;
  {
    std::vector<Shape> in{Shape{2, 3, 8}, Shape{}, Shape{}}, out(3);
    LN::infer_shape({}, in, out, aux);
    CHECK(in[1] == Shape{8});
    CHECK(in[2] == Shape{8});
    CHECK(out[0] == Shape{2, 3, 8});
    CHECK(out[1] == Shape{2, 3, 1});
    CHECK(out[2] == Shape{2, 3, 1});
  }
  {
    std::vector<Shape> in{Shape{2, 0}, Shape{6}, Shape{}}, out(3);
    LN::infer_shape({}, in, out, aux);
    CHECK(in[0] == Shape{2, 6});
    CHECK(in[2] == Shape{6});
  }
  {
    std::vector<Shape> in{Shape{}, Shape{}, Shape{6}}, out(3);
    LN::infer_shape({}, in, out, aux);
    CHECK(in[1] == Shape{6});
    CHECK(in[0].ndim() == 0);
  }
  std::vector<Shape> out(3);
  std::vector<Shape> bad{Shape{2, 3}, Shape{2}, Shape{}};
  expect_error([&] { LN::infer_shape({}, bad, out, aux); }, {"LayerNorm", "gamma"});
  std::vector<Shape> in{Shape{2, 3}, Shape{}, Shape{}};
  expect_error([&] { LN::infer_shape({.axis = -3}, in, out, aux); }, {"LayerNorm", "axis"});
  expect_error([&] { nd::LayerNorm(nd::zeros(Shape{2, 3}), nd::ones(Shape{3}), nd::zeros(Shape{4})); },
               {"LayerNorm", "beta"});
  expect_error([&] { nd::LayerNorm(nd::zeros(Shape{2, 3}), nd::ones(Shape{3}, cpu(), DType::float16),
                                   nd::zeros(Shape{3})); },
               {"LayerNorm", "argument 'gamma'", "float16"});
}

// ---------------------------------------------------------------------------------------------------------------
// Embedding

MIXT_DEVICE_TEST("Embedding: lookup with clipped indices, weight gradient as a scatter-add") {
  auto ctx = Device::ctx();
  const int64_t K = 5, D = 3;
  // Repeated indices, fractions (truncated), and out-of-range ones (clipped to 0 and K - 1).
  std::vector<double> iv = {0, 4, 2, 2, 7, -3, 1.9, 4.5, 2, 0.2, 100, -0.7};
  auto wv = stored(random_values(size_t(K * D), -1, 1, 51));
  NDArray data = nd::array(iv, Shape{3, 4}, ctx), weight = nd::array(wv, Shape{K, D}, ctx);
  op::Embedding::Param p{.input_dim = int(K), .output_dim = int(D)};
  NDArray y = nd::Embedding(data, weight, p);
  CHECK(y.shape() == Shape{3, 4, D});
  auto row = [&](double v) { return v <= 0 ? int64_t(0) : v >= double(K - 1) ? K - 1 : int64_t(v); };
  std::vector<double> want;
  for (double v : iv)
    for (int64_t c = 0; c < D; ++c) want.push_back(wv[size_t(row(v) * D + c)]);
  check_close(y, want, 0, 0);
  // Backward: a scatter-add of the head gradient's rows, data gets zeros.
  auto hv = stored(random_values(size_t(12 * D), -1, 1, 52));
  NDArray head = nd::array(hv, Shape{3, 4, D}, ctx);
  std::vector<double> dw(size_t(K * D), 0.0);
  for (size_t n = 0; n < iv.size(); ++n)
    for (int64_t c = 0; c < D; ++c) dw[size_t(row(iv[n]) * D + c)] += hv[n * size_t(D) + size_t(c)];
  std::vector<NDArray> ig = {nd::full(Shape{3, 4}, 9.f, ctx), nd::ones(Shape{K, D}, ctx)};
  op::Embedding::backward(p, {}, {head}, {data, weight}, {y}, {op::Req::write, op::Req::add}, ig, {});
  std::vector<double> dw1 = dw;
  for (auto& v : dw1) v += 1;
  check_close(ig[1], dw1, 1e-5, 1e-6);
  check_close(ig[0], std::vector<double>(12, 0.0), 0, 0);
  op::Embedding::backward(p, {}, {head}, {data, weight}, {y}, {op::Req::null, op::Req::write}, ig, {});
  check_close(ig[1], dw, 1e-5, 1e-6);
  // Finite differences on the weight (indices away from the truncation points).
  NDArray idx2 = nd::array({3, 1, 1, 0, 4, 3}, Shape{6}, ctx);
  check_grad<op::Embedding>(p, {idx2, weight}, {false, true});
  // Under autograd.
  weight.attach_grad();
  {
    autograd::record rec;
    NDArray z = nd::Embedding(data, weight, p);
    z.backward(head);
  }
  check_close(weight.grad(), dw, 1e-5, 1e-6);
  // float64 weights with dtype = float64.
  NDArray w64 = nd::array(wv, Shape{K, D}, ctx, DType::float64);
  NDArray y64 = nd::Embedding(nd::array(iv, Shape{12}, ctx, DType::float64), w64,
                              {.input_dim = int(K), .output_dim = int(D), .dtype = "float64"});
  check_close(y64, want, 0, 0);
  // Indices of any dtype (MXNet casts them; Gluon feeds int32 or int64); the output has the weight's dtype.
  const std::vector<double> whole = {0, 4, 2, 2, 7, -3, 1, 4, 2, 0, 100, 0};
  std::vector<double> want_whole;
  for (double v : whole)
    for (int64_t c = 0; c < D; ++c) want_whole.push_back(wv[size_t(row(v) * D + c)]);
  for (DType t : {DType::int32, DType::int64, DType::float16, DType::int8}) {
    CAPTURE(dtype_name(t));
    NDArray yt = nd::Embedding(nd::array(whole, Shape{3, 4}, ctx, t), weight, p);
    CHECK(yt.dtype() == DType::float32);
    check_close(yt, want_whole, 0, 0);
  }
  NDArray u8 = nd::Embedding(nd::array({0, 1, 4, 200}, Shape{4}, ctx, DType::uint8), w64,
                             {.input_dim = int(K), .output_dim = int(D), .dtype = "float64"});
  CHECK(u8.dtype() == DType::float64);
  std::vector<double> want_u8;
  for (double v : {0.0, 1.0, 4.0, 200.0})
    for (int64_t c = 0; c < D; ++c) want_u8.push_back(wv[size_t(row(v) * D + c)]);
  check_close(u8, want_u8, 0, 0);
  // The weight's gradient from int32 indices under autograd.
  {
    autograd::record rec;
    NDArray z = nd::Embedding(data.astype(DType::int32), weight, p);
    z.backward(head);
  }
  std::vector<double> dw_whole(size_t(K * D), 0.0);
  for (size_t n = 0; n < whole.size(); ++n)
    for (int64_t c = 0; c < D; ++c) dw_whole[size_t(row(whole[n]) * D + c)] += hv[n * size_t(D) + size_t(c)];
  check_close(weight.grad(), dw_whole, 1e-5, 1e-6);
}

MIXT_DEVICE_TEST("Embedding and take: gradients over many repeated indices match a scatter-add loop") {
  // 2000 positions reading 300 rows (some rows many times, some never), the index groups found by binary search.
  auto ctx = Device::ctx();
  const int64_t rows = 300, D = 4, m = 2000;
  std::vector<double> iv(static_cast<size_t>(m));
  for (size_t n = 0; n < iv.size(); ++n) iv[n] = double((n * n * 31 + n * 7) % 257 + (n % 5 == 0 ? 40 : 0));
  auto hv = stored(random_values(size_t(m * D), -1, 1, 61));
  std::vector<double> want(size_t(rows * D), 0.0);
  for (size_t n = 0; n < iv.size(); ++n)
    for (int64_t c = 0; c < D; ++c) want[size_t(int64_t(iv[n]) * D + c)] += hv[n * size_t(D) + size_t(c)];
  NDArray weight = nd::zeros(Shape{rows, D}, ctx), head = nd::array(hv, Shape{m, D}, ctx);
  const op::Embedding::Param p{.input_dim = int(rows), .output_dim = int(D)};
  std::vector<NDArray> ig = {NDArray(Shape{m}, ctx), NDArray(Shape{rows, D}, ctx)};
  op::Embedding::backward(p, {}, {head}, {nd::array(iv, Shape{m}, ctx), weight}, {}, {op::Req::null, op::Req::write}, ig,
                          {});
  check_close(ig[1], want, 1e-5, 1e-5);
  // take along axis 0 routes the same gradient.
  std::vector<NDArray> tg = {NDArray(Shape{rows, D}, ctx), NDArray(Shape{m}, ctx)};
  op::Take::backward({}, {}, {head}, {weight, nd::array(iv, Shape{m}, ctx, DType::int32)}, {},
                     {op::Req::write, op::Req::null}, tg, {});
  check_close(tg[0], want, 1e-5, 1e-5);
}

TEST_CASE("Embedding: shape inference, partial shapes and errors") {
  using E = op::Embedding;
  std::vector<Shape> aux;
  E::Param p{.input_dim = 10, .output_dim = 4};
  {
    std::vector<Shape> in{Shape{2, 7}, Shape{}}, out(1);
    E::infer_shape(p, in, out, aux);
    CHECK(in[1] == Shape{10, 4});
    CHECK(out[0] == Shape{2, 7, 4});
  }
  {
    std::vector<Shape> in{Shape{0, 3}, Shape{}}, out(1);
    E::infer_shape(p, in, out, aux);
    CHECK(out[0] == Shape{0, 3, 4});
  }
  {
    std::vector<Shape> in{Shape{}, Shape{}}, out{Shape{5, 0}};
    E::infer_shape(p, in, out, aux);
    CHECK(in[0] == Shape{5});
    CHECK(out[0] == Shape{5, 4});
  }
  std::vector<Shape> out(1);
  std::vector<Shape> bad{Shape{3}, Shape{10, 5}};
  expect_error([&] { E::infer_shape(p, bad, out, aux); }, {"Embedding", "weight"});
  std::vector<Shape> in{Shape{3}, Shape{}};
  expect_error([&] { E::infer_shape({.input_dim = 0, .output_dim = 4}, in, out, aux); }, {"Embedding", "input_dim"});
  expect_error([&] { E::infer_shape({.input_dim = 3, .output_dim = 0}, in, out, aux); }, {"Embedding", "output_dim"});
  expect_error([&] { E::infer_shape({.input_dim = 3, .output_dim = 2, .dtype = "float7"}, in, out, aux); },
               {"Embedding", "dtype"});
  expect_error([&] { nd::Embedding(nd::zeros(Shape{3}), nd::zeros(Shape{10, 4}, cpu(), DType::float64), p); },
               {"Embedding", "weight", "float64"});
}

// ---------------------------------------------------------------------------------------------------------------
// Dropout

MIXT_DEVICE_TEST("Dropout: identity in predict mode; in train mode a seeded mask scaled by 1 / (1 - p)") {
  auto ctx = Device::ctx();
  const Shape s{40, 50};
  auto xv = stored(random_values(2000, 0.5, 2, 61));
  NDArray x = nd::array(xv, s, ctx);
  // Predict mode: the identity, also through nd::Dropout outside any scope.
  check_close(op::invoke<op::Dropout>({.p = 0.7f}, {x}, {}, false)[0], xv, 0, 0);
  check_close(nd::Dropout(x), xv, 0, 0);
  for (float p : {0.5f, 0.3f, 0.8f}) {
    CAPTURE(p);
    const float scale = float(1.0 / (1.0 - double(p)));
    mixt::random::seed(123);
    auto out = op::invoke<op::Dropout>({.p = p}, {x}, {}, true);
    REQUIRE(out.size() == 2);
    auto y = out[0].to_vector<double>(), m = out[1].to_vector<double>();
    size_t kept = 0;
    bool exact = true;
    for (size_t i = 0; i < y.size(); ++i) {
      if (y[i] != 0) {
        ++kept;
        exact = exact && y[i] == double(float(xv[i]) * scale) && m[i] == double(scale);
      } else {
        exact = exact && m[i] == 0;
      }
    }
    CHECK(exact);
    const double frac = double(kept) / double(y.size());
    CHECK(std::abs(frac - (1 - p)) < 0.04);  // 2000 draws: the standard deviation is about 0.011
    // The same seed gives the same mask; the stream moves on otherwise.
    mixt::random::seed(123);
    check_close(op::invoke<op::Dropout>({.p = p}, {x}, {}, true)[0], y, 0, 0);
    CHECK(op::invoke<op::Dropout>({.p = p}, {x}, {}, true)[0].to_vector<double>() != y);
    // Backward multiplies by the saved mask.
    auto hv = stored(random_values(2000, -1, 1, 62));
    std::vector<NDArray> ig = {nd::zeros(s, ctx)};
    op::Dropout::backward({.p = p}, {true, {}}, {nd::array(hv, s, ctx), nd::zeros(s, ctx)}, {x}, out,
                          {op::Req::write}, ig, {});
    std::vector<double> want(2000);
    for (size_t i = 0; i < want.size(); ++i) want[i] = double(float(hv[i]) * float(m[i]));
    check_close(ig[0], want, 0, 0);
  }
  // mode 'always' drops in predict mode too; p = 0 keeps everything, p = 1 drops everything.
  auto ya = op::invoke<op::Dropout>({.mode = "always"}, {x}, {}, false)[0].to_vector<double>();
  CHECK(std::count(ya.begin(), ya.end(), 0.0) > 800);
  check_close(op::invoke<op::Dropout>({.p = 0}, {x}, {}, true)[0], xv, 0, 0);
  check_close(op::invoke<op::Dropout>({.p = 1}, {x}, {}, true)[0], std::vector<double>(2000, 0.0), 0, 0);
}

MIXT_DEVICE_TEST("Dropout: axes share the mask along those axes") {
  auto ctx = Device::ctx();
  const Shape s{6, 30, 4};
  NDArray x = nd::ones(s, ctx);
  auto y = op::invoke<op::Dropout>({.p = 0.5f, .axes = {0, -1}}, {x}, {}, true)[0].to_vector<double>();
  size_t kept = 0;
  bool shared = true;
  for (int64_t j = 0; j < 30; ++j) {
    double first = y[size_t(j * 4)];
    kept += first != 0;
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t k = 0; k < 4; ++k) shared = shared && y[size_t((i * 30 + j) * 4 + k)] == first;
    CHECK((first == 0 || first == 2));
  }
  CHECK(shared);
  CHECK(kept > 3);
  CHECK(kept < 27);
}

TEST_CASE("Dropout: attributes, shape inference and errors") {
  using DO = op::Dropout;
  DO::Param d;
  CHECK(d.p == 0.5f);
  CHECK(d.mode == "training");
  CHECK(d.axes.empty());
  CHECK(DO::outputs(d) == std::vector<std::string>{"output"});
  std::vector<Shape> aux;
  {
    std::vector<Shape> in{Shape{}}, out{Shape{3, 0}, Shape{}};
    DO::infer_shape(d, in, out, aux);
    CHECK(in[0] == Shape{3, 0});
    CHECK(out[1] == Shape{3, 0});
  }
  std::vector<Shape> in{Shape{3, 4}}, out(2);
  expect_error([&] { DO::infer_shape({.p = 1.5f}, in, out, aux); }, {"Dropout", "'p'"});
  expect_error([&] { DO::infer_shape({.mode = "sometimes"}, in, out, aux); }, {"Dropout", "mode"});
  expect_error([&] { DO::infer_shape({.axes = {2}}, in, out, aux); }, {"Dropout", "axes"});
  DO::Param q = op::parse_attrs<DO::Param>("Dropout", {{"p", "0.25"}, {"axes", "(0, 2)"}, {"mode", "always"}});
  CHECK(q.p == 0.25f);
  CHECK(q.axes == op::IntTuple{0, 2});
  CHECK(q.mode == "always");
}

// ---------------------------------------------------------------------------------------------------------------
// Under autograd

MIXT_DEVICE_TEST("autograd: Dropout drops under record() and train_mode, not under predict_mode") {
  auto ctx = Device::ctx();
  const Shape s{20, 25};
  auto xv = stored(random_values(500, 0.5, 2, 71)), hv = stored(random_values(500, -1, 1, 72));
  NDArray x = nd::array(xv, s, ctx), head = nd::array(hv, s, ctx);
  x.attach_grad();
  NDArray y;
  {
    autograd::record rec;  // train mode
    y = nd::Dropout(x, {.p = 0.4f}) * 3.f;
  }
  y.backward(head);
  auto yv = y.to_vector<double>(), g = x.grad().to_vector<double>();
  const float scale = float(1.0 / 0.6);
  size_t dropped = 0;
  bool ok = true;
  for (size_t i = 0; i < 500; ++i) {
    const bool kept = yv[i] != 0;
    dropped += !kept;
    // y = 3 * x * mask, dx = 3 * head * mask: the same mask in both.
    ok = ok && (kept ? std::abs(g[i] - 3.0 * hv[i] * scale) < 1e-5 : g[i] == 0);
  }
  CHECK(ok);
  CHECK(dropped > 140);
  CHECK(dropped < 260);
  {
    autograd::record rec;
    autograd::predict_mode pm;
    y = nd::Dropout(x, {.p = 0.4f}) * 3.f;
  }
  y.backward(head);
  check_close(y, [&] { auto v = xv; for (auto& e : v) e *= 3; return v; }(), 1e-6, 0);
  check_close(x.grad(), [&] { auto v = hv; for (auto& e : v) e *= 3; return v; }(), 1e-6, 1e-7);
  {
    autograd::record rec(false);  // predict mode while recording
    y = nd::Dropout(x);
  }
  check_close(y, xv, 0, 0);
  {
    autograd::train_mode tm;  // train mode without recording
    auto v = nd::Dropout(x).to_vector<double>();
    CHECK(std::count(v.begin(), v.end(), 0.0) > 150);
  }
}

MIXT_DEVICE_TEST("autograd: BatchNorm uses batch statistics under record() and moving ones under predict_mode") {
  auto ctx = Device::ctx();
  const Shape s{4, 3, 2};
  auto xv = stored(random_values(24, -2, 2, 81)), hv = stored(random_values(24, -1, 1, 82));
  auto gv = stored(random_values(3, 0.5, 2, 83)), bv = stored(random_values(3, -1, 1, 84));
  auto mmv = stored(random_values(3, -0.5, 0.5, 85)), mvv = stored(random_values(3, 0.5, 1.5, 86));
  NDArray x = nd::array(xv, s, ctx), gamma = nd::array(gv, Shape{3}, ctx), beta = nd::array(bv, Shape{3}, ctx);
  NDArray mm = nd::array(mmv, Shape{3}, ctx), mv = nd::array(mvv, Shape{3}, ctx), head = nd::array(hv, s, ctx);
  x.attach_grad();
  gamma.attach_grad();
  beta.attach_grad();
  const op::BatchNorm::Param p{.fix_gamma = false};
  // Finite differences of sum(head * bn(x, gamma, beta)) on the double reference.
  auto objective = [&](const std::vector<double>& x_, const std::vector<double>& g_, const std::vector<double>& b_,
                       bool batch) {
    auto y = bn_ref(x_, s, 1, g_, b_, mmv, mvv, 1e-3, batch, false).y;
    double r = 0;
    for (size_t i = 0; i < y.size(); ++i) r += y[i] * hv[i];
    return r;
  };
  auto fd = [&](int which, bool batch) {
    std::vector<double> v = which == 0 ? xv : which == 1 ? gv : bv, d(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      auto vp = v, vm = v;
      vp[i] += 1e-4;
      vm[i] -= 1e-4;
      auto f = [&](const std::vector<double>& w) {
        return objective(which == 0 ? w : xv, which == 1 ? w : gv, which == 2 ? w : bv, batch);
      };
      d[i] = (f(vp) - f(vm)) / 2e-4;
    }
    return d;
  };
  for (bool train : {true, false}) {
    CAPTURE(train);
    NDArray y;
    {
      autograd::record rec(train);
      y = nd::BatchNorm(x, gamma, beta, mm, mv, p);
    }
    check_close(y, bn_ref(xv, s, 1, gv, bv, mmv, mvv, 1e-3, train, false).y, 1e-4, 1e-5);
    y.backward(head);
    check_close(x.grad(), fd(0, train), 1e-3, 1e-4);
    check_close(gamma.grad(), fd(1, train), 1e-3, 1e-4);
    check_close(beta.grad(), fd(2, train), 1e-3, 1e-4);
    if (train) {
      BnRef r = bn_ref(xv, s, 1, gv, bv, mmv, mvv, 1e-3, true, false);
      check_close(mm, mix(mmv, r.mean, 0.9), 1e-5, 1e-6);
      check_close(mv, mix(mvv, r.var, 0.9), 1e-5, 1e-6);
      mm.assign(nd::array(mmv, Shape{3}, ctx));  // back to the values the reference reads
      mv.assign(nd::array(mvv, Shape{3}, ctx));
    } else {
      check_close(mm, mmv, 0, 0);
      check_close(mv, mvv, 0, 0);
    }
  }
}

TEST_CASE("BatchNorm: eps must be positive; with fix_gamma the backward ignores what gamma holds") {
  NDArray x = nd::array<double>({1, 2, 3, 4}, Shape{2, 2}, cpu());
  NDArray g = nd::full(Shape{2}, 2.0, cpu()), b = nd::zeros(Shape{2}, cpu());
  NDArray mm = nd::zeros(Shape{2}, cpu()), mv = nd::ones(Shape{2}, cpu());
  expect_error([&] { nd::BatchNorm(x, g, b, mm, mv, {.eps = 0}); }, {"BatchNorm", "eps"});
  // The backward with the moving statistics, called directly (no forward rewrote gamma to 1):
  // dx = dy / sqrt(moving_var + eps).
  op::BatchNorm::Param p{.eps = 1e-3, .fix_gamma = true};
  std::vector<NDArray> ig = {nd::zeros(Shape{2, 2}, cpu()), nd::zeros(Shape{2}, cpu()), nd::zeros(Shape{2}, cpu())};
  NDArray dy = nd::ones(Shape{2, 2}, cpu());
  op::BatchNorm::backward(p, {}, {dy}, {x, g, b}, {}, {op::Req::write, op::Req::write, op::Req::write}, ig, {mm, mv});
  const double s = 1 / std::sqrt(1 + 1e-3);
  check_close(ig[0], {s, s, s, s});
}

TEST_CASE("LayerNorm: eps 0 is accepted; a backward without the saved statistics recomputes them with eps") {
  NDArray x = nd::array<double>({0, 2}, Shape{1, 2}, cpu());
  NDArray g = nd::ones(Shape{2}, cpu()), b = nd::zeros(Shape{2}, cpu());
  check_close(nd::LayerNorm(x, g, b, {.eps = 0.f}), {-1, 1});
  op::LayerNorm::Param p{.eps = 1.f};
  std::vector<NDArray> ig = {nd::zeros(Shape{1, 2}, cpu()), nd::zeros(Shape{2}, cpu()), nd::zeros(Shape{2}, cpu())};
  NDArray dy = nd::array<double>({1, 0}, Shape{1, 2}, cpu());
  op::LayerNorm::backward(p, {}, {dy}, {x, g, b}, {}, {op::Req::write, op::Req::write, op::Req::write}, ig, {});
  const double r = 0.25 / std::sqrt(2.0);  // mean 1, variance 1, standard deviation sqrt(1 + eps) = sqrt(2)
  check_close(ig[0], {r, -r});
}
