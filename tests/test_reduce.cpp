// Reductions (sum, mean, prod, max, min, norm, argmax, argmin) against double-precision loops: every axis
// combination on 1-D to 4-D shapes with negative axes, keepdims and exclude; reductions of broadcasting
// expressions and of views; sizes 1, 7, 1023, 2^20+3 and 2^24; 0-d and empty inputs; ties and NaN; the errors.
#include "testing.hpp"

#include <limits>
#include <string>

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::random_values;

namespace {

std::vector<double> stored(std::vector<double> v) { return mixt::testing::as_stored(std::move(v)); }

struct Ref {
  Shape shape;
  std::vector<double> values;
};

/// The reduction `op` of x (shape s) over `axes` as NumPy/MXNet define it, computed in double.
Ref reference(const std::string& op, const std::vector<double>& x, const Shape& s, const std::vector<int>& axes,
              bool keepdims = false, bool exclude = false) {
  const int n = s.ndim();
  std::vector<bool> red(size_t(n), axes.empty());
  for (int a : axes) red[size_t((a + n) % n)] = true;
  if (exclude && !axes.empty())
    for (int d = 0; d < n; ++d) red[size_t(d)] = !red[size_t(d)];
  Ref r;
  int64_t outputs = 1, count = 1;
  for (int d = 0; d < n; ++d) {
    if (!red[size_t(d)]) r.shape.push_back(s[d]), outputs *= s[d];
    else if (keepdims) r.shape.push_back(1);
    if (red[size_t(d)]) count *= s[d];
  }
  const bool is_max = op == "max" || op == "argmax", is_min = op == "min" || op == "argmin";
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  std::vector<double> acc(size_t(outputs), op == "prod" ? 1.0 : is_max ? -inf : is_min ? inf : 0.0);
  std::vector<int64_t> arg(size_t(outputs), -1);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < s.size(); ++i) {
    int64_t rest = i;
    for (int d = n - 1; d >= 0; --d) idx[size_t(d)] = rest % s[d], rest /= s[d];
    int64_t o = 0, q = 0;  // output index, position among the reduced elements
    for (int d = 0; d < n; ++d) {
      if (red[size_t(d)]) q = q * s[d] + idx[size_t(d)];
      else o = o * s[d] + idx[size_t(d)];
    }
    double v = x[size_t(i)], &a = acc[size_t(o)];
    if (op == "sum" || op == "mean") a += v;
    else if (op == "norm") a += v * v;
    else if (op == "prod") a *= v;
    else if (op == "max" || op == "min") a = std::isnan(a) || std::isnan(v) ? nan : is_max ? std::max(a, v) : std::min(a, v);
    else if (arg[size_t(o)] < 0 || (!std::isnan(a) && (std::isnan(v) || (is_max ? v > a : v < a)))) {
      a = v;  // argmax / argmin: the first extreme, the first NaN
      arg[size_t(o)] = q;
    }
  }
  for (int64_t o = 0; o < outputs; ++o) {
    double& a = acc[size_t(o)];
    if (op == "mean") a /= double(count);
    if (op == "norm") a = std::sqrt(a);
    if (op == "argmax" || op == "argmin") a = double(arg[size_t(o)]);
  }
  r.values = acc;
  return r;
}

NDArray run(const std::string& op, const NDArray& x, const std::vector<int>& axes, bool keepdims = false,
            bool exclude = false) {
  Axes a(axes);
  if (op == "sum") return nd::sum(x, a, keepdims, exclude);
  if (op == "mean") return nd::mean(x, a, keepdims, exclude);
  if (op == "prod") return nd::prod(x, a, keepdims, exclude);
  if (op == "max") return nd::max(x, a, keepdims, exclude);
  if (op == "min") return nd::min(x, a, keepdims, exclude);
  if (op == "norm") return nd::norm(x, a, keepdims, exclude);
  std::optional<int> axis;
  if (!axes.empty()) axis = axes[0];
  if (op == "argmax") return nd::argmax(x, axis, keepdims);
  return nd::argmin(x, axis, keepdims);
}

