// Autograd: compile-time derivatives of every expression function against finite differences, broadcasting,
// grad_req add, retain_graph, pause, detach, library operators, and second derivatives.
#include "testing.hpp"

#if defined(__unix__)
#include <pthread.h>
#endif

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::expect_error;
using mixt::testing::random_values;

namespace {

std::vector<double> stored(std::vector<double> v) { return mixt::testing::as_stored(std::move(v)); }

/// Central differences of an element-wise function: (f(x + e) - f(x - e)) / 2e, element by element, computed
/// with mixt's own forward pass.
std::vector<double> fd_elementwise(const std::function<NDArray(const NDArray&)>& f, const std::vector<double>& x,
                                   const Shape& s, Context ctx, double eps) {
  std::vector<double> xp = x, xm = x;
  for (auto& v : xp) v += eps;
  for (auto& v : xm) v -= eps;
  auto fp = f(nd::array(xp, s, ctx)).to_vector<double>(), fm = f(nd::array(xm, s, ctx)).to_vector<double>();
  std::vector<double> d(x.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = (fp[i] - fm[i]) / (2 * eps);
  return d;
}

/// erf(erf(...erf(e))), N deep.
template <int N, class E>
auto erf_chain(const E& e) {
  if constexpr (N == 0) return e;
  else return erf_chain<N - 1>(erf(e));
}

}  // namespace

MIXT_DEVICE_TEST("autograd: the derivative of every element-wise function matches finite differences") {
  auto ctx = Device::ctx();
  struct Case { const char* name; double lo, hi; std::function<NDArray(const NDArray&)> f; };
  const std::vector<Case> cases = {
      {"exp", -2, 2, [](const NDArray& a) { return NDArray(exp(a)); }},
      {"log", 0.5, 3, [](const NDArray& a) { return NDArray(log(a)); }},
      {"log1p", -0.5, 2, [](const NDArray& a) { return NDArray(log1p(a)); }},
      {"expm1", -2, 2, [](const NDArray& a) { return NDArray(expm1(a)); }},
      {"sqrt", 0.5, 3, [](const NDArray& a) { return NDArray(sqrt(a)); }},
      {"rsqrt", 0.5, 3, [](const NDArray& a) { return NDArray(rsqrt(a)); }},
      {"square", -2, 2, [](const NDArray& a) { return NDArray(square(a)); }},
      {"abs", 0.2, 2, [](const NDArray& a) { return NDArray(abs(a) + abs(-a)); }},
      {"sin", -3, 3, [](const NDArray& a) { return NDArray(sin(a)); }},
      {"cos", -3, 3, [](const NDArray& a) { return NDArray(cos(a)); }},
      {"tanh", -2, 2, [](const NDArray& a) { return NDArray(tanh(a)); }},
      {"sigmoid", -4, 4, [](const NDArray& a) { return NDArray(sigmoid(a)); }},
      {"relu", 0.1, 2, [](const NDArray& a) { return NDArray(relu(a) + relu(-a)); }},
      {"softrelu", -3, 3, [](const NDArray& a) { return NDArray(softrelu(a)); }},
      {"erf", -2, 2, [](const NDArray& a) { return NDArray(erf(a)); }},
      {"negative", -2, 2, [](const NDArray& a) { return NDArray(-a); }},
      {"arith", 0.5, 2, [](const NDArray& a) { return NDArray((a * 3.f - 1.f) / (a + 2.f) + 5.f / a - (1.f - a)); }},
      {"pow", 0.5, 2, [](const NDArray& a) { return NDArray(pow(a, 2.5f) + pow(2.f, a) + pow(a, a)); }},
      {"max/min", -2, 2, [](const NDArray& a) { return NDArray(maximum(a, 0.3f) * minimum(a * 2.f, 0.1f)); }},
      {"where/clip", -2, 2, [](const NDArray& a) { return NDArray(where(a > 0.f, a * a, a * 3.f) + clip(a, -1, 1)); }},
      {"composite", -1, 1, [](const NDArray& a) { return NDArray(exp(a) * sigmoid(a * a) + tanh(a) / (square(a) + 1.f)); }},
      {"constant parts", -2, 2, [](const NDArray& a) { return NDArray(a * 2.f + sign(a) + floor(a) + (a > 0.f)); }},
  };
  const Shape s{5, 7};
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto xv = stored(random_values(35, c.lo, c.hi, 21));
    if (std::string(c.name) == "constant parts" || std::string(c.name) == "where/clip")
      for (auto& v : xv) if (std::abs(v - std::round(v)) < 0.05 || std::abs(std::abs(v) - 1) < 0.05) v += 0.1;
    auto gv = stored(random_values(35, -1, 1, 22));
    NDArray x = nd::array(xv, s, ctx), g = nd::array(gv, s, ctx);
    x.attach_grad();
    NDArray y;
    {
      autograd::record rec;
      y = c.f(x);
    }
    y.backward(g);
    std::vector<double> d = fd_elementwise(c.f, xv, s, ctx, 1e-3), want(35);
    for (size_t i = 0; i < 35; ++i) want[i] = gv[i] * d[i];
    check_close(x.grad(), want, 2e-2, 2e-3);
  }
}

