// Fused element-wise expressions against double-precision loops: every function, broadcasting, savers,
// aliasing, views, 0-d and empty arrays, and the errors.
#include "testing.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::expect_error;
using mixt::testing::random_values;

namespace {

std::vector<double> apply1(const std::vector<double>& x, double (*f)(double)) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = f(x[i]);
  return y;
}

/// Rounds each value to float, the precision the input array holds.
std::vector<double> stored(std::vector<double> v) { return mixt::testing::as_stored(std::move(v)); }

/// The multi-index of row-major flat index `flat` in `shape`.
std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(size_t(shape.ndim()));
  for (int d = shape.ndim() - 1; d >= 0; --d) { idx[size_t(d)] = flat % shape[d]; flat /= shape[d]; }
  return idx;
}

/// The row-major flat index of idx in `shape`, where idx may have more (leading) axes than shape and axes of
/// extent 1 broadcast (NumPy: shapes align from the right).
int64_t broadcast_flat(const Shape& shape, const std::vector<int64_t>& idx) {
  const int off = int(idx.size()) - shape.ndim();
  int64_t flat = 0;
  for (int d = 0; d < shape.ndim(); ++d) flat = flat * shape[d] + (shape[d] == 1 ? 0 : idx[size_t(d + off)]);
  return flat;
}

/// Element-wise reference for shapes that broadcast: out[i] = f(a[ia], b[ib]).
std::vector<double> broadcast_ref(const std::vector<double>& a, const Shape& sa, const std::vector<double>& b,
                                  const Shape& sb, const Shape& so, double (*f)(double, double)) {
  std::vector<double> out(size_t(so.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    const std::vector<int64_t> idx = unravel(int64_t(i), so);
    out[i] = f(a[size_t(broadcast_flat(sa, idx))], b[size_t(broadcast_flat(sb, idx))]);
  }
  return out;
}

}  // namespace

MIXT_DEVICE_TEST("expr: every unary function matches a double loop at sizes 1, 7, 1023, 2^20+3") {
  auto ctx = Device::ctx();
  struct Case { const char* name; double lo, hi; double (*ref)(double); std::function<NDArray(const NDArray&)> f; double rtol; };
  const std::vector<Case> cases = {
      {"exp", -80, 80, [](double x) { return std::exp(x); }, [](const NDArray& a) { return NDArray(exp(a)); }, 3e-6},
      {"log", 1e-30, 1e30, [](double x) { return std::log(x); }, [](const NDArray& a) { return NDArray(log(a)); }, 3e-6},
      {"log1p", -0.9, 5, [](double x) { return std::log1p(x); }, [](const NDArray& a) { return NDArray(log1p(a)); }, 3e-6},
      {"expm1", -5, 5, [](double x) { return std::expm1(x); }, [](const NDArray& a) { return NDArray(expm1(a)); }, 3e-6},
      {"sqrt", 0, 100, [](double x) { return std::sqrt(x); }, [](const NDArray& a) { return NDArray(sqrt(a)); }, 1e-6},
      {"rsqrt", 0.01, 100, [](double x) { return 1 / std::sqrt(x); }, [](const NDArray& a) { return NDArray(rsqrt(a)); }, 1e-6},
      {"square", -10, 10, [](double x) { return x * x; }, [](const NDArray& a) { return NDArray(square(a)); }, 1e-6},
      {"abs", -10, 10, [](double x) { return std::abs(x); }, [](const NDArray& a) { return NDArray(abs(a)); }, 0},
      {"sign", -10, 10, [](double x) { return double((x > 0) - (x < 0)); }, [](const NDArray& a) { return NDArray(sign(a)); }, 0},
      {"sin", -10, 10, [](double x) { return std::sin(x); }, [](const NDArray& a) { return NDArray(sin(a)); }, 1e-5},
      {"cos", -10, 10, [](double x) { return std::cos(x); }, [](const NDArray& a) { return NDArray(cos(a)); }, 1e-5},
      {"tanh", -12, 12, [](double x) { return std::tanh(x); }, [](const NDArray& a) { return NDArray(tanh(a)); }, 3e-6},
      {"tanh small", -0.7, 0.7, [](double x) { return std::tanh(x); }, [](const NDArray& a) { return NDArray(tanh(a)); }, 3e-6},
      {"sigmoid", -30, 30, [](double x) { return 1 / (1 + std::exp(-x)); }, [](const NDArray& a) { return NDArray(sigmoid(a)); }, 3e-6},
      {"relu", -5, 5, [](double x) { return x > 0 ? x : 0; }, [](const NDArray& a) { return NDArray(relu(a)); }, 0},
      {"softrelu", -30, 40, [](double x) { return std::log1p(std::exp(x)); }, [](const NDArray& a) { return NDArray(softrelu(a)); }, 3e-6},
      {"erf", -3, 3, [](double x) { return std::erf(x); }, [](const NDArray& a) { return NDArray(erf(a)); }, 3e-6},
      {"floor", -10, 10, [](double x) { return std::floor(x); }, [](const NDArray& a) { return NDArray(floor(a)); }, 0},
      {"ceil", -10, 10, [](double x) { return std::ceil(x); }, [](const NDArray& a) { return NDArray(ceil(a)); }, 0},
      {"round", -10, 10, [](double x) { return std::round(x); }, [](const NDArray& a) { return NDArray(round(a)); }, 0},
      {"negative", -10, 10, [](double x) { return -x; }, [](const NDArray& a) { return NDArray(-a); }, 0},
  };
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1023), int64_t((1 << 20) + 3)}) {
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CAPTURE(n);
      std::vector<double> x = stored(random_values(size_t(n), c.lo, c.hi, uint64_t(n)));
      if (std::string(c.name) == "log") for (auto& v : x) v = std::exp(v / 1e30 * 69);  // spread over decades
      x = stored(x);
      NDArray a = nd::array(x, Shape{n}, ctx);
      check_close(c.f(a), apply1(x, c.ref), c.rtol, 1e-37);
    }
  }
}