void check_ref(const NDArray& got, const Ref& want, double rtol, double atol) {
  REQUIRE(got.shape() == want.shape);
  check_close(got, want.values, rtol, atol);
}

double tolerance(const std::string& op) {
  return op == "sum" || op == "mean" || op == "norm" || op == "prod" ? 1e-5 : 0.0;
}

}  // namespace

MIXT_DEVICE_TEST("reduce: every reduction, every axis combination on 1-D to 4-D shapes, keepdims and exclude") {
  Context ctx = Device::ctx();
  const std::vector<Shape> shapes = {{7}, {3, 5}, {3, 1, 4}, {2, 3, 4}, {2, 3, 4, 5}, {4, 300}, {37, 3, 19}};
  int cases = 0;
  for (const Shape& s : shapes) {
    const int n = s.ndim();
    auto values = stored(random_values(size_t(s.size()), 0.5, 1.5, uint64_t(s.size())));
    for (auto& v : values) v = (uint64_t(v * 1e6) & 1) ? v : -v;  // mixed signs, magnitudes near 1 (for prod)
    NDArray x = nd::array(values, s, ctx);
    for (int mask = 0; mask < (1 << n); ++mask) {
      std::vector<int> axes;
      for (int d = 0; d < n; ++d)
        if (mask >> d & 1) axes.push_back((mask + d) % 2 ? d - n : d);  // some axes given negative
      for (int flags = 0; flags < 4; ++flags) {
        const bool keepdims = flags & 1, exclude = flags & 2;
        for (std::string op : {"sum", "mean", "prod", "max", "min", "norm"}) {
          CAPTURE(op); CAPTURE(s); CAPTURE(mask); CAPTURE(keepdims); CAPTURE(exclude);
          check_ref(run(op, x, axes, keepdims, exclude), reference(op, values, s, axes, keepdims, exclude),
                    tolerance(op), tolerance(op));
          ++cases;
        }
      }
    }
    for (int axis = -n - 1; axis < n; ++axis)  // -n-1 stands for no axis
      for (bool keepdims : {false, true})
        for (std::string op : {"argmax", "argmin"}) {
          std::vector<int> axes;
          if (axis >= -n) axes.push_back(axis);
          CAPTURE(op); CAPTURE(s); CAPTURE(axis); CAPTURE(keepdims);
          Ref want = reference(op, values, s, axes, keepdims);
          if (axes.empty() && !keepdims) want.shape = Shape{};
          check_ref(run(op, x, axes, keepdims), want, 0, 0);
          ++cases;
        }
  }
  CHECK(cases > 1000);
}

MIXT_DEVICE_TEST("reduce: sizes 1, 7, 1023 and 2^20+3, whole array and along an axis") {
  Context ctx = Device::ctx();
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1023), int64_t((1 << 20) + 3)}) {
    auto values = stored(random_values(size_t(n), -1, 1, uint64_t(n) + 7));
    NDArray x = nd::array(values, Shape{n}, ctx);
    double abs_sum = 0;
    for (double v : values) abs_sum += std::abs(v);
    for (std::string op : {"sum", "mean", "max", "min", "norm", "argmax", "argmin"}) {
      CAPTURE(op); CAPTURE(n);
      // sums with cancellation: the error is relative to the sum of magnitudes
      double atol = op == "sum" ? 1e-6 * abs_sum : op == "mean" ? 1e-6 * abs_sum / double(n) : 0;
      check_ref(run(op, x, {}), reference(op, values, Shape{n}, {}), tolerance(op), atol);
    }
    // The same values as (n, 1) and (1, n): reduce along the long axis and along the extent-1 one.
    for (std::string op : {"sum", "max", "argmin"}) {
      CAPTURE(op); CAPTURE(n);
      NDArray col = x.reshape({n, 1}), row = x.reshape({1, n});
      double atol = op == "sum" ? 1e-6 * abs_sum : 0;
      check_ref(run(op, col, {0}), reference(op, values, Shape{n, 1}, {0}), tolerance(op), atol);
      check_ref(run(op, col, {1}), reference(op, values, Shape{n, 1}, {1}), tolerance(op), atol);
      check_ref(run(op, row, {-1}), reference(op, values, Shape{1, n}, {-1}), tolerance(op), atol);
    }
  }
}