MIXT_DEVICE_TEST("autograd: gradients of broadcast and transposed operands are reduced to their shapes") {
  auto ctx = Device::ctx();
  auto av = stored(random_values(12, -1, 1, 31)), bv = stored(random_values(4, -1, 1, 32)), cv = stored(random_values(3, -1, 1, 33));
  NDArray a = nd::array(av, Shape{3, 4}, ctx), b = nd::array(bv, Shape{4}, ctx), c = nd::array(cv, Shape{3, 1}, ctx);
  NDArray m = nd::array(stored(random_values(12, -1, 1, 34)), Shape{4, 3}, ctx);
  for (NDArray* v : {&a, &b, &c, &m}) v->attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = a * b + c * 2.f + m.T() * a;
  }
  y.backward();  // head gradient of ones
  auto mv = m.to_vector<double>();
  std::vector<double> ga(12), gb(4, 0), gc(3, 0), gm(12);
  for (size_t i = 0; i < 3; ++i)
    for (size_t j = 0; j < 4; ++j) {
      ga[i * 4 + j] = bv[j] + mv[j * 3 + i];
      gb[j] += av[i * 4 + j];
      gc[i] += 2;
      gm[j * 3 + i] = av[i * 4 + j];
    }
  check_close(a.grad(), ga, 1e-5, 1e-6);
  check_close(b.grad(), gb, 1e-5, 1e-6);
  check_close(c.grad(), gc, 1e-5, 1e-6);
  check_close(m.grad(), gm, 1e-5, 1e-6);
}

MIXT_DEVICE_TEST("autograd: reductions of arrays and of expressions are recorded") {
  // loss = sum_i c_i * op_j(2 x_ij), against the derivative of each reduction written out in double.
  auto ctx = Device::ctx();
  auto xv = stored(random_values(12, 0.5, 1.5, 41)), cv = stored(random_values(3, -1, 1, 42));
  NDArray c = nd::array(cv, Shape{3}, ctx);
  for (std::string op : {"sum", "mean", "max", "min", "norm", "prod"}) {
    CAPTURE(op);
    NDArray x = nd::array(xv, Shape{3, 4}, ctx);
    x.attach_grad();
    NDArray loss;
    {
      autograd::record rec;
      NDArray r = op == "sum" ? nd::sum(x * 2.f, 1) : op == "mean" ? nd::mean(x * 2.f, 1)
                : op == "max" ? nd::max(x * 2.f, 1) : op == "min" ? nd::min(x * 2.f, 1)
                : op == "norm" ? nd::norm(x * 2.f, 1) : nd::prod(x * 2.f, 1);
      loss = nd::sum(r * c);
    }
    loss.backward();
    std::vector<double> want(12);
    for (size_t i = 0; i < 3; ++i) {
      double mx = -1e300, mn = 1e300, sq = 0, pr = 1;
      for (size_t j = 0; j < 4; ++j) {
        const double e = 2 * xv[i * 4 + j];
        mx = std::max(mx, e), mn = std::min(mn, e), sq += e * e, pr *= e;
      }
      for (size_t j = 0; j < 4; ++j) {
        const double e = 2 * xv[i * 4 + j];
        const double d = op == "sum" ? 1 : op == "mean" ? 0.25 : op == "max" ? double(e == mx)
                       : op == "min" ? double(e == mn) : op == "norm" ? e / std::sqrt(sq) : pr / e;
        want[i * 4 + j] = 2 * cv[i] * d;
      }
    }
    check_close(x.grad(), want, 1e-4, 1e-5);
  }
  // A reduction used beside its input: d/dx_k sum_j x_j * sum(x) = 2 sum(x). (It used to be a constant: sum(x).)
  NDArray x = nd::array(xv, Shape{3, 4}, ctx);
  x.attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = x * nd::sum(x);
  }
  y.backward();
  double total = 0;
  for (double v : xv) total += v;
  check_close(x.grad(), std::vector<double>(12, 2 * total), 1e-5, 1e-5);
}