MIXT_DEVICE_TEST("expr: exp and log handle their special values") {
  auto ctx = Device::ctx();
  const double inf = INFINITY;
  std::vector<double> x = {0, -0.0, 1e-40, 89, -104, inf, -inf, NAN, 88.5, -87.5, 88.7, -87.3, 1e-30, 3e38};
  for (int copy = 0; copy < 3; ++copy)  // every value in several SIMD lanes
    for (size_t i = 0; i < 14; ++i) x.push_back(x[i]);
  NDArray a = nd::array(x, ctx);
  std::vector<double> want_exp(x.size()), want_log(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    want_exp[i] = double(std::exp(float(x[i])));
    want_log[i] = double(std::log(float(x[i])));
  }
  check_close(NDArray(exp(a)), want_exp, 3e-6, 1e-44);
  check_close(NDArray(log(a)), want_log, 3e-6, 1e-44);
  // sigmoid computes e^-|x| and never overflows; its tails reach 0 and 1, and near -100 it is subnormal.
  std::vector<double> xs = {0, -0.0, 1e-40, -1e-40, 89, -89, 104, -104, 120, -120, 16, -16, -87.3, -100, inf, -inf, NAN};
  for (int copy = 0; copy < 3; ++copy)
    for (size_t i = 0; i < 17; ++i) xs.push_back(xs[i]);
  std::vector<double> want_sigmoid(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) want_sigmoid[i] = 1 / (1 + std::exp(-double(float(xs[i]))));
  check_close(NDArray(sigmoid(nd::array(xs, ctx))), want_sigmoid, 3e-6, 1e-44);
  // One element at a time: the scalar code (a CPU loop's tail, or the GPU's device function) on every value.
  for (size_t i = 0; i < 14; ++i) {
    CAPTURE(x[i]);
    NDArray one = nd::array(std::vector<double>{x[i]}, ctx);
    check_close(NDArray(exp(one)), {want_exp[i]}, 3e-6, 1e-44);
    check_close(NDArray(log(one)), {want_log[i]}, 3e-6, 1e-44);
  }
  for (size_t i = 0; i < 17; ++i) {
    CAPTURE(xs[i]);
    check_close(NDArray(sigmoid(nd::array(std::vector<double>{xs[i]}, ctx))), {want_sigmoid[i]}, 3e-6, 1e-44);
  }
}

MIXT_DEVICE_TEST("expr: exp, log, tanh and sigmoid of float32 stay within their error bounds in ulp") {
  // A dense sweep (2^20 + 5 values, so every SIMD lane and the scalar tail see many) against double precision,
  // in units of the float spacing at the exact result. The CPU bounds are those packet_math.hpp states; CUDA's
  // functions have the maxima its guide documents (expf and tanhf 2 ulp, logf 1), and sigmoid composes expf.
  auto ctx = Device::ctx();
#if MIXT_TEST_GPU
  const double exp_ulp = 2, log_ulp = 2.6, tanh_ulp = 2.5, sigmoid_ulp = 3.5;
#else
  const double exp_ulp = 1.5, log_ulp = 2.9, tanh_ulp = 2.3, sigmoid_ulp = 2.7;
#endif
  const int64_t n = (int64_t(1) << 20) + 5;
  auto sweep = [&](double lo, double hi) {
    std::vector<double> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[size_t(i)] = double(float(lo + (hi - lo) * double(i) / double(n - 1)));
    return x;
  };
  auto worst_ulp = [](const std::vector<double>& got, const std::vector<double>& want) {
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const float w = std::abs(float(want[i]));
      const double spacing = double(std::nextafter(w, INFINITY)) - double(w);
      worst = std::max(worst, std::abs(got[i] - want[i]) / spacing);
    }
    return worst;
  };
  std::vector<double> x = sweep(-87, 88);  // results normal and finite
  NDArray a = nd::array(x, Shape{n}, ctx);
  CHECK(worst_ulp(NDArray(exp(a)).to_vector<double>(), apply1(x, [](double v) { return std::exp(v); })) <= exp_ulp);
  CHECK(worst_ulp(NDArray(sigmoid(a)).to_vector<double>(),
                  apply1(x, [](double v) { return 1 / (1 + std::exp(-v)); })) <= sigmoid_ulp);
  std::vector<double> t = sweep(-9, 9);
  CHECK(worst_ulp(NDArray(tanh(nd::array(t, Shape{n}, ctx))).to_vector<double>(),
                  apply1(t, [](double v) { return std::tanh(v); })) <= tanh_ulp);
  std::vector<double> l = sweep(-85, 85);  // log's argument e^l spans the normal floats
  for (auto& v : l) v = double(float(std::exp(v)));
  // The worst input of an exhaustive sweep of [0.5, 2) (2.85 ulp), in a packet lane and in the scalar tail.
  l[0] = l[size_t(n - 1)] = double(0x1.21bd82p+0f);
  CHECK(worst_ulp(NDArray(log(nd::array(l, Shape{n}, ctx))).to_vector<double>(),
                  apply1(l, [](double v) { return std::log(v); })) <= log_ulp);
}