MIXT_DEVICE_TEST("reduce: float32 sums of 2^24 positive values stay within 1e-5 of the double sum") {
  Context ctx = Device::ctx();
  const int64_t n = int64_t(1) << 24;
  auto values = stored(random_values(size_t(n), 0, 1, 2024));
  NDArray x = nd::array(values, Shape{n}, ctx);
  // A naive float loop stalls once the sum passes 2^24 (adding 0.5 no longer changes it): far outside 1e-5.
  check_ref(nd::sum(x), reference("sum", values, Shape{n}, {}), 1e-5, 0);
  check_ref(nd::mean(x), reference("mean", values, Shape{n}, {}), 1e-5, 0);
  check_ref(nd::norm(x), reference("norm", values, Shape{n}, {}), 1e-5, 0);
  // The same through the other loops: along leading axis 0 (rows folded into an accumulator row), along a
  // strided axis (the transposed view), and with an expression under the sum.
  const Shape s{n / 4, 4};
  NDArray m = x.reshape({n / 4, 4});
  check_ref(nd::sum(m, 0), reference("sum", values, s, {0}), 1e-5, 0);
  check_ref(nd::sum(m.T(), 1), reference("sum", values, s, {0}), 1e-5, 0);
  std::vector<double> twice(values.size());
  for (size_t i = 0; i < values.size(); ++i) twice[i] = 2 * values[i] + 1;
  check_ref(nd::sum(x * 2.f + 1.f), reference("sum", twice, Shape{n}, {}), 1e-5, 0);
  // Equal values round the same way every time, the worst case for a run of sequential additions: 10^7 copies
  // of 0.1f were 2.4e-6 off in a build for SSE, with 256 additions per lane before the pairwise part.
  const int64_t m7 = 10000000;
  check_close(nd::sum(nd::full(Shape{m7}, 0.1, ctx)), {double(0.1f) * double(m7)}, 1e-6, 0);
}

MIXT_DEVICE_TEST("reduce: big reductions split over threads, along leading, middle and trailing axes") {
  Context ctx = Device::ctx();
  const std::vector<std::pair<Shape, std::vector<int>>> cases = {
      {{1 << 18, 8}, {0}},      {{8, 1 << 18}, {1}},     {{300, 1000}, {1}},   {{300, 1000}, {0}},
      {{3, 1 << 17, 5}, {1}},   {{64, 65, 66}, {0, 2}},  {{2, 3, 70000}, {0, 2}}, {{70000, 3, 2}, {0, 2}}};
  for (const auto& [s, axes] : cases) {
    auto values = stored(random_values(size_t(s.size()), -1, 1, uint64_t(s.size())));
    NDArray x = nd::array(values, s, ctx);
    for (std::string op : {"sum", "max", "argmax", "norm"}) {
      if (op == "argmax" && axes.size() > 1) continue;
      CAPTURE(op); CAPTURE(s); CAPTURE(axes[0]);
      check_ref(run(op, x, axes), reference(op, values, s, axes), tolerance(op), op == "sum" ? 1e-4 : 0);
    }
  }
}