MIXT_DEVICE_TEST("autograd: dot and batch_dot are recorded, with their transpose flags and scalar factors") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(6, -1, 1, 43)), wv = stored(random_values(12, -1, 1, 44)),
       cv = stored(random_values(8, -1, 1, 45));
  NDArray c = nd::array(cv, Shape{2, 4}, ctx);
  for (bool wt : {false, true}) {  // w stored (4, 3) read transposed, or stored (3, 4)
    CAPTURE(wt);
    NDArray x = nd::array(xv, Shape{2, 3}, ctx), w = nd::array(wv, wt ? Shape{4, 3} : Shape{3, 4}, ctx);
    x.attach_grad();
    w.attach_grad();
    NDArray loss;
    {
      autograd::record rec;
      NDArray y = 2.f * nd::dot(x, w, false, wt);
      loss = nd::sum(y * c);
    }
    loss.backward();
    auto W = [&](size_t k, size_t n) { return wt ? wv[n * 3 + k] : wv[k * 4 + n]; };
    std::vector<double> gx(6, 0), gw(12, 0);
    for (size_t m = 0; m < 2; ++m)
      for (size_t k = 0; k < 3; ++k)
        for (size_t n = 0; n < 4; ++n) {
          gx[m * 3 + k] += 2 * cv[m * 4 + n] * W(k, n);
          gw[wt ? n * 3 + k : k * 4 + n] += 2 * cv[m * 4 + n] * xv[m * 3 + k];
        }
    check_close(x.grad(), gx, 1e-5, 1e-6);
    check_close(w.grad(), gw, 1e-5, 1e-6);
  }
  // batch_dot with transpose_a: a stored (B, K, M) = (2, 3, 1), b (2, 3, 2); loss = sum(batch_dot(a, b, true)).
  auto av = stored(random_values(6, -1, 1, 46)), bv = stored(random_values(12, -1, 1, 47));
  NDArray a = nd::array(av, Shape{2, 3, 1}, ctx), b = nd::array(bv, Shape{2, 3, 2}, ctx);
  a.attach_grad();
  b.attach_grad();
  NDArray loss;
  {
    autograd::record rec;
    loss = nd::sum(NDArray(nd::batch_dot(a, b, true, false)));
  }
  loss.backward();
  std::vector<double> ga(6, 0), gb(12, 0);
  for (size_t s = 0; s < 2; ++s)
    for (size_t k = 0; k < 3; ++k)
      for (size_t n = 0; n < 2; ++n) {
        ga[s * 3 + k] += bv[s * 6 + k * 2 + n];
        gb[s * 6 + k * 2 + n] += av[s * 3 + k];
      }
  check_close(a.grad(), ga, 1e-5, 1e-6);
  check_close(b.grad(), gb, 1e-5, 1e-6);
}

MIXT_DEVICE_TEST("autograd: copy, copyto, astype, transpose, slice_axis and broadcast_to are recorded") {
  // loss = sum(c * f(x)) for each copy f; its gradient is c put back through f's inverse, written out by hand.
  auto ctx = Device::ctx();
  auto xv = stored(random_values(12, -1, 1, 51));
  struct Case {
    const char* name;
    std::function<NDArray(const NDArray&)> f;
    Shape out;
    std::function<size_t(size_t)> source;  ///< out's flat index -> x's flat index (x is (2, 3, 2))
  };
  const std::vector<Case> cases = {
      {"copy", [](const NDArray& a) { return a.copy(); }, Shape{2, 3, 2}, [](size_t i) { return i; }},
      {"copyto", [](const NDArray& a) { return a.copyto(a.ctx()); }, Shape{2, 3, 2}, [](size_t i) { return i; }},
      {"astype", [](const NDArray& a) { return a.astype(DType::float32); }, Shape{2, 3, 2}, [](size_t i) { return i; }},
      {"transpose", [](const NDArray& a) { return a.transpose({-1, 0, 1}); }, Shape{2, 2, 3},
       [](size_t i) { return (i / 6) + (i / 3 % 2) * 6 + (i % 3) * 2; }},  // out (k, i, j) = x (i, j, k)
      {"slice_axis", [](const NDArray& a) { return a.slice_axis(1, 1, std::nullopt); }, Shape{2, 2, 2},
       [](size_t i) { return (i / 4) * 6 + (i / 2 % 2 + 1) * 2 + i % 2; }},
      {"slice_axis (last axis)", [](const NDArray& a) { return a.slice_axis(-1, 1, 2); }, Shape{2, 3, 1},
       [](size_t i) { return i * 2 + 1; }},  // its axis permutation is not its own inverse, unlike axis 1's
      {"broadcast_to", [](const NDArray& a) { return a.reshape({1, 2, 3, 2}).broadcast_to(Shape{2, 2, 3, 2}); },
       Shape{2, 2, 3, 2}, [](size_t i) { return i % 12; }},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    NDArray x = nd::array(xv, Shape{2, 3, 2}, ctx);
    x.attach_grad();
    auto cv = stored(random_values(size_t(k.out.size()), -1, 1, 52));
    NDArray c = nd::array(cv, k.out, ctx), loss;
    {
      autograd::record rec;
      NDArray y = k.f(x);
      REQUIRE(y.shape() == k.out);
      loss = nd::sum(y * c);
    }
    loss.backward();
    std::vector<double> want(12, 0.0);
    for (size_t i = 0; i < cv.size(); ++i) want[k.source(i)] += cv[i];
    check_close(x.grad(), want, 1e-5, 1e-6);
  }
  NDArray x = nd::array(xv, Shape{12}, ctx), y;
  x.attach_grad();
  {
    autograd::record rec;
    y = x * 2.f;
  }
  try {
    y.backward(nd::ones(Shape{12}, ctx, DType::int32));
    FAIL("a head gradient of another dtype must raise");
  } catch (const Error& e) {
    CHECK(e.op() == "backward");
    CHECK(std::string(e.what()).find("int32") != std::string::npos);
  }
}