MIXT_DEVICE_TEST("expr: arithmetic and comparisons with scalars on either side") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(1031, -3, 3, 1)), yv = stored(random_values(1031, 0.5, 3, 2));
  NDArray x = nd::array(xv, ctx), y = nd::array(yv, ctx);
  auto ref = [&](auto f) {
    std::vector<double> r(xv.size());
    for (size_t i = 0; i < r.size(); ++i) r[i] = f(xv[i], yv[i]);
    return r;
  };
  check_close(NDArray(x + y), ref([](double a, double b) { return a + b; }));
  check_close(NDArray(x - y), ref([](double a, double b) { return a - b; }));
  check_close(NDArray(x * y), ref([](double a, double b) { return a * b; }));
  check_close(NDArray(x / y), ref([](double a, double b) { return a / b; }));
  check_close(NDArray(2.f - x), ref([](double a, double) { return 2 - a; }));
  check_close(NDArray(2.0 / y), ref([](double, double b) { return 2 / b; }), 1e-6);
  check_close(NDArray(x * 3 + 1), ref([](double a, double) { return a * 3 + 1; }));
  check_close(NDArray(x == x), ref([](double, double) { return 1.0; }));
  check_close(NDArray(x != y), ref([](double a, double b) { return double(a != b); }));
  check_close(NDArray(x < y), ref([](double a, double b) { return double(a < b); }));
  check_close(NDArray(x <= 0.5f), ref([](double a, double) { return double(a <= 0.5); }));
  check_close(NDArray(x > y), ref([](double a, double b) { return double(a > b); }));
  check_close(NDArray(1 >= x), ref([](double a, double) { return double(1 >= a); }));
  check_close(NDArray(maximum(x, y)), ref([](double a, double b) { return std::max(a, b); }));
  check_close(NDArray(minimum(x, 0.f)), ref([](double a, double) { return std::min(a, 0.0); }));
  check_close(NDArray(pow(y, x)), ref([](double a, double b) { return std::pow(b, a); }), 1e-5);
  check_close(NDArray(pow(y, 2)), ref([](double, double b) { return b * b; }), 1e-6);
  check_close(NDArray(clip(x, -1, 0.5)), ref([](double a, double) { return std::min(std::max(a, -1.0), 0.5); }));
  check_close(NDArray(where(x > 0, x, y * -1)), ref([](double a, double b) { return a > 0 ? a : -b; }));
  check_close(NDArray(exp(x) * 2.f + sigmoid(y) / (1 + square(x))),
              ref([](double a, double b) { return std::exp(a) * 2 + 1 / (1 + std::exp(-b)) / (1 + a * a); }), 3e-6);
}

MIXT_DEVICE_TEST("expr: maximum, minimum, relu and clip propagate NaN; abs(-0) is +0 at every position") {
  // 19 elements: whole packets and a scalar tail, which used to disagree (NaN dropped; -0 kept in the tail only).
  auto ctx = Device::ctx();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> av(19), bv(19);
  for (size_t i = 0; i < 19; ++i) av[i] = i % 3 == 0 ? nan : double(i), bv[i] = i % 3 == 1 ? nan : 5.0;
  NDArray a = nd::array(av, Shape{19}, ctx), b = nd::array(bv, Shape{19}, ctx);
  const std::vector<double> mx = NDArray(maximum(a, b)).to_vector<double>(),
                            mn = NDArray(minimum(a, b)).to_vector<double>(),
                            re = NDArray(relu(a - 10.f)).to_vector<double>(),
                            cl = NDArray(clip(a, 2, 6)).to_vector<double>(),
                            ab = NDArray(abs(nd::full(Shape{19}, -0.0, ctx))).to_vector<double>();
  for (size_t i = 0; i < 19; ++i) {
    CAPTURE(i);
    const bool any_nan = std::isnan(av[i]) || std::isnan(bv[i]);
    CHECK(std::isnan(mx[i]) == any_nan);
    CHECK(std::isnan(mn[i]) == any_nan);
    if (!any_nan) CHECK(mx[i] == std::max(av[i], bv[i]));
    if (!any_nan) CHECK(mn[i] == std::min(av[i], bv[i]));
    CHECK(std::isnan(re[i]) == std::isnan(av[i]));
    CHECK(std::isnan(cl[i]) == std::isnan(av[i]));
    if (!std::isnan(av[i])) CHECK(re[i] == std::max(av[i] - 10, 0.0));
    if (!std::isnan(av[i])) CHECK(cl[i] == std::min(std::max(av[i], 2.0), 6.0));
    CHECK(ab[i] == 0.0);
    CHECK(!std::signbit(ab[i]));
  }
}