MIXT_DEVICE_TEST("reduce: reductions evaluate the expression under them, with broadcasting inside") {
  Context ctx = Device::ctx();
  const Shape sx{3, 1, 5}, sy{4, 5}, so{3, 4, 5};
  auto vx = stored(random_values(15, -1, 1, 1)), vy = stored(random_values(20, -1, 1, 2));
  NDArray x = nd::array(vx, sx, ctx), y = nd::array(vy, sy, ctx);
  std::vector<double> value(60);  // exp(x) * y + 1 broadcast to (3, 4, 5)
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 5; ++k) value[size_t((i * 4 + j) * 5 + k)] = std::exp(vx[size_t(i * 5 + k)]) * vy[size_t(j * 5 + k)] + 1;
  check_ref(nd::sum(exp(x) * y + 1.f), reference("sum", value, so, {}), 1e-5, 1e-5);
  for (std::vector<int> axes : std::vector<std::vector<int>>{{0}, {1}, {2}, {0, 2}, {-1, -2}, {0, 1}}) {
    CAPTURE(axes[0]);
    check_ref(sum(exp(x) * y + 1.f, Axes(axes)), reference("sum", value, so, axes), 1e-5, 1e-5);
    check_ref(mean(exp(x) * y + 1.f, Axes(axes), true), reference("mean", value, so, axes, true), 1e-5, 1e-5);
    check_ref(max(exp(x) * y + 1.f, Axes(axes), false, true), reference("max", value, so, axes, false, true), 1e-6, 0);
    check_ref(norm(exp(x) * y + 1.f, Axes(axes)), reference("norm", value, so, axes), 1e-5, 1e-6);
  }
  check_ref(argmax(exp(x) * y, 1), reference("argmax", std::vector<double>(value.begin(), value.end()), so, {1}), 0, 0);
  // A reduction of a transposed view reads through its strides.
  auto vm = stored(random_values(12, -1, 1, 3));
  NDArray m = nd::array(vm, Shape{3, 4}, ctx);
  check_ref(nd::sum(m.T(), 0), reference("sum", vm, Shape{3, 4}, {1}), 1e-6, 1e-6);
  check_ref(nd::argmin(m.T(), 1), reference("argmin", vm, Shape{3, 4}, {0}), 0, 0);
  // A slice: rows 1..2 of m.
  std::vector<double> rows(vm.begin() + 4, vm.end());
  check_ref(nd::prod(m.slice(1, 3), -1), reference("prod", rows, Shape{2, 4}, {1}), 1e-6, 1e-7);
}

MIXT_DEVICE_TEST("reduce: 0-d inputs and the shape of a full reduction") {
  Context ctx = Device::ctx();
  NDArray s = nd::array({-2.5}, Shape{}, ctx);
  CHECK(nd::sum(s).shape() == Shape{});
  CHECK(nd::sum(s).item<float>() == -2.5f);
  CHECK(nd::norm(s).item<float>() == 2.5f);
  CHECK(nd::max(s, {}, true).shape() == Shape{});
  CHECK(nd::argmax(s).item<float>() == 0.f);
  CHECK_THROWS_AS(nd::sum(s, 0), Error);
  NDArray x = nd::ones(Shape{2, 3}, ctx);
  CHECK(nd::sum(x).shape() == Shape{});
  CHECK(nd::sum(x, {}, true).shape() == (Shape{1, 1}));
  CHECK(nd::sum(x, {0, 1}, false, true).shape() == (Shape{2, 3}));  // exclude every axis: nothing reduced
  CHECK(nd::sum(x).item<float>() == 6.f);
}

MIXT_DEVICE_TEST("reduce: empty inputs: sum 0, prod 1, mean NaN; max, min and argmax raise") {
  Context ctx = Device::ctx();
  NDArray e = nd::zeros(Shape{0}, ctx);
  CHECK(nd::sum(e).item<float>() == 0.f);
  CHECK(nd::prod(e).item<float>() == 1.f);
  CHECK(std::isnan(nd::mean(e).item<float>()));
  CHECK(nd::norm(e).item<float>() == 0.f);
  NDArray e2 = nd::zeros(Shape{2, 0}, ctx);
  check_close(nd::sum(e2, 1), {0, 0}, 0, 0);
  CHECK(nd::sum(e2, 0).shape() == Shape{0});  // nothing to compute: an empty result
  CHECK(nd::max(e2, 0).shape() == Shape{0});
  // An empty reduced axis with a non-empty one after it (the row-wise fold): every output folds nothing.
  NDArray e3 = nd::zeros(Shape{3, 0, 2}, ctx);
  REQUIRE(nd::sum(e3, 1).shape() == Shape{3, 2});
  check_close(nd::sum(e3, 1), std::vector<double>(6, 0.0), 0, 0);
  check_close(nd::prod(e3, Axes({0, 1})), {1, 1}, 0, 0);
  for (float v : nd::mean(e3, 1).to_vector<float>()) CHECK(std::isnan(v));
  for (auto f : {+[](const NDArray& a) { return nd::max(a); }, +[](const NDArray& a) { return nd::min(a, 1); },
                 +[](const NDArray& a) { return nd::argmax(a); }, +[](const NDArray& a) { return nd::argmin(a, -1); }}) {
    try {
      f(e2);
      FAIL("reducing an empty axis must raise");
    } catch (const Error& err) {
      CHECK(std::string(err.message()).find("(2, 0)") != std::string::npos);
      CHECK(std::string(err.message()).find("empty") != std::string::npos);
    }
  }
  try {
    nd::max(e2);
  } catch (const Error& err) {
    CHECK(err.op() == "max");
  }
}