MIXT_DEVICE_TEST("autograd: a transposed operand that is also broadcast gets the summed, transposed-back gradient") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(24, -1, 1, 35)), pv = stored(random_values(4, -1, 1, 36));
  auto qv = stored(random_values(12, -1, 1, 37));
  NDArray x = nd::array(xv, Shape{2, 3, 4}, ctx);
  NDArray p = nd::array(pv, Shape{4, 1}, ctx);     // p.T() is (1, 4): broadcast over (2, 3, .)
  NDArray q = nd::array(qv, Shape{4, 3, 1}, ctx);  // q.T() is (1, 3, 4): broadcast over axis 0
  for (NDArray* v : {&x, &p, &q}) v->attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = x * p.T() + x * q.T() * 3.f;
  }
  y.backward();
  std::vector<double> gx(24), gp(4, 0), gq(12, 0);
  for (size_t i = 0; i < 2; ++i)
    for (size_t k = 0; k < 3; ++k)
      for (size_t j = 0; j < 4; ++j) {
        const size_t at = (i * 3 + k) * 4 + j;
        gx[at] = pv[j] + 3 * qv[j * 3 + k];
        gp[j] += xv[at];
        gq[j * 3 + k] += 3 * xv[at];
      }
  check_close(x.grad(), gx, 1e-5, 1e-6);
  check_close(p.grad(), gp, 1e-5, 1e-6);
  check_close(q.grad(), gq, 1e-5, 1e-6);
}

MIXT_DEVICE_TEST("autograd: grad_req add accumulates, write overwrites, null leaves the buffer alone") {
  auto ctx = Device::ctx();
  NDArray x = nd::array<double>({1, 2, 3}, ctx), w = nd::array<double>({1, 2, 3}, ctx), n = nd::array<double>({1, 2, 3}, ctx);
  x.attach_grad(GradReq::add);
  w.attach_grad(grad_req::write);  // MXNet's and DESIGN.md's spelling of the same values
  n.attach_grad(grad_req::null);
  static_assert(grad_req::add == GradReq::add && grad_req::write == GradReq::write);
  for (int i = 0; i < 3; ++i) {
    NDArray y;
    {
      autograd::record rec;
      y = x * x + w * 3.f + n;
    }
    y.backward();
  }
  check_close(x.grad(), {6, 12, 18});  // 3 x 2x
  check_close(w.grad(), {3, 3, 3});
  check_close(n.grad(), {0, 0, 0});
}

MIXT_DEVICE_TEST("autograd: a write-mode variable reached without a gradient gets zeros, not the last one") {
  // floor, sign and comparisons pass no gradient; MXNet writes zeros. Keeping the previous backward's values let
  // an optimizer apply them again.
  auto ctx = Device::ctx();
  NDArray x = nd::array<double>({1.5, 2.5, 3.5}, ctx), w = nd::ones(Shape{3}, ctx);
  x.attach_grad();
  w.attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = x * 2.f + w;
  }
  y.backward();
  check_close(x.grad(), {2, 2, 2});
  {
    autograd::record rec;
    y = floor(x) * w + (x > 2.f);
  }
  y.backward();
  check_close(x.grad(), {0, 0, 0});
  check_close(w.grad(), {1, 2, 3});
}