MIXT_DEVICE_TEST("expr: a scalar or broadcast -0.0 keeps its sign at every position") {
  // Packets splatted a scalar as 0 + x, which is +0 for x = -0: 1 / -0.0 gave +inf in packets, -inf in the tail.
  auto ctx = Device::ctx();
  NDArray ones = nd::ones(Shape{19}, ctx), minus_zero = nd::array(std::vector<double>{-0.0}, Shape{1}, ctx);
  for (const std::vector<double>& got : {NDArray(ones / -0.0).to_vector<double>(),
                                         NDArray(ones / minus_zero).to_vector<double>(),
                                         NDArray(1.0 / (nd::full(Shape{19}, -0.0, ctx) + -0.0)).to_vector<double>()})
    for (double v : got) CHECK(v == -INFINITY);
  NDArray column = nd::array(std::vector<double>{-0.0, 1}, Shape{2, 1}, ctx);
  const std::vector<double> rows = NDArray(1.0 / (column + nd::zeros(Shape{2, 19}, ctx) * -1.0)).to_vector<double>();
  for (size_t i = 0; i < 19; ++i) CHECK(rows[i] == -INFINITY);
}

MIXT_DEVICE_TEST("expr: round's half-way cases, clip with lo > hi and -x of +0 agree at every position") {
  // 19 elements: whole packets and a scalar tail, so each special case lands in both.
  auto ctx = Device::ctx();
  std::vector<double> halves(19);
  for (size_t i = 0; i < 19; ++i) halves[i] = (double(i) - 9) + 0.5;  // -8.5 .. 9.5
  const std::vector<double> rounded = NDArray(round(nd::array(halves, Shape{19}, ctx))).to_vector<double>();
  const std::vector<double> clipped = NDArray(clip(nd::arange(19, ctx), 5, 2)).to_vector<double>();
  const std::vector<float> negated = NDArray(-nd::zeros(Shape{19}, ctx)).to_vector<float>();
  for (size_t i = 0; i < 19; ++i) {
    CAPTURE(i);
    CHECK(rounded[i] == (halves[i] < 0 ? -std::floor(-halves[i] + 0.5) : std::floor(halves[i] + 0.5)));  // away from 0
    CHECK(clipped[i] == 2);  // NumPy: min(max(x, lo), hi) is hi when lo > hi
    CHECK(std::signbit(negated[i]));
  }
}

MIXT_DEVICE_TEST("expr: NumPy broadcasting over many shape pairs") {
  auto ctx = Device::ctx();
  const std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3}, {3}},       {{2, 3}, {2, 1}},        {{4, 1, 5}, {3, 1}},      {{1}, {7, 9}},
      {{5, 1, 1, 6}, {1, 4, 3, 1}}, {{}, {3, 2}},   {{3, 1}, {1, 3}},         {{2, 1, 4}, {2, 3, 4}},
      {{1, 1}, {1}},       {{64, 33}, {1, 33}},     {{6, 1, 7}, {6, 5, 1}},   {{2, 3, 4, 5}, {4, 1}},
  };
  uint64_t seed = 10;
  for (auto [sa, sb] : pairs) {
    CAPTURE(sa.to_string());
    CAPTURE(sb.to_string());
    Shape so = expr::broadcast_shapes(sa, sb, "test");
    auto av = stored(random_values(size_t(sa.size()), -2, 2, ++seed)), bv = stored(random_values(size_t(sb.size()), -2, 2, ++seed));
    NDArray a = nd::array(av, sa, ctx), b = nd::array(bv, sb, ctx);
    NDArray c = a * b - b;
    CHECK(c.shape() == so);
    check_close(c, broadcast_ref(av, sa, bv, sb, so, [](double x, double y) { return x * y - y; }));
    NDArray d = maximum(b, a) + 1.f;
    check_close(d, broadcast_ref(av, sa, bv, sb, so, [](double x, double y) { return std::max(y, x) + 1; }));
  }
}

namespace {

/// A leaf of the randomized test: its shape as the expression sees it, its values (row-major over that shape)
/// and the array holding them, which may be a view at an offset or stored with its axes reversed (read as x.T()).
struct RandomLeaf {
  Shape shape;
  std::vector<double> values;
  NDArray array;
};

/// A leaf whose shape broadcasts to `out`: a suffix of out's axes, each kept or made 1.
RandomLeaf random_leaf(std::mt19937_64& gen, const Shape& out, Context ctx, bool transposed) {
  std::uniform_int_distribution<int> third(0, 2);
  const int nd = std::uniform_int_distribution<int>(0, out.ndim())(gen);
  RandomLeaf l;
  for (int d = out.ndim() - nd; d < out.ndim(); ++d) l.shape.push_back(third(gen) == 0 ? 1 : out[d]);
  l.values = stored(random_values(size_t(l.shape.size()), -2, 2, gen()));
  if (transposed) {
    Shape reversed;
    for (int d = l.shape.ndim() - 1; d >= 0; --d) reversed.push_back(l.shape[d]);
    std::vector<double> stored_values(l.values.size());
    for (size_t f = 0; f < l.values.size(); ++f) {
      const std::vector<int64_t> idx = unravel(int64_t(f), l.shape);
      stored_values[size_t(broadcast_flat(reversed, {idx.rbegin(), idx.rend()}))] = l.values[f];
    }
    l.array = nd::array(stored_values, reversed, ctx);
  } else if (l.shape.ndim() > 0 && third(gen) == 0) {  // rows [k, k + rows) of a taller array
    const int64_t k = 1 + int64_t(gen() % 3), rows = l.shape[0], row = l.shape.size() / rows;
    Shape tall = l.shape;
    tall[0] += k;
    std::vector<double> tall_values(size_t(tall.size()), 5.0);
    std::copy(l.values.begin(), l.values.end(), tall_values.begin() + k * row);
    l.array = nd::array(tall_values, tall, ctx).slice(k, k + rows);
  } else {
    l.array = nd::array(l.values, l.shape, ctx);
  }
  return l;
}

}  // namespace

