// Second and higher derivatives of element-wise expressions, reductions and products: their adjoints are recorded
// in turn while create_graph records the backward pass.
#include "testing.hpp"

#include <algorithm>

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::random_values;

static std::vector<double> stored(std::vector<double> v) { return mixt::testing::as_stored(std::move(v)); }

MIXT_DEVICE_TEST("autograd: autograd::grad returns gradients without touching grad(); second derivatives") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(6, -1, 1, 41));
  NDArray x = nd::array(xv, Shape{6}, ctx);
  x.attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = exp(x) + x;
  }
  std::vector<NDArray> g;
  {
    autograd::record rec;  // the gradient's computation is recorded too (create_graph)
    g = autograd::grad({y}, {x}, {}, true, /*create_graph=*/true);
  }
  std::vector<double> first(6), second(6);
  for (size_t i = 0; i < 6; ++i) {
    first[i] = std::exp(xv[i]) + 1;
    second[i] = std::exp(xv[i]);
  }
  check_close(g[0], first, 1e-5);
  check_close(x.grad(), std::vector<double>(6, 0.0));  // untouched
  g[0].backward();
  check_close(x.grad(), second, 1e-5);
}

MIXT_DEVICE_TEST("autograd: third derivatives through a broadcast operand") {
  // y = sin(x) * x * w with w (1, 3) broadcast over x (4, 3): d3y/dx3 = (-cos(x) x - 3 sin(x)) w, and the sum over
  // rows of the third derivative with respect to w once, x twice: (-sin(x) x + 2 cos(x)).
  auto ctx = Device::ctx();
  auto xv = stored(random_values(12, -2, 2, 43));
  auto wv = stored(random_values(3, 0.5, 1.5, 44));
  NDArray x = nd::array(xv, Shape{4, 3}, ctx), w = nd::array(wv, Shape{1, 3}, ctx);
  x.attach_grad();
  w.attach_grad();
  std::vector<NDArray> g1, g2;
  {
    autograd::record rec;
    NDArray y = sin(x) * x * w;
    g1 = autograd::grad({y}, {x}, {}, true, /*create_graph=*/true);
    g2 = autograd::grad({g1[0]}, {x}, {}, true, /*create_graph=*/true);
  }
  g2[0].backward();
  std::vector<double> d3(12), dw(3, 0.0), d2(12);
  for (size_t i = 0; i < 12; ++i) {
    const double s = std::sin(xv[i]), c = std::cos(xv[i]), x1 = xv[i], wi = wv[i % 3];
    d2[i] = (-s * x1 + 2 * c) * wi;
    d3[i] = (-c * x1 - 3 * s) * wi;
    dw[i % 3] += -s * x1 + 2 * c;
  }
  check_close(g2[0], d2, 1e-4, 1e-5);
  check_close(x.grad(), d3, 1e-4, 1e-5);
  check_close(w.grad(), dw, 1e-4, 1e-5);
}

MIXT_DEVICE_TEST("autograd: second derivatives of functions whose adjoints reuse values") {
  // The adjoint of sigmoid reads s twice, that of a / b reads b twice: their own adjoints must sum both uses.
  auto ctx = Device::ctx();
  struct Case {
    const char* name;
    std::function<NDArray(const NDArray&)> f;
    std::function<double(double)> second;
  };
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  const std::vector<Case> cases = {
      {"sigmoid", [](const NDArray& x) { return NDArray(sigmoid(x)); },
       [&](double x) { const double s = sig(x); return s * (1 - s) * (1 - 2 * s); }},
      {"tanh", [](const NDArray& x) { return NDArray(tanh(x)); },
       [](double x) { const double t = std::tanh(x); return -2 * t * (1 - t * t); }},
      {"div", [](const NDArray& x) { return NDArray(x / (x + 2.f)); }, [](double x) { return -4 / std::pow(x + 2, 3); }},
      {"sqrt", [](const NDArray& x) { return NDArray(sqrt(x)); }, [](double x) { return -0.25 * std::pow(x, -1.5); }},
      {"exp", [](const NDArray& x) { return NDArray(exp(x * 0.5f)); }, [](double x) { return 0.25 * std::exp(x / 2); }},
  };
  auto xv = stored(random_values(8, 0.3, 2, 45));
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    NDArray x = nd::array(xv, Shape{8}, ctx);
    x.attach_grad();
    std::vector<NDArray> g;
    {
      autograd::record rec;
      NDArray y = c.f(x);
      g = autograd::grad({y}, {x}, {}, true, /*create_graph=*/true);
    }
    g[0].backward();
    std::vector<double> want(8);
    for (size_t i = 0; i < 8; ++i) want[i] = c.second(xv[i]);
    check_close(x.grad(), want, 1e-4, 1e-5);
  }
}