MIXT_DEVICE_TEST("autograd: in-place writes while recording follow MXNet's rules") {
  auto ctx = Device::ctx();
  NDArray x = nd::array<double>({1, 2, 3}, ctx);
  x.attach_grad();
  // A variable may not be overwritten while recording: the backward would read the new values (it silently did).
  {
    autograd::record rec;
    NDArray loss = nd::sum(x * x);
    CHECK_THROWS_AS(x -= 0.5f, Error);
    CHECK_THROWS_AS(x.assign(x * 0.f), Error);
    CHECK_THROWS_AS(nd::zeros(Shape{3}, ctx).copyto(x), Error);
  }
  check_close(x, {1, 2, 3});  // refused before anything was written
  // An array outside the tape that receives a recorded value joins the tape with it: the gradient flows through
  // assign, +=, -=, a product and copyto (they were not recorded, and the gradients were silently short).
  NDArray a = nd::array<double>({1, 2, 3, 4}, Shape{2, 2}, ctx);
  a.attach_grad();
  NDArray c = nd::zeros(Shape{3}, ctx), d = nd::ones(Shape{3}, ctx), e = nd::full(Shape{3}, 5.0, ctx),
          f = nd::zeros(Shape{3}, ctx), m = nd::ones(Shape{2, 2}, ctx), loss;
  {
    autograd::record rec;
    c.assign(x * 2.f);            // c = 2x
    d += x * x;                   // d = 1 + x^2
    e -= x;                       // e = 5 - x
    x.copyto(f);                  // f = x
    m -= nd::dot(a, a) * 0.5f;    // m = 1 - a.a / 2
    loss = nd::sum(c * x + d + e * 3.f + f * f) + nd::sum(m * a);
  }
  loss.backward();
  // d/dx: 4x + 2x - 3 + 2x = 8x - 3
  check_close(x.grad(), {5, 13, 21}, 1e-6);
  check_close(c, {2, 4, 6});
  // d/da of sum(m * a), m = 1 - a a / 2: the direct term m, minus (G a^T + a^T G) / 2 with G = a (the derivative
  // of sum(G * (a a)) with G held fixed).
  const std::vector<double> av = {1, 2, 3, 4};
  std::vector<double> want(4);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      double aa = 0, ga = 0;
      for (int k = 0; k < 2; ++k) {
        aa += av[size_t(i * 2 + k)] * av[size_t(k * 2 + j)];
        ga += av[size_t(i * 2 + k)] * av[size_t(j * 2 + k)] + av[size_t(k * 2 + i)] * av[size_t(k * 2 + j)];
      }
      want[size_t(i * 2 + j)] = 1 - aa / 2 - ga / 2;
    }
  check_close(a.grad(), want, 1e-6);
  // *= and /= of a recorded value, and a recorded value broadcast in place, are errors before any write.
  NDArray g = nd::ones(Shape{3}, ctx), wide = nd::ones(Shape{2, 3}, ctx);
  {
    autograd::record rec;
    testing::expect_error([&] { g *= x; }, {"*=", "c = c * value"});
    testing::expect_error([&] { wide += x; }, {"+=", "(3,)", "(2, 3)"});
    g += 1.f;  // nothing recorded flows in: a plain write
  }
  check_close(g, {2, 2, 2});
  check_close(wide, {1, 1, 1, 1, 1, 1});
  // A recorded value that reads its own destination, or written into a view, is refused before the write.
  NDArray ones3 = nd::ones(Shape{3}, ctx), m2 = nd::array<double>({1, 0, 0, 1}, Shape{2, 2}, ctx),
          part = nd::zeros(Shape{3}, ctx);
  {
    autograd::record rec;
    testing::expect_error([&] { ones3.assign(x * ones3); }, {"assign", "reads"});
    testing::expect_error([&] { m2.assign(nd::dot(m2, a)); }, {"assign", "reads"});
    testing::expect_error([&] { part.slice(0, 2) += x.slice(0, 2) * 3.f; }, {"+=", "view"});
  }
  check_close(ones3, {1, 1, 1});
  check_close(part, {0, 0, 0});
  // Values the tape read and that were written since (after recording, or through a view taken before it) make
  // backward fail instead of differentiating the new values (it silently did).
  NDArray y;
  NDArray head = x.slice(0, 1);
  {
    autograd::record rec;
    y = nd::sum(x * ones3);
    ones3 += 5.f;  // ones3 is off the tape: the write itself is allowed
  }
  testing::expect_error([&] { y.backward(); }, {"backward", "written in place"});
  {
    autograd::record rec;
    y = nd::sum(x * x);
    head += 10.f;  // a view of the variable, taken before recording
  }
  testing::expect_error([&] { y.backward(); }, {"backward", "written in place"});
  {
    autograd::record rec;
    y = nd::sum(nd::dot(a, a));
  }
  a -= 0.1f;  // an update before the backward
  testing::expect_error([&] { y.backward(); }, {"backward", "dot", "written in place"});
}

#if defined(__unix__)
namespace {
struct DropOnSmallStack {
  NDArray a;
  static void* run(void* self) {
    static_cast<DropOnSmallStack*>(self)->a = NDArray();
    return nullptr;
  }
};
}  // namespace