MIXT_DEVICE_TEST("expr: random shapes, broadcasts, offset views and transposed leaves match a double loop") {
  // One expression, (a + b) * c.T() - where(a > d, d, b) / 2, over 150 random layouts: up to 4 axes, leaves of
  // fewer axes or with extents of 1 (broadcast), leaves that are views at an offset, and c stored transposed;
  // the value written to a new array, added to one (+=) and written into a view at an offset.
  auto ctx = Device::ctx();
  std::mt19937_64 gen(2026);
  const int64_t extents[] = {1, 2, 3, 4, 5, 7, 16, 33};
  for (int trial = 0; trial < 150; ++trial) {
    Shape out;
    const int nd = std::uniform_int_distribution<int>(0, 4)(gen);
    for (int d = 0; d < nd; ++d) out.push_back(extents[gen() % 8]);
    if (nd > 0 && gen() % 4 == 0) out[nd - 1] = 1031;  // long rows: whole packets and a tail
    RandomLeaf a = random_leaf(gen, out, ctx, false), b = random_leaf(gen, out, ctx, false),
               c = random_leaf(gen, out, ctx, true), d = random_leaf(gen, out, ctx, false);
    CAPTURE(trial);
    CAPTURE(a.shape.to_string());
    CAPTURE(b.shape.to_string());
    CAPTURE(c.shape.to_string());
    CAPTURE(d.shape.to_string());
    Shape so = expr::broadcast_shapes(expr::broadcast_shapes(a.shape, b.shape, "test"),
                                      expr::broadcast_shapes(c.shape, d.shape, "test"), "test");
    std::vector<double> want(size_t(so.size()));
    for (size_t i = 0; i < want.size(); ++i) {
      const std::vector<int64_t> idx = unravel(int64_t(i), so);
      auto at = [&](const RandomLeaf& l) { return l.values[size_t(broadcast_flat(l.shape, idx))]; };
      want[i] = (at(a) + at(b)) * at(c) - (at(a) > at(d) ? at(d) : at(b)) / 2;
    }
    const auto value = [&] {
      return (a.array + b.array) * c.array.T() - where(a.array > d.array, d.array, b.array) / 2.f;
    };
    NDArray fresh = value();
    CHECK(fresh.shape() == so);
    check_close(fresh, want, 1e-5, 1e-5);
    NDArray acc = nd::full(so, 1.0, ctx);
    acc += value();
    std::vector<double> plus_one = want;
    for (auto& w : plus_one) w += 1;
    check_close(acc, plus_one, 1e-5, 1e-5);
    if (so.ndim() > 0) {
      Shape tall = so;
      tall[0] += 2;
      NDArray storage = nd::full(tall, 9.0, ctx);
      storage.slice(1, 1 + so[0]).assign(value());
      std::vector<double> all = storage.to_vector<double>(), inside(all.begin() + so.size() / so[0],
                                                                    all.begin() + so.size() / so[0] + so.size());
      check_close(inside, want, 1e-5, 1e-5);
      CHECK(all.front() == 9.0);
      CHECK(all.back() == 9.0);
    }
  }
}

MIXT_DEVICE_TEST("expr: in-place savers write into storage, broadcasting the value") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(12, 1, 2, 3));
  NDArray x = nd::array(xv, Shape{3, 4}, ctx);
  NDArray alias = x;  // a handle sharing x's storage
  NDArray row = nd::array<double>({1, 2, 3, 4}, Shape{4}, ctx);
  std::vector<double> want = xv;
  x += row;
  for (size_t i = 0; i < 12; ++i) want[i] += double(i % 4 + 1);
  check_close(alias, want);
  x -= 1.f;
  for (auto& w : want) w -= 1;
  check_close(alias, want);
  x *= row * 2;
  for (size_t i = 0; i < 12; ++i) want[i] *= double(i % 4 + 1) * 2;
  check_close(alias, want);
  x /= 4.f;
  for (auto& w : want) w /= 4;
  check_close(alias, want);
  x.assign(7.f);
  check_close(alias, std::vector<double>(12, 7.0));
  x.assign(row);
  for (size_t i = 0; i < 12; ++i) want[i] = double(i % 4 + 1);
  check_close(alias, want);
  CHECK_THROWS_AS(row += x, Error);  // the (3, 4) value cannot be written into (4,)
}