MIXT_DEVICE_TEST("reduce: argmax and argmin return the first index of ties; NaN wins and propagates") {
  Context ctx = Device::ctx();
  NDArray t = nd::array({1, 3, 3, 2, 3}, Shape{5}, ctx);
  CHECK(nd::argmax(t).item<float>() == 1.f);
  CHECK(nd::argmin(nd::array({2, 1, 5, 1}, Shape{4}, ctx)).item<float>() == 1.f);
  NDArray m = nd::array({1, 5, 4, 5, 4, 0}, Shape{3, 2}, ctx);
  check_close(nd::argmax(m, 0), {1, 0}, 0, 0);
  check_close(nd::argmax(m, 1), {1, 1, 0}, 0, 0);
  CHECK(nd::argmax(m, 0, true).shape() == (Shape{1, 2}));
  // Ties far apart, so that threads see them in different parts.
  const int64_t n = (1 << 21) + 5;
  std::vector<double> big(size_t(n), 0.0);
  big[100] = big[size_t(n - 1)] = big[1 << 20] = 1;
  NDArray b = nd::array(big, Shape{n}, ctx);
  CHECK(nd::argmax(b).item<float>() == 100.f);
  CHECK(nd::argmin(b).item<float>() == 0.f);
  CHECK(nd::argmax(b.reshape({n, 1}), 0).item<float>() == 100.f);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  NDArray withnan = nd::array({1.0, nan, 3.0, nan}, Shape{4}, ctx);
  CHECK(nd::argmax(withnan).item<float>() == 1.f);
  CHECK(nd::argmin(withnan).item<float>() == 1.f);
  CHECK(std::isnan(nd::max(withnan).item<float>()));
  CHECK(std::isnan(nd::min(withnan).item<float>()));
  big[12345] = nan;
  CHECK(std::isnan(nd::max(nd::array(big, Shape{n}, ctx)).item<float>()));
}

MIXT_DEVICE_TEST("reduce: bad axes raise mixt::Error naming the op and the axis") {
  Context ctx = Device::ctx();
  NDArray x = nd::ones(Shape{2, 3}, ctx);
  struct Case { std::function<void()> f; const char* op; const char* text; };
  const std::vector<Case> cases = {
      {[&] { nd::sum(x, 2); }, "sum", "axis 2 is out of range"},
      {[&] { nd::mean(x, -3); }, "mean", "axis -3 is out of range"},
      {[&] { nd::max(x, {0, 5}); }, "max", "axis 5"},
      {[&] { nd::norm(exp(x), {1, -1}); }, "norm", "axis -1 appears more than once"},
      {[&] { nd::prod(x, {0, 0}, false, true); }, "prod", "appears more than once"},
      {[&] { nd::argmax(x, 2); }, "argmax", "axis 2"},
      {[&] { nd::argmin(x, -3); }, "argmin", "axis -3"},
      {[&] { nd::sum(x + nd::ones(Shape{4}, ctx)); }, "elemwise_add", "could not be broadcast"}};
  for (const auto& c : cases) {
    CAPTURE(c.text);
    try {
      c.f();
      FAIL("expected an error");
    } catch (const Error& err) {
      CHECK(err.op() == c.op);
      CHECK(std::string(err.message()).find(c.text) != std::string::npos);
      CHECK(std::string(err.where().file_name()).find("test_reduce") != std::string::npos);
    }
  }
  NDArray d = nd::ones(Shape{3}, ctx, DType::float64);
  CHECK_THROWS_AS(nd::sum(x + d.reshape({1, 3})), Error);  // mixed dtypes
}