TEST_CASE("autograd: a deep tape is released without deep recursion") {
  // Its nodes used to be destroyed recursively: 10^6 steps overflowed an 8 MiB stack. Here 20,000 steps are
  // released on a thread with a 256 KiB stack.
  NDArray x = nd::array<double>({1.0}, cpu());
  x.attach_grad();
  DropOnSmallStack holder;
  {
    NDArray y = x;
    autograd::record rec;
    for (int i = 0; i < 20000; ++i) y = y * 1.0f + 0.0f;
    holder.a = y;
  }
  holder.a.wait_to_read();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t thread;
  REQUIRE(pthread_create(&thread, &attr, &DropOnSmallStack::run, &holder) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  CHECK(holder.a.is_none());
}
#endif

MIXT_DEVICE_TEST("autograd: attach_grad on any copy of a handle marks them all; a view is an array of its own") {
  auto ctx = Device::ctx();
  NDArray w = nd::array<double>({1, 2, 3, 4}, Shape{2, 2}, ctx);
  NDArray earlier = w;                 // copied before attach_grad
  std::vector<NDArray> params{w};
  for (NDArray p : params) p.attach_grad();  // by value, as a range-for over copies writes it
  NDArray later = w;
  NDArray row = w.at(1);               // a view: not the variable
  CHECK(row.grad().is_none());
  NDArray loss;
  {
    autograd::record rec;
    loss = nd::sum(earlier * earlier * 3.f);
  }
  loss.backward();
  for (const NDArray* h : {&w, &earlier, &later, &params[0]}) check_close(h->grad(), {6, 12, 18, 24}, 1e-6);
  CHECK(w.grad().chunk() == earlier.grad().chunk());
  // A view marked on its own gets its own gradient and leaves the base's variable alone.
  row.attach_grad();
  {
    autograd::record rec;
    loss = nd::sum(row * w.at(1));
  }
  loss.backward();
  check_close(row.grad(), {3, 4}, 1e-6);
  check_close(w.grad(), {0, 0, 3, 4}, 1e-6);
  // detach() is a new handle: marking it does not touch w's copies.
  NDArray d = earlier.detach();
  d.attach_grad();
  CHECK(d.grad().chunk() != w.grad().chunk());
  CHECK(later.autograd_entry().node == w.autograd_entry().node);
}

MIXT_DEVICE_TEST("autograd: the tape is released once its heads are dropped, after backward and create_graph") {
  // Nodes whose backward keeps the forward's output (norm, prod, max) or a view of an input could hold themselves
  // through an array's shared tape entry; each node must die with the last handle to its head.
  auto ctx = Device::ctx();
  NDArray x = nd::array<double>({0.5, -1.5, 2, 1}, Shape{2, 2}, ctx);
  NDArray w = nd::array<double>({1, -1, 0.5, 2}, Shape{2, 2}, ctx);
  x.attach_grad();
  w.attach_grad();
  std::vector<std::weak_ptr<autograd::Node>> nodes;
  auto keep = [&](const NDArray& a) {
    REQUIRE(a.autograd_entry());
    nodes.push_back(a.autograd_entry().node);
    return a;
  };
  {
    std::vector<NDArray> g;
    NDArray head, op_head;
    {
      autograd::record rec;
      NDArray e = keep(exp(x) * w);
      NDArray v = keep(e.reshape({4}).slice(1, 3));
      NDArray p = keep(nd::prod(e, 1)), m = keep(nd::max(e, 0)), n = keep(nd::norm(e));
      NDArray t = keep(nd::dot(x, w, false, true));
      NDArray c = keep(nd::transpose(t).astype(DType::float64).copy().astype(DType::float32));
      head = keep(nd::sum(v) + nd::sum(p) + nd::sum(m) + n + nd::sum(c));
      g = autograd::grad({head}, {x, w}, {}, true, /*create_graph=*/true);
      op_head = keep(nd::sum(nd::Activation(t, {.act_type = "tanh"})));  // no second derivative: backward only
      keep(g[0]);
      keep(g[1]);
    }
    NDArray second;
    {
      autograd::record rec;
      second = nd::sum(g[0] * g[1]);
    }
    second.backward();
    op_head.backward();
    for (const auto& n : nodes) CHECK(!n.expired());
  }
  waitall();
  for (size_t i = 0; i < nodes.size(); ++i) {
    CAPTURE(i);
    CHECK(nodes[i].expired());
  }
}

MIXT_DEVICE_TEST("autograd: ties and bounds of maximum, clip and where route the gradient as MXNet does") {
  auto ctx = Device::ctx();
  // Gradients of sum(f(...)), so each one is the derivative itself.
  auto grads = [&](const std::vector<NDArray*>& vars, auto f) {
    for (NDArray* v : vars) v->attach_grad();
    NDArray loss;
    {
      autograd::record rec;
      loss = nd::sum(f());
    }
    loss.backward();
    std::vector<std::vector<double>> out;
    for (const NDArray* v : vars) out.push_back(v->grad().to_vector<double>());
    return out;
  };
  using V = std::vector<double>;
  NDArray a = nd::array<double>({1, 2}, ctx), b = nd::array<double>({1, 1}, ctx);
  auto g = grads({&a, &b}, [&] { return maximum(a, b); });  // a tie goes to the left operand (ge / lt)
  CHECK(g[0] == V{1, 1});
  CHECK(g[1] == V{0, 0});
  NDArray x = nd::array<double>({0, 1, 1.5, 2, 3}, ctx);
  CHECK(grads({&x}, [&] { return clip(x, 1.0, 2.0); })[0] == V{0, 1, 1, 1, 0});  // 0 only outside [lo, hi]
  NDArray c = nd::array<double>({-1, 0, 2}, ctx), p = nd::array<double>({1, 2, 3}, ctx),
          q = nd::array<double>({4, 5, 6}, ctx);
  g = grads({&p, &q}, [&] { return where(c, p, q); });  // any nonzero condition, negative too, selects p
  CHECK(g[0] == V{1, 0, 1});
  CHECK(g[1] == V{0, 1, 0});
}

MIXT_DEVICE_TEST("autograd: pause predicts, modes restore, create_graph retains, a repeated head counts twice") {
  auto ctx = Device::ctx();
  {
    autograd::record rec;  // records in train mode
    {
      autograd::pause pz;  // MXNet's pause(train_mode=False)
      CHECK_FALSE(autograd::is_training());
    }
    CHECK(autograd::is_training());
  }
  {
    autograd::train_mode tm;
    { autograd::predict_mode pm; }
    CHECK(autograd::is_training());
  }
  // grad() with create_graph keeps the graph unless told otherwise (retain_graph defaults to create_graph).
  NDArray x = nd::array<double>({1.5, -2}, ctx);
  x.attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = nd::sum(x * x);
  }
  std::vector<NDArray> g = autograd::grad({y}, {x}, {}, std::nullopt, true);
  check_close(g[0], {3, -4}, 0, 0);
  y.backward();  // the graph is still there
  check_close(x.grad(), {3, -4}, 0, 0);
  // backward({y, y}): each listed head contributes its head gradient.
  NDArray z;
  {
    autograd::record rec;
    z = x * 3.0;
  }
  autograd::backward({z, z});
  check_close(x.grad(), {6, 6}, 0, 0);
}