MIXT_DEVICE_TEST("expr: assignment rebinds; a = a * 2 + b and aliased in-place updates are safe") {
  auto ctx = Device::ctx();
  NDArray a = nd::array<double>({1, 2, 3, 4}, Shape{2, 2}, ctx), b = nd::array<double>({10, 20, 30, 40}, Shape{2, 2}, ctx);
  NDArray old = a;
  a = a * 2 + b;
  check_close(a, {12, 24, 36, 48});
  check_close(old, {1, 2, 3, 4});  // rebinding left the old storage alone
  NDArray m = nd::array<double>({1, 2, 3, 4}, Shape{2, 2}, ctx);
  m += m.T();  // reads m transposed while writing m: computed through a temporary
  check_close(m, {2, 5, 5, 8});
  NDArray v = nd::array<double>({1, 2, 3, 4, 5, 6}, Shape{6}, ctx);
  NDArray head = v.slice(0, 3), tail = v.slice(3, 6);
  head += tail;  // distinct views of one storage
  check_close(v, {5, 7, 9, 4, 5, 6});
  tail.assign(head * 0.f + v.slice(0, 3));
  check_close(v, {5, 7, 9, 5, 7, 9});
}

MIXT_DEVICE_TEST("expr: views with offsets, 0-d arrays and empty arrays") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(24, -1, 1, 5));
  NDArray x = nd::array(xv, Shape{4, 6}, ctx);
  NDArray rows = x.slice(1, 3);
  std::vector<double> want(xv.begin() + 6, xv.begin() + 18);
  for (auto& w : want) w = std::exp(w) + 1;
  check_close(NDArray(exp(rows) + 1.f), want, 3e-6);
  NDArray r2 = x.at(2);
  CHECK(r2.shape() == Shape{6});
  std::vector<double> w2(xv.begin() + 12, xv.begin() + 18);
  for (auto& w : w2) w = w * w;
  check_close(NDArray(square(r2)), w2);

  NDArray s = nd::full(Shape{}, 3.0, ctx);
  CHECK(s.ndim() == 0);
  CHECK(s.size() == 1);
  NDArray s2 = s * s + 1.f;
  CHECK(s2.shape() == Shape{});
  CHECK(s2.item<float>() == 10.f);
  NDArray bx = x + s;  // a 0-d array broadcasts like a scalar
  std::vector<double> wb = xv;
  for (auto& w : wb) w += 3;
  check_close(bx, wb);

  NDArray e = nd::zeros(Shape{0, 3}, ctx);
  NDArray e2 = exp(e) + 1.f;
  CHECK(e2.shape() == Shape{0, 3});
  CHECK(e2.to_vector<float>().empty());
  NDArray e3 = e + nd::ones(Shape{3}, ctx);
  CHECK(e3.shape() == Shape{0, 3});
}

TEST_CASE("expr: outputs written with streaming stores match a double loop at every alignment") {
  // Streaming stores need packet-aligned addresses: a range of the loop that starts elsewhere (an output view
  // at an offset, or a thread's part of an odd-sized output) is written normally, the others streamed.
  testing::StreamEveryOutput stream;
  CHECK(streaming_store_threshold() == -1);
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1023), int64_t((1 << 20) + 3)}) {
    auto av = stored(random_values(size_t(n), -2, 2, 11)), bv = stored(random_values(size_t(n), -2, 2, 12));
    NDArray a = nd::array(av, Shape{n}), b = nd::array(bv, Shape{n});
    std::vector<double> want(static_cast<size_t>(n));
    for (size_t i = 0; i < want.size(); ++i) want[i] = (av[i] + bv[i]) / 10 * (1 / (1 + std::exp(-bv[i]))) - av[i];
    for (int64_t offset : n > 2000 ? std::vector<int64_t>{0, 1, 5} : std::vector<int64_t>{0, 1, 2, 3, 7, 8, 15, 16, 17}) {
      CAPTURE(n);
      CAPTURE(offset);
      NDArray storage = nd::full(Shape{n + 40}, 7.0);
      NDArray out = storage.slice(offset, offset + n);
      out.assign((a + b) / 10.f * sigmoid(b) - a);
      check_close(out, want, 3e-6);
      std::vector<double> all = storage.to_vector<double>();  // nothing written outside the view
      CHECK(std::count(all.begin(), all.begin() + offset, 7.0) == offset);
      CHECK(std::count(all.begin() + offset + n, all.end(), 7.0) == 40 - offset);
    }
    // In place (each element read then written), a saver that reads the output (never streamed) and a
    // broadcast leaf (not linear: never streamed).
    NDArray c = nd::array(av, Shape{n});
    c.assign(c * 2.f + b);
    std::vector<double> w2(static_cast<size_t>(n)), w3(static_cast<size_t>(n));
    for (size_t i = 0; i < w2.size(); ++i) w2[i] = av[i] * 2 + bv[i];
    check_close(c, w2, 1e-6);
    c += a;
    for (size_t i = 0; i < w3.size(); ++i) w3[i] = w2[i] + av[i];
    check_close(c, w3, 1e-6);
    NDArray d = a + nd::full(Shape{1}, 0.5);
    for (size_t i = 0; i < w3.size(); ++i) w3[i] = av[i] + 0.5;
    check_close(d, w3, 1e-6);
  }
}