MIXT_DEVICE_TEST("autograd: second derivatives through recorded reductions and products") {
  // f = sum(c * max(x, axis 1) ^ 2) + sum(dot(x, w) ^ 2): its gradient g is recorded (create_graph), and
  // backward of sum(g) gives sum_j d2f / dx_i dx_j, written out in double below.
  auto ctx = Device::ctx();
  auto xv = stored(random_values(6, 0.1, 1, 61)), wv = stored(random_values(6, -1, 1, 62)),
       cv = stored(random_values(2, 0.5, 1.5, 63));
  NDArray x = nd::array(xv, Shape{2, 3}, ctx), w = nd::array(wv, Shape{3, 2}, ctx), c = nd::array(cv, Shape{2}, ctx);
  x.attach_grad();
  NDArray f;
  {
    autograd::record rec;
    NDArray m = nd::max(x, 1), p = nd::dot(x, w);
    f = nd::sum(c * m * m) + nd::sum(p * p);
  }
  std::vector<NDArray> g;
  {
    autograd::record rec;
    g = autograd::grad({f}, {x}, {}, true, /*create_graph=*/true);
  }
  // df/dx_ik = 2 c_i m_i [x_ik = m_i] + 2 sum_n p_in w_kn
  std::vector<double> first(6), second(6, 0.0);
  for (size_t i = 0; i < 2; ++i) {
    const size_t arg = size_t(std::max_element(xv.begin() + long(3 * i), xv.begin() + long(3 * i + 3)) - xv.begin());
    for (size_t k = 0; k < 3; ++k) {
      double d = 0, dd = 0;
      for (size_t n = 0; n < 2; ++n) {
        double p = 0;
        for (size_t j = 0; j < 3; ++j) p += xv[i * 3 + j] * wv[j * 2 + n];
        d += 2 * p * wv[k * 2 + n];
        for (size_t j = 0; j < 3; ++j) dd += 2 * wv[j * 2 + n] * wv[k * 2 + n];  // d/dx_ij of the product term
      }
      if (i * 3 + k == arg) d += 2 * cv[i] * xv[arg], dd += 2 * cv[i];  // d/dx_i,arg of the max term
      first[i * 3 + k] = d;
      second[i * 3 + k] = dd;
    }
  }
  check_close(g[0], first, 1e-4, 1e-5);
  NDArray total;
  {
    autograd::record rec;
    total = nd::sum(g[0]);
  }
  total.backward();
  check_close(x.grad(), second, 1e-4, 1e-5);
}

MIXT_DEVICE_TEST("autograd: second derivatives through norm, prod, broadcast leaves, views and copies") {
  // Each case: f, then sum(df/dx) differentiated again; the values are worked out by hand in the comments.
  auto ctx = Device::ctx();
  auto second = [&](const NDArray& x, const std::function<NDArray(const NDArray&)>& f, const NDArray& extra = {}) {
    std::vector<NDArray> vars{x};
    if (!extra.is_none()) vars.push_back(extra);
    NDArray total;
    {
      autograd::record rec;
      std::vector<NDArray> g = autograd::grad({f(x)}, vars, {}, true, /*create_graph=*/true);
      total = nd::sum(g[0]);
      if (g.size() > 1) total = total + nd::sum(g[1]);
    }
    total.backward();
  };
  NDArray x = nd::array<double>({3, 4}, Shape{2}, ctx);
  x.attach_grad();
  second(x, [](const NDArray& v) { return nd::norm(v); });  // d/dx_j sum_k x_k / |x| = 1/5 - 7 x_j / 125
  check_close(x.grad(), {0.032, -0.024}, 1e-4, 1e-6);
  NDArray p = nd::array<double>({2, 3}, Shape{2}, ctx);
  p.attach_grad();
  second(p, [](const NDArray& v) { return nd::prod(v); });  // grad (3, 2): d/dp sum = (1, 1)
  check_close(p.grad(), {1, 1}, 1e-5, 1e-6);
  NDArray m = nd::array<double>({1, 2, 3, 4}, Shape{2, 2}, ctx), w = nd::array<double>({5, 6}, Shape{2}, ctx);
  m.attach_grad();
  w.attach_grad();
  // y = m * w (w broadcast over rows): dy/dm = w, dy/dw = the column sums of m; d/dm of their sums: 0 + 1.
  second(m, [&](const NDArray& v) { return NDArray(v * w); }, w);
  check_close(m.grad(), {1, 1, 1, 1}, 1e-5, 1e-6);
  check_close(w.grad(), {2, 2}, 1e-5, 1e-6);
  // Partial views and copies plus sum(x * x): gradients 2 (view part) + 2x; their sums' derivatives below.
  const std::vector<std::pair<std::function<NDArray(const NDArray&)>, std::vector<double>>> parts = {
      {[](const NDArray& v) { return v.at(1); }, {2, 2, 4, 4}},
      {[](const NDArray& v) { return v.slice_axis(1, 1, 2); }, {2, 4, 2, 4}},
      {[](const NDArray& v) { return v.reshape({4}).slice(0, 1); }, {4, 2, 2, 2}},
  };
  for (const auto& [part, want] : parts) {
    NDArray v = nd::array<double>({1, 2, 3, 4}, Shape{2, 2}, ctx);
    v.attach_grad();
    second(v, [&](const NDArray& a) {
      NDArray s = part(a);
      return NDArray(nd::sum(s * s) + nd::sum(a * a));
    });
    check_close(v.grad(), want, 1e-5, 1e-6);
  }
  NDArray r = nd::array<double>({1, 2}, Shape{2}, ctx);  // sum over 3 broadcast rows: f = 4 sum(r^2), grad 8r
  r.attach_grad();
  second(r, [](const NDArray& a) {
    NDArray b = a.broadcast_to(Shape{3, 2});
    return NDArray(nd::sum(b * b) + nd::sum(a * a));
  });
  check_close(r.grad(), {8, 8}, 1e-5, 1e-6);
  // A library operator's backward is not differentiable: going through it a second time is an error, not a 0.
  NDArray t = nd::array<double>({0.5, -1}, Shape{2}, ctx);
  t.attach_grad();
  try {
    second(t, [](const NDArray& a) {
      return NDArray(nd::sum(nd::Activation(a, {.act_type = "tanh"})) + nd::sum(a * a));
    });
    FAIL("a second derivative through Activation must raise");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("Activation") != std::string::npos);
  }
}