MIXT_DEVICE_TEST("autograd: retain_graph, pause, detach, and errors") {
  auto ctx = Device::ctx();
  NDArray x = nd::array<double>({0.5, -1, 2}, ctx);
  x.attach_grad();
  NDArray y, z, p;
  {
    autograd::record rec;
    y = exp(x);
    {
      autograd::pause pz;
      CHECK(!autograd::is_recording());
      p = x * 100.f;  // not recorded
    }
    z = y * 2.f + p.detach() + y.detach() * x;
  }
  CHECK(autograd::is_recording() == false);
  CHECK(p.autograd_entry().node == nullptr);
  z.backward(NDArray(), /*retain_graph=*/true);
  auto xv = x.to_vector<double>();
  std::vector<double> want(3);
  for (size_t i = 0; i < 3; ++i) want[i] = 2 * std::exp(xv[i]) + std::exp(xv[i]);  // y.detach() * x contributes y
  check_close(x.grad(), want, 1e-5);
  z.backward();  // allowed: the graph was retained
  check_close(x.grad(), want, 1e-5);
  CHECK_THROWS_AS(z.backward(), Error);  // freed by the previous backward
  NDArray plain = nd::ones(Shape{3}, ctx);
  CHECK_THROWS_AS(plain.backward(), Error);  // not recorded
  {
    autograd::record rec;
    NDArray r = x * 2.f;
    CHECK_THROWS_AS(r += 1.f, Error);  // in-place on a recorded array
    NDArray internal = expr::evaluate(x * 3.f);  // library code's evaluation: computed, never recorded
    CHECK(internal.autograd_entry().node == nullptr);
    check_close(internal, {1.5, -3, 6});
    // An expression too big for its backward is refused when recorded, naming the limits; untracked, it is fine.
    NDArray u = nd::ones(Shape{3}, ctx);
    auto big = [](const NDArray& a, const NDArray& b) {
      return a + b + a + b + a + b + a + b + a + b + a + b + a + b + a + b;  // 16 array operands
    };
    try {
      NDArray r2 = big(x, u);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(e.op() == "autograd");
      CHECK(std::string(e.what()).find("at most 15 array operands") != std::string::npos);
      CHECK(std::string(e.what()).find("received 16") != std::string::npos);
      CHECK(std::string(e.where().file_name()).find("test_autograd.c") != std::string::npos);  // .cpp, or .cu
    }
    testing::expect_error([&] { nd::sum(big(x, u) * 2.f, 0); }, {"autograd", "received 16", "test_autograd.c"});
    NDArray r3 = big(u, u);
    check_close(r3, std::vector<double>(3, 16.0));
    // A chain of 40 erfs fits a kernel, but its backward (6 instructions per erf) would not: refused now, not in
    // backward, where it used to fail. 25 fit both ways.
    testing::expect_error([&] { NDArray deep = erf_chain<40>(x); }, {"autograd", "backward", "192", "test_autograd.c"});
  }
  NDArray v3 = nd::array<double>({0.1, -0.4, 0.7}, ctx);
  v3.attach_grad();
  NDArray chained;
  {
    autograd::record rec;
    chained = erf_chain<25>(v3);
  }
  chained.backward();
  std::vector<double> chain_rule;
  for (double v : {0.1, -0.4, 0.7}) {
    double d = 1, s = double(float(v));
    for (int i = 0; i < 25; ++i) {
      d *= 2 / std::sqrt(M_PI) * std::exp(-s * s);
      s = std::erf(s);
    }
    chain_rule.push_back(d);
  }
  check_close(v3.grad(), chain_rule, 1e-4, 1e-6);
}