namespace {

/// Runs the GPU kernel's per-thread share (expr/wide.hpp) of out = Saver(out, (a + b) * c - d) on the host for
/// `threads` simulated threads, each over its own share, with storage type T and a wide width of W.
template <int W, class Saver, class T>
void run_linear_shares(const NDArray& out, const NDArray& a, const NDArray& b, const NDArray& c, const NDArray& d,
                       int64_t threads) {
  using ET = compute_type_t<T>;
  auto e = (a + b) * c - d;
  const expr::Layout L = expr::make_layout(out.shape(), expr::collect_leaves(e, "test", {}).views);
  REQUIRE(L.linear);
  int k = 0;
  const auto plan = e.template plan<ET, T>(L, k);
  waitall();
  T* dst = out.data<T>();
  REQUIRE(expr::wide_ready<W>(plan, dst) == (W > 1));
  for (int64_t t = 0; t < threads; ++t) expr::eval_linear_share<W, Saver>(plan, dst, out.size(), t, threads);
}

/// The wide linear evaluation for storage type T: every size, thread count and saver matches a double loop,
/// and an address off the alignment is refused.
template <class T>
void check_wide_shares(double tol) {
  constexpr int W = expr::wide_width<T>;
  const DType dt = dtype_of<T>::value;
  for (int64_t n : {int64_t(1), int64_t(W - 1), int64_t(W + 1), int64_t(1023), int64_t(4099)}) {
    if (n < 1) continue;
    // Quarters in [1, 4) (d and the accumulator in [0, 1)): exact in every dtype here, and the value stays
    // positive for uint8. The reference reads the inputs back as stored.
    std::vector<NDArray> in;
    for (uint64_t s = 0; s < 5; ++s) {
      std::vector<double> x = random_values(size_t(n), s < 3 ? 1 : 0, s < 3 ? 4 : 1, 20 + s);
      for (auto& y : x) y = std::round(y * 4) / 4;
      in.push_back(nd::array(x, Shape{n}, cpu(), dt));
    }
    std::vector<std::vector<double>> v;
    for (const NDArray& x : in) v.push_back(x.to_vector<double>());
    std::vector<double> value(static_cast<size_t>(n)), added(static_cast<size_t>(n));
    for (size_t i = 0; i < value.size(); ++i) {
      value[i] = (v[0][i] + v[1][i]) * v[2][i] - v[3][i];
      added[i] = v[4][i] + value[i];
    }
    for (int64_t threads : {int64_t(1), int64_t(3), int64_t(256)}) {
      CAPTURE(n);
      CAPTURE(threads);
      NDArray out = nd::zeros(Shape{n}, cpu(), dt);
      run_linear_shares<W, expr::save_write, T>(out, in[0], in[1], in[2], in[3], threads);
      check_close(out, value, tol, tol);
      NDArray acc = in[4].copy();  // an element taken twice would be added twice
      run_linear_shares<W, expr::save_add, T>(acc, in[0], in[1], in[2], in[3], threads);
      check_close(acc, added, tol, tol);
    }
  }
  NDArray x = nd::zeros(Shape{64}, cpu(), dt);
  waitall();
  const T* p = x.data<T>();
  CHECK(expr::wide_aligned<W>(p));
  CHECK(!expr::wide_aligned<W>(p + 1));
}

}  // namespace

TEST_CASE("expr: the GPU's wide linear evaluation, run thread by thread on the host, matches a double loop") {
  check_wide_shares<float>(1e-6);
  check_wide_shares<double>(1e-12);
  check_wide_shares<half_t>(2e-3);
  check_wide_shares<uint8_t>(0);
}

MIXT_DEVICE_TEST("expr: bad operands raise mixt::Error naming both sides") {
  auto ctx = Device::ctx();
  NDArray a = nd::ones(Shape{2, 3}, ctx), b = nd::ones(Shape{4}, ctx);
  try {
    NDArray c = a + b;
    FAIL("broadcasting (2, 3) with (4,) must fail");
  } catch (const Error& e) {
    std::string what = e.what();
    CHECK(what.find("(2, 3)") != std::string::npos);
    CHECK(what.find("(4,)") != std::string::npos);
    CHECK(what.find("elemwise_add") != std::string::npos);
    CHECK(std::string(e.where().file_name()).find("test_expr") != std::string::npos);
  }
  NDArray d = nd::ones(Shape{2, 3}, ctx, DType::float64);
  try {
    NDArray c = a * d;
    FAIL("mixing float32 and float64 must fail");
  } catch (const Error& e) {
    std::string what = e.what();
    CHECK(what.find("float32") != std::string::npos);
    CHECK(what.find("float64") != std::string::npos);
    CHECK(what.find("from an operand of shape (2, 3)") != std::string::npos);
  }
  NDArray none;
  CHECK_THROWS_AS(NDArray(none + 1.f), Error);
  // A write that cannot broadcast names the value's shape, then the destination's (it said "operands could not be
  // broadcast together", destination first).
  mixt::testing::expect_error([&] { a += b; }, {"+=", "a value of shape (4,) cannot be written to an array of shape "
                                                "(2, 3)"});
#if MIXT_EXPR_DTYPES == 1  // this binary compiles expressions for float32 only: an int32 one says how to add it
  NDArray i = nd::ones(Shape{2}, ctx, DType::int32);
  try {
    NDArray c = i + i;
    FAIL("an expression over a dtype left out of MIXT_EXPR_DTYPES must fail");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("int32") != std::string::npos);
    CHECK(std::string(e.what()).find("-DMIXT_EXPR_DTYPES=MIXT_EXPR_ALL_DTYPES") != std::string::npos);
    CHECK(std::string(e.where().file_name()).find("test_expr") != std::string::npos);  // the user's line
  }
  // A plain copy needs no expression: assign from an array of the same shape and dtype, a view included.
  NDArray src = nd::array(std::vector<double>{1, -2, 3, 4}, Shape{2, 2}, ctx, DType::int32);
  NDArray dst = nd::zeros(Shape{2}, ctx, DType::int32);
  dst.assign(src.at(1));
  CHECK(dst.to_vector<int>() == std::vector<int>{3, 4});
  src.at(0).assign(dst);
  CHECK(src.to_vector<int>() == std::vector<int>{3, 4, 3, 4});
  CHECK_THROWS_AS(src.assign(dst), Error);              // broadcasting (2,) to (2, 2): an expression
  CHECK_THROWS_AS(src.at(0).assign(src.at(1)), Error);  // within one array: the expression path orders it