TEST_CASE("reduce: mean over the leading axis of a big array, split over threads, divides by the whole count") {
  for (const Shape& s : {Shape{70000, 2}, Shape{1 << 17, 3}}) {
    CAPTURE(s);
    NDArray x = nd::full(s, 2.0, cpu());
    check_close(nd::mean(x, 0), std::vector<double>(size_t(s[1]), 2.0), 1e-6, 0);
  }
}

TEST_CASE("reduce: max, min, argmax and argmin of infinities (their identities are the infinities themselves)") {
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t n : {int64_t(3), int64_t(40), int64_t(5000)}) {
    CAPTURE(n);
    NDArray lo = nd::full(Shape{n}, -inf, cpu()), hi = nd::full(Shape{n}, inf, cpu());
    CHECK(nd::max(lo).item<double>() == -inf);
    CHECK(nd::min(hi).item<double>() == inf);
    CHECK(nd::argmax(lo).item<double>() == 0);  // the first of equal values, -inf included
    CHECK(nd::argmin(hi).item<double>() == 0);
    CHECK(nd::max(lo.reshape({n, 1}), 0).item<double>() == -inf);
    check_close(nd::argmax(nd::full(Shape{n, 3}, -inf, cpu()), 0), {0, 0, 0}, 0, 0);
  }
}

MIXT_DEVICE_TEST("reduce: norm with MXNet's ord 1 and 2 over axes, its errors, and ord 1's gradient") {
  Context ctx = Device::ctx();
  const std::vector<double> v = mixt::testing::as_stored(random_values(24, -2, 2, 31));
  NDArray x = nd::array(v, Shape{2, 3, 4}, ctx);
  // Double loops over axis 1 of (2, 3, 4): out[i][k] over j.
  std::vector<double> l1(8, 0.0), l2(8, 0.0);
  double all1 = 0;
  for (size_t i = 0; i < 2; ++i)
    for (size_t j = 0; j < 3; ++j)
      for (size_t k = 0; k < 4; ++k) {
        const double a = v[(i * 3 + j) * 4 + k];
        l1[i * 4 + k] += std::abs(a);
        l2[i * 4 + k] += a * a;
        all1 += std::abs(a);
      }
  for (double& s : l2) s = std::sqrt(s);
  NDArray n1 = nd::norm(x, NormParam{.ord = 1, .axis = 1}), n2 = nd::norm(x, NormParam{.ord = 2, .axis = 1});
  CHECK(n1.shape() == Shape{2, 4});
  CHECK(n2.shape() == Shape{2, 4});
  check_close(n1, l1, 1e-5, 1e-6);
  check_close(n2, l2, 1e-5, 1e-6);
  NDArray whole = nd::norm(x * 1.f, NormParam{.ord = 1});  // an expression, every axis
  CHECK(whole.shape() == Shape{});
  check_close(whole, {all1}, 1e-5, 1e-6);
  NDArray kept = nd::norm(x, NormParam{.ord = 1, .axis = {0, 2}, .keepdims = true});
  CHECK(kept.shape() == Shape{1, 3, 1});
  CHECK(nd::norm(x, {1, -1}).shape() == Shape{2});  // a braced list is still the axes
  testing::expect_error([&] { nd::norm(x, NormParam{.ord = 3}); }, {"norm", "'ord'", "1 or 2", "received 3"});
  testing::expect_error([&] { nd::norm(x, NormParam{.ord = 1, .axis = 3}); }, {"norm", "axis 3"});
  // d/dx sum |x| = sign(x), 0 at 0 (MXNet's abs gradient).
  NDArray z = nd::array({-1.5, 0.0, 2.0}, Shape{3}, ctx), loss;
  z.attach_grad();
  {
    autograd::record rec;
    loss = nd::norm(z, NormParam{.ord = 1}) * 2.f;
  }
  loss.backward();
  check_close(z.grad(), {-2, 0, 2}, 0, 0);
}