// A square operand read transposed gets its gradient transposed back (shape alone cannot tell).
MIXT_DEVICE_TEST("autograd: the gradient of a square operand read as x.T() is transposed back") {
  auto ctx = Device::ctx();
  NDArray x = nd::array({1, 2, 3, 4}, Shape{2, 2}, ctx), w = nd::array({1, 2, 3, 4}, Shape{2, 2}, ctx);
  x.attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = x.T() * w;
  }
  y.backward();
  check_close(x.grad(), {1, 3, 2, 4});  // d/dx_ij of sum_kl x_lk w_kl = w_ji
}

// The gradient of norm is 0, not NaN, where the norm is 0.
MIXT_DEVICE_TEST("autograd: norm's gradient is 0 where the norm is 0") {
  auto ctx = Device::ctx();
  NDArray x = nd::array({0, 0, 0, 3, 4, 0}, Shape{2, 3}, ctx);
  x.attach_grad();
  NDArray r;
  {
    autograd::record rec;
    r = nd::norm(x, 1);
  }
  r.backward();
  check_close(x.grad(), {0, 0, 0, 0.6, 0.8, 0});
}

// An operand broadcast along an empty axis gets a zero gradient.
MIXT_DEVICE_TEST("autograd: an operand broadcast over an empty axis gets zeros") {
  auto ctx = Device::ctx();
  NDArray a = nd::zeros(Shape{0, 3}, ctx), b = nd::array({1, 2, 3}, Shape{3}, ctx);
  b.attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = a * b;
  }
  y.backward();
  check_close(b.grad(), {0, 0, 0});
}

// From the sixth mutation round: each case below failed a mutant that every earlier test let through.

MIXT_DEVICE_TEST("autograd: a head gradient of the wrong shape or dtype is rejected by backward") {
  auto ctx = Device::ctx();
  NDArray x = nd::array<float>({1, 2, 3}, ctx), y;
  x.attach_grad();
  {
    autograd::record rec;
    y = x * 2.f;
  }
  expect_error([&] { y.backward(nd::ones(Shape{1}, ctx), true); }, {"head gradient 0: expected shape (3,)"});
  // (Without the check a float64 head gradient still fails further on, with another message: the check is what
  // names the head gradient.)
  expect_error([&] { y.backward(nd::ones(Shape{3}, ctx, DType::float64), true); },
               {"head gradient 0: expected float32", "received float64"});
  y.backward(nd::array<float>({1, 2, 3}, ctx));
  check_close(x.grad(), {2, 4, 6});
}

MIXT_DEVICE_TEST("autograd: outputs of a split that the loss does not use pass no gradient") {
  auto ctx = Device::ctx();
  NDArray x = nd::array(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}, Shape{2, 4}, ctx), loss;
  x.attach_grad();
  {
    autograd::record rec;
    std::vector<NDArray> parts = nd::split(x, op::SliceChannel::Param{.num_outputs = 2});
    loss = nd::sum(parts[0] * 3.f);
  }
  loss.backward();
  check_close(x.grad(), {3, 3, 0, 0, 3, 3, 0, 0});
}

MIXT_DEVICE_TEST("autograd: grad_req add keeps its sum when a backward passes no gradient") {
  auto ctx = Device::ctx();
  NDArray x = nd::array<float>({0.5f, 1.5f, -2.5f}, ctx);
  x.attach_grad(GradReq::add);
  for (int i = 0; i < 2; ++i) {
    NDArray y;
    {
      autograd::record rec;
      y = x * 2.f;
    }
    y.backward();
  }
  NDArray z;
  {
    autograd::record rec;
    z = floor(x) + x * 0.f;
  }
  z.backward();  // floor has no gradient, x * 0 gives 0: the sum so far stays, plus zero
  check_close(x.grad(), {4, 4, 4});
  NDArray w;
  {
    autograd::record rec;
    w = floor(x);
  }
  w.backward();  // nothing flows to x at all: MXNet leaves an add buffer alone
  check_close(x.grad(), {4, 4, 4});
}

MIXT_DEVICE_TEST("autograd: relu's gradient is 0 at 0, as MXNet's x > 0") {
  auto ctx = Device::ctx();
  NDArray x = nd::array<float>({-1, 0, 2}, ctx), y;
  x.attach_grad();
  {
    autograd::record rec;
    y = relu(x) * 3.f;
  }
  y.backward();
  check_close(x.grad(), {0, 0, 3});
}

MIXT_DEVICE_TEST("autograd: minimum and maximum send a tied gradient to the left operand only") {
  auto ctx = Device::ctx();
  NDArray a = nd::array<float>({1, 2, 3}, ctx), b = nd::array<float>({2, 2, 2}, ctx);
  a.attach_grad();
  b.attach_grad();
  NDArray y;
  {
    autograd::record rec;
    y = minimum(a, b) + maximum(a, b) * 10.f;
  }
  y.backward();
  check_close(a.grad(), {1, 11, 10});  // a < b: min; a == b: both min and max pass to a; a > b: max
  check_close(b.grad(), {10, 0, 1});
}