#endif
}

TEST_CASE("expr: a gpu(0) operand in a build without CUDA is an error at the call") {
#if !MIXT_USE_CUDA
  CHECK_THROWS_AS(nd::ones(Shape{3}, gpu(0)), Error);
  try {
    nd::zeros(Shape{3}, gpu(0));
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("gpu(0)") != std::string::npos);
  }
#endif
}

TEST_CASE("expr: operands on different contexts are rejected") {
  NDArray a = nd::ones(Shape{3}, cpu(0)), b = nd::ones(Shape{3}, cpu(1));
  CHECK_THROWS_AS(NDArray(a + b), Error);
}

// From the fifth mutation round: each case below failed a mutant that every earlier test let through.

MIXT_DEVICE_TEST("expr: a value of more dimensions than the destination is rejected, even with leading 1s") {
  auto ctx = Device::ctx();
  NDArray x = nd::zeros(Shape{3}, ctx);
  expect_error([&] { x.assign(nd::ones(Shape{1, 3}, ctx) * 2.f); }, {"(1, 3)", "(3,)"});
  expect_error([&] { x += nd::ones(Shape{1, 1, 3}, ctx) * 2.f; }, {"(1, 1, 3)", "(3,)"});
  check_close(x, {0, 0, 0});  // nothing written
}

MIXT_DEVICE_TEST("expr: -= and /= with a broadcast operand keep the operand order in the row-by-row loop") {
  auto ctx = Device::ctx();
  const int64_t R = 3, C = 40;  // C spans several packets at every SIMD width, with a tail
  const std::vector<double> xv = stored(random_values(size_t(R * C), 1, 3, 5)), bv = {0.5, 2.0, -4.0};
  const NDArray b = nd::array(bv, Shape{R, 1}, ctx);
  NDArray x = nd::array(xv, Shape{R, C}, ctx), y = nd::array(xv, Shape{R, C}, ctx);
  x -= b;
  y /= b;
  std::vector<double> difference(xv.size()), quotient(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    difference[i] = xv[i] - bv[i / size_t(C)];
    quotient[i] = xv[i] / bv[i / size_t(C)];
  }
  check_close(x, difference, 1e-6);
  check_close(y, quotient, 1e-6);
}

MIXT_DEVICE_TEST("expr: a view written from an overlapping view of the same array at another offset") {
  auto ctx = Device::ctx();
  const int64_t n = 100;
  std::vector<double> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0);
  NDArray x = nd::array(v, Shape{n}, ctx), z = nd::array(v, Shape{n}, ctx);
  NDArray shifted = x.slice(1, n);
  shifted.assign(x.slice(0, n - 1) + 0.f);  // as NumPy's x[1:] = x[:-1] + 0: every read sees the old values
  NDArray accumulated = z.slice(1, n);
  accumulated += z.slice(0, n - 1) * 1.f;  // the same with a saver that reads the destination
  std::vector<double> want_x(v.size()), want_z(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    want_x[i] = i == 0 ? 0 : double(i - 1);
    want_z[i] = i == 0 ? 0 : double(i) + double(i - 1);
  }
  check_close(x, want_x);
  check_close(z, want_z);
}

MIXT_DEVICE_TEST("expr: exp at float's largest finite argument is finite; softrelu of large x is x") {
  auto ctx = Device::ctx();
  const float top = 88.72283f;  // e^top is 3.4028e38, just under FLT_MAX
  for (double g : NDArray(exp(nd::full(Shape{32}, double(top), ctx))).to_vector<double>()) {
    CHECK(std::isfinite(g));
    CHECK(g == doctest::Approx(std::exp(double(top))).epsilon(1e-5));
  }
  std::vector<double> v(32, 100.0);  // past where e^x overflows float, log(1 + e^x) is x
  v[3] = 30;
  v[7] = 1000;
  NDArray x = nd::array(v, Shape{32}, ctx);
  check_close(NDArray(softrelu(x)), v, 1e-6);
  check_close(nd::Activation(x, {.act_type = "softrelu"}), v, 1e-6);
}
