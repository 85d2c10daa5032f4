// Shape, indexing and ordering operators (op/shape_ops.hpp, indexing_ops.hpp, ordering_ops.hpp), dtype inference
// and in-place hints (op/operator.hpp), and the by-name registry (op/registry.hpp): forward against double loops,
// backward against central differences, shape/type inference with partial shapes, errors, lookups by name.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <mixt/op/registry.hpp>
#include <mixt/test/gradient_check.hpp>

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::expect_error;
using mixt::testing::random_values;

namespace {

std::vector<double> stored(std::vector<double> v) { return mixt::testing::as_stored(std::move(v)); }

/// Distinct values spaced at least 0.1 apart (so a finite-difference step never reorders them), shuffled.
std::vector<double> distinct_values(size_t n, uint64_t seed) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = -1.0 + 0.137 * double(i);
  std::vector<double> r = random_values(n, 0, 1, seed);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r[a] < r[b]; });
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = v[order[i]];
  return stored(out);
}

template <class Op>
void check_grad(const typename Op::Param& p, const std::vector<NDArray>& in, std::vector<bool> which = {}) {
  test::GradCheckResult r = test::check_numeric_gradient<Op>(p, in, which);
  CHECK_MESSAGE(r.ok, r.report);
}

template <class Op>
std::vector<Shape> infer_out(const typename Op::Param& p, std::vector<Shape>& in) {
  std::vector<Shape> out(Op::outputs(p).size()), aux;
  Op::infer_shape(p, in, out, aux);
  return out;
}

/// Forward and backward with Req::add on buffers holding 1 give the Req::write results plus 1.
template <class Op>
void check_add_req(const typename Op::Param& p, const std::vector<NDArray>& in) {
  std::vector<NDArray> out = op::invoke<Op>(p, in, {}, true);
  std::vector<NDArray> heads, gw, ga, out_add;
  for (size_t k = 0; k < out.size(); ++k) {
    heads.push_back(nd::array(random_values(size_t(out[k].size()), -1, 1, 20 + k), out[k].shape(), out[k].ctx()));
    out_add.push_back(nd::ones(out[k].shape(), out[k].ctx(), out[k].dtype()));
  }
  Op::forward(p, op::OpContext{true, {}}, in, std::vector<op::Req>(out.size(), op::Req::add), out_add, {});
  for (size_t k = 0; k < out.size(); ++k) {
    std::vector<double> want = out[k].to_vector<double>();
    for (double& w : want) w += 1;
    check_close(out_add[k], want);
  }
  for (const NDArray& a : in) {
    gw.push_back(nd::zeros(a.shape(), a.ctx(), a.dtype()));
    ga.push_back(nd::ones(a.shape(), a.ctx(), a.dtype()));
  }
  Op::backward(p, op::OpContext{true, {}}, heads, in, out, std::vector<op::Req>(in.size(), op::Req::write), gw, {});
  Op::backward(p, op::OpContext{true, {}}, heads, in, out, std::vector<op::Req>(in.size(), op::Req::add), ga, {});
  for (size_t i = 0; i < in.size(); ++i) {
    std::vector<double> want = gw[i].to_vector<double>();
    for (double& w : want) w += 1;
    check_close(ga[i], want);
  }
}

/// Element (o, j, r) of an (outer, n, inner) row-major array.
size_t at3(size_t o, size_t j, size_t r, size_t n, size_t inner) { return (o * n + j) * inner + r; }

}  // namespace

MIXT_DEVICE_TEST("shape ops: Flatten and Reshape with MXNet's codes") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(24, -1, 1, 1));
  NDArray x = nd::array(xv, Shape{2, 3, 4}, ctx);
  NDArray f = nd::Flatten(x);
  CHECK(f.shape() == Shape{2, 12});
  check_close(f, xv);
  check_grad<op::Flatten>({}, {x});

  struct Case { op::IntTuple codes; bool reverse; Shape want; };
  for (const Case& c : {Case{{0, -1}, false, Shape{2, 12}}, Case{{-3, -2}, false, Shape{6, 4}},
                        Case{{-4, 1, 2, -2}, false, Shape{1, 2, 3, 4}}, Case{{-1, 0}, true, Shape{6, 4}},
                        Case{{4, -1}, false, Shape{4, 6}}}) {
    CAPTURE(op::attr::format(c.codes));
    op::Reshape::Param p{.shape = c.codes, .reverse = c.reverse};
    NDArray y = nd::Reshape(x, p);
    CHECK(y.shape() == c.want);
    check_close(y, xv);
    check_grad<op::Reshape>(p, {x});
  }
  // Inference: forward from a known input, backward from the output for one unknown extent, unknown otherwise.
  std::vector<Shape> in{Shape{0, 3, 4}};
  CHECK(infer_out<op::Flatten>({}, in)[0] == Shape{0, 12});
  in = {Shape{0, 3, 4}};
  std::vector<Shape> out{Shape{2, 12}}, aux;
  op::Reshape::infer_shape({.shape = {0, -1}}, in, out, aux);
  CHECK(in[0] == Shape{2, 3, 4});
  in = {Shape{}};
  CHECK(infer_out<op::Reshape>({.shape = {3, 8}}, in)[0] == Shape{3, 8});
  expect_error([&] { nd::Reshape(x, {.shape = {5, -1}}); }, {"Reshape", "(2, 3, 4)"});
  expect_error([&] { nd::Reshape(x, {}); }, {"Reshape", "attribute 'shape'"});
  // An empty batch reshapes as the view does (extent 0 used to read as unknown, leaving no output shape).
  NDArray empty = nd::zeros(Shape{0, 3, 4}, ctx);
  CHECK(nd::Reshape(empty, {.shape = {-1, 12}}).shape() == Shape{0, 12});
  CHECK(nd::Reshape(empty, {.shape = {0, -3}}).shape() == Shape{0, 12});
  CHECK(nd::Reshape(empty, {.shape = {12, -1}}).shape() == Shape{12, 0});
  // MXNet's deprecated target_shape, in old symbol files: its 0 is inferred, keep_highest keeps the first
  // extent, and shape wins when both are given. The values keep their order (a reshape, element for element).
  auto by_name = [&](const op::Attrs& attrs) { return op::find_op("Reshape").invoke({x}, attrs)[0]; };
  NDArray t = by_name({{"target_shape", "(0, 4)"}});
  CHECK(t.shape() == Shape{6, 4});
  check_close(t, xv, 0, 0);
  CHECK(by_name({{"target_shape", "(7, 0)"}, {"keep_highest", "True"}}).shape() == Shape{2, 12});
  CHECK(by_name({{"shape", "(4, -1)"}, {"target_shape", "(0, 4)"}}).shape() == Shape{4, 6});
}

MIXT_DEVICE_TEST("shape ops: transpose forward, backward, inference and bad axes") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(24, -1, 1, 2));
  NDArray x = nd::array(xv, Shape{2, 3, 4}, ctx);
  op::Transpose::Param p{.axes = {1, 2, 0}};
  NDArray y = nd::transpose(x, p);
  REQUIRE(y.shape() == Shape{3, 4, 2});
  std::vector<double> want(24);
  for (size_t a = 0; a < 2; ++a)
    for (size_t b = 0; b < 3; ++b)
      for (size_t c = 0; c < 4; ++c) want[(b * 4 + c) * 2 + a] = xv[(a * 3 + b) * 4 + c];
  check_close(y, want);
  check_grad<op::Transpose>(p, {x});
  // Default: reversed axes; negative axes count from the end.
  NDArray z = nd::transpose(x, op::Transpose::Param{});
  REQUIRE(z.shape() == Shape{4, 3, 2});
  for (size_t a = 0; a < 2; ++a)
    for (size_t b = 0; b < 3; ++b)
      for (size_t c = 0; c < 4; ++c) want[(c * 3 + b) * 2 + a] = xv[(a * 3 + b) * 4 + c];
  check_close(z, want);
  check_grad<op::Transpose>({.axes = {-1, 0, 1}}, {x});
  // The NDArray function of the same name still works.
  check_close(nd::transpose(x, {1, 2, 0}), nd::transpose(x, p).to_vector<double>());

  std::vector<Shape> in{Shape{}}, out{Shape{3, 4, 2}}, aux;
  op::Transpose::infer_shape(p, in, out, aux);
  CHECK(in[0] == Shape{2, 3, 4});
  in = {Shape{2, 0, 4}};
  CHECK(infer_out<op::Transpose>(p, in)[0] == Shape{0, 4, 2});
  expect_error([&] { nd::transpose(x, op::Transpose::Param{.axes = {0, 0, 1}}); }, {"transpose", "attribute 'axes'"});
  expect_error([&] { nd::transpose(x, op::Transpose::Param{.axes = {0, 1}}); }, {"transpose", "attribute 'axes'"});
  expect_error([&] { nd::transpose(x, op::Transpose::Param{.axes = {0, 1, 3}}); }, {"transpose", "attribute 'axes'"});
}

MIXT_DEVICE_TEST("shape ops: slice_axis with None and negative bounds") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(30, -1, 1, 3));
  NDArray x = nd::array(xv, Shape{3, 5, 2}, ctx);
  struct Case { int axis; int64_t begin; std::optional<int64_t> end; size_t b, e; };
  for (const Case& c : {Case{1, 1, -1, 1, 4}, Case{1, -2, std::nullopt, 3, 5}, Case{-2, 0, 2, 0, 2},
                        Case{0, 1, 3, 1, 3}, Case{2, 1, std::nullopt, 1, 2}}) {
    CAPTURE(c.axis);
    CAPTURE(c.begin);
    op::SliceAxis::Param p{.axis = c.axis, .begin = c.begin, .end = c.end};
    NDArray y = nd::slice_axis(x, p);
    const int ax = c.axis < 0 ? c.axis + 3 : c.axis;
    const size_t dims[3] = {3, 5, 2};
    size_t outer = 1, inner = 1;
    for (int d = 0; d < ax; ++d) outer *= dims[d];
    for (int d = ax + 1; d < 3; ++d) inner *= dims[d];
    const size_t len = c.e - c.b;
    std::vector<double> want;
    for (size_t o = 0; o < outer; ++o)
      for (size_t j = 0; j < len; ++j)
        for (size_t r = 0; r < inner; ++r) want.push_back(xv[at3(o, c.b + j, r, dims[ax], inner)]);
    CHECK(y.shape()[ax] == int64_t(len));
    check_close(y, want);
    check_grad<op::SliceAxis>(p, {x});
  }
  // Backward with req add keeps what was there outside the slice.
  op::SliceAxis::Param p{.axis = 1, .begin = 1, .end = 3};
  NDArray g = nd::ones(Shape{3, 2, 2}, ctx), gx = nd::full(Shape{3, 5, 2}, 5.0, ctx);
  op::SliceAxis::backward(p, {}, {g}, {x}, {}, {op::Req::add}, {gx}, {});
  std::vector<double> want(30, 5.0);
  for (size_t o = 0; o < 3; ++o)
    for (size_t j = 1; j < 3; ++j)
      for (size_t r = 0; r < 2; ++r) want[at3(o, j, r, 5, 2)] = 6.0;
  check_close(gx, want);

  std::vector<Shape> in{Shape{3, 0, 2}};
  CHECK(infer_out<op::SliceAxis>({.axis = 1, .begin = 1, .end = 3}, in)[0] == Shape{3, 2, 2});
  expect_error([&] { nd::slice_axis(x, op::SliceAxis::Param{.axis = 1, .begin = 5}); },
               {"slice_axis", "attribute 'begin'"});
  expect_error([&] { nd::slice_axis(x, op::SliceAxis::Param{.axis = 1, .begin = 3, .end = 2}); },
               {"slice_axis", "attribute 'end'"});
  expect_error([&] { nd::slice_axis(x, op::SliceAxis::Param{.axis = 3}); }, {"slice_axis", "axis 3"});
}

MIXT_DEVICE_TEST("shape ops: Concat forward, backward, partial inference and mismatches") {
  auto ctx = Device::ctx();
  std::vector<std::vector<double>> v;
  std::vector<NDArray> xs;
  for (int64_t k = 1; k <= 3; ++k) {
    v.push_back(stored(random_values(size_t(2 * k * 3), -1, 1, uint64_t(10 + k))));
    xs.push_back(nd::array(v.back(), Shape{2, k, 3}, ctx));
  }
  NDArray y = nd::Concat(xs);
  REQUIRE(y.shape() == Shape{2, 6, 3});
  std::vector<double> want;
  for (size_t o = 0; o < 2; ++o)
    for (size_t k = 0; k < 3; ++k)
      for (size_t j = 0; j < k + 1; ++j)
        for (size_t r = 0; r < 3; ++r) want.push_back(v[k][at3(o, j, r, k + 1, 3)]);
  check_close(y, want);
  check_grad<op::Concat>({.num_args = 3, .dim = 1}, xs);
  // dim 0 (and negative dims).
  NDArray a = nd::array(v[0], Shape{2, 3}, ctx), b = nd::array(v[1], Shape{4, 3}, ctx);
  NDArray c = nd::Concat({a, b}, {.dim = 0});
  std::vector<double> ab = v[0];
  ab.insert(ab.end(), v[1].begin(), v[1].end());
  check_close(c, ab);
  check_close(nd::concat({a, b}, {.dim = 0}), ab);  // MXNet's lower-case alias
  CHECK(nd::Concat({a, a}, {.dim = -1}).shape() == Shape{2, 6});
  check_grad<op::Concat>({.num_args = 2, .dim = 0}, {a, b});

  // Partial: the one unknown extent along dim follows from the output; unknown inputs get the common extents.
  std::vector<Shape> in{Shape{2, 0, 3}, Shape{2, 2, 3}}, out{Shape{0, 5, 0}}, aux;
  op::Concat::infer_shape({.num_args = 2, .dim = 1}, in, out, aux);
  CHECK(in[0] == Shape{2, 3, 3});
  CHECK(out[0] == Shape{2, 5, 3});
  in = {Shape{}, Shape{2, 2, 3}};
  out = {Shape{}};
  op::Concat::infer_shape({.num_args = 2, .dim = 1}, in, out, aux);
  CHECK(in[0] == Shape{2, 0, 3});
  CHECK(out[0] == Shape{2, 0, 3});

  NDArray bad = nd::zeros(Shape{3, 2, 3}, ctx);
  expect_error([&] { nd::Concat({xs[0], bad}); }, {"Concat", "argument 'arg1'"});
  expect_error([&] { nd::Concat({xs[0], nd::zeros(Shape{2, 3}, ctx)}); }, {"Concat", "argument 'arg1'", "dimensions"});
  expect_error([&] { op::invoke<op::Concat>({.num_args = 0}, {}); }, {"Concat", "attribute 'num_args'"});

  // Inputs of extent 0 along dim add nothing (NumPy). Read as "unknown", they made the output's extent 0 and the
  // copy wrote past it (SIGSEGV).
  NDArray none_wide = nd::zeros(Shape{2, 0}, ctx), none_tall = nd::zeros(Shape{0, 3}, ctx);
  check_close(nd::Concat({a, none_wide, a}, {.dim = 1}), [&] {
    std::vector<double> w;
    for (size_t r = 0; r < 2; ++r)
      for (int twice = 0; twice < 2; ++twice)
        for (size_t j = 0; j < 3; ++j) w.push_back(v[0][r * 3 + j]);
    return w;
  }());
  check_close(nd::Concat({none_tall, a}, {.dim = 0}), v[0]);
  CHECK(nd::Concat({none_tall, none_tall}, {.dim = 0}).shape() == Shape{0, 3});
  expect_error([&] { nd::Concat({a, nd::zeros(Shape{3, 0}, ctx)}, {.dim = 1}); }, {"Concat", "argument 'arg1'"});
  // The operator itself (as a graph would call it) refuses rather than writing past the output.
  expect_error([&] { op::invoke<op::Concat>({.num_args = 2, .dim = 0}, {none_tall, a}); }, {"Concat", "sum to 2"});
}

MIXT_DEVICE_TEST("shape ops: SliceChannel (split) with and without squeeze_axis") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(36, -1, 1, 4));
  NDArray x = nd::array(xv, Shape{2, 6, 3}, ctx);
  op::SliceChannel::Param p{.num_outputs = 3};
  std::vector<NDArray> ys = nd::split(x, p);
  REQUIRE(ys.size() == 3);
  for (size_t k = 0; k < 3; ++k) {
    REQUIRE(ys[k].shape() == Shape{2, 2, 3});
    std::vector<double> want;
    for (size_t o = 0; o < 2; ++o)
      for (size_t j = 0; j < 2; ++j)
        for (size_t r = 0; r < 3; ++r) want.push_back(xv[at3(o, 2 * k + j, r, 6, 3)]);
    check_close(ys[k], want);
  }
  check_grad<op::SliceChannel>(p, {x});
  // squeeze_axis: axis 2 of extent 3 into three (2, 6) arrays.
  op::SliceChannel::Param q{.num_outputs = 3, .axis = -1, .squeeze_axis = true};
  ys = nd::SliceChannel(x, q);
  for (size_t k = 0; k < 3; ++k) {
    REQUIRE(ys[k].shape() == Shape{2, 6});
    std::vector<double> want;
    for (size_t o = 0; o < 12; ++o) want.push_back(xv[o * 3 + k]);
    check_close(ys[k], want);
  }
  check_grad<op::SliceChannel>(q, {x});

  std::vector<Shape> in{Shape{}}, out{Shape{}, Shape{2, 2, 3}, Shape{}}, aux;
  op::SliceChannel::infer_shape(p, in, out, aux);
  CHECK(in[0] == Shape{2, 6, 3});
  CHECK(out[0] == Shape{2, 2, 3});
  CHECK(out[2] == Shape{2, 2, 3});
  expect_error([&] { nd::split(x, {.num_outputs = 4}); }, {"SliceChannel", "divisible", "num_outputs"});
  expect_error([&] { nd::split(x, {.num_outputs = 2, .squeeze_axis = true}); }, {"SliceChannel", "squeeze_axis"});
  expect_error([&] { nd::split(x, {.num_outputs = 0}); }, {"SliceChannel", "attribute 'num_outputs'"});
  expect_error([&] { nd::split(x, {.num_outputs = 1, .axis = 3}); }, {"SliceChannel", "axis 3"});
}

MIXT_DEVICE_TEST("indexing ops: take with clip, wrap and raise; backward accumulates repeated indices") {
  auto ctx = Device::ctx();
  auto av = stored(random_values(15, -1, 1, 5));
  NDArray a = nd::array(av, Shape{5, 3}, ctx);
  std::vector<double> iv{0, 4, 1, 1, -1, 7};
  NDArray idx = nd::array(iv, Shape{2, 3}, ctx);
  auto clip_i = [](double v, int64_t n) { int64_t j = int64_t(v); return j < 0 ? 0 : (j >= n ? n - 1 : j); };
  auto wrap_i = [](double v, int64_t n) { int64_t j = int64_t(v) % n; return j < 0 ? j + n : j; };
  for (const char* mode : {"clip", "wrap"}) {
    CAPTURE(mode);
    op::Take::Param p{.axis = 0, .mode = mode};
    NDArray y = nd::take(a, idx, p);
    REQUIRE(y.shape() == Shape{2, 3, 3});
    std::vector<double> want;
    for (double i : iv) {
      int64_t j = std::string(mode) == "clip" ? clip_i(i, 5) : wrap_i(i, 5);
      for (size_t r = 0; r < 3; ++r) want.push_back(av[size_t(j) * 3 + r]);
    }
    check_close(y, want);
    check_grad<op::Take>(p, {a, idx}, {true, false});
  }
  // axis 1: out (5, 2, 3).
  op::Take::Param p1{.axis = 1, .mode = "wrap"};
  NDArray y = nd::take(a, idx, p1);
  REQUIRE(y.shape() == Shape{5, 2, 3});
  std::vector<double> want;
  for (size_t o = 0; o < 5; ++o)
    for (double i : iv) want.push_back(av[o * 3 + size_t(wrap_i(i, 3))]);
  check_close(y, want);
  check_grad<op::Take>(p1, {a, idx}, {true, false});
  // The gradient of a row taken twice is the sum of both head gradients (ones here): clipped, -1 is row 0 and 7 is
  // row 4.
  NDArray g = nd::ones(Shape{2, 3, 3}, ctx), ga = nd::zeros(Shape{5, 3}, ctx);
  op::Take::backward({}, {}, {g}, {a, idx}, {}, {op::Req::write, op::Req::null}, {ga, NDArray()}, {});
  check_close(ga, {2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 2, 2, 2});
  // clip: an index of exactly n is the last one.
  check_close(nd::take(a, nd::array(std::vector<double>{3}, Shape{1}, ctx), {.axis = 1, .mode = "clip"}),
              {av[2], av[5], av[8], av[11], av[14]});
  // Integer indices work too.
  check_close(nd::take(a, nd::array(std::vector<double>{2, 0}, Shape{2}, ctx, DType::int32)),
              {av[6], av[7], av[8], av[0], av[1], av[2]});

  expect_error([&] { nd::take(a, idx, {.mode = "raise"}); }, {"take", "argument 'indices'", "raise"});
  CHECK(nd::take(a, nd::array(std::vector<double>{1, 2}, Shape{2}, ctx), {.mode = "raise"}).shape() == Shape{2, 3});
  expect_error([&] { nd::take(a, idx, {.mode = "nearest"}); }, {"take", "attribute 'mode'"});
  expect_error([&] { nd::take(a, idx, {.axis = 2}); }, {"take", "axis 2"});
  std::vector<Shape> in{Shape{5, 3}, Shape{}};
  CHECK(infer_out<op::Take>({}, in)[0] == Shape{});
}

MIXT_DEVICE_TEST("indexing ops: pick along an axis, keepdims, clip and wrap") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(12, -1, 1, 6));
  NDArray x = nd::array(xv, Shape{3, 4}, ctx);
  std::vector<double> iv{0, 3, 5};
  NDArray idx = nd::array(iv, Shape{3}, ctx);
  for (const char* mode : {"clip", "wrap"}) {
    CAPTURE(mode);
    op::Pick::Param p{.mode = mode};
    NDArray y = nd::pick(x, idx, p);
    REQUIRE(y.shape() == Shape{3});
    std::vector<double> want;
    for (size_t i = 0; i < 3; ++i) {
      int64_t j = int64_t(iv[i]);
      j = std::string(mode) == "clip" ? std::min<int64_t>(j, 3) : j % 4;
      want.push_back(xv[i * 4 + size_t(j)]);
    }
    check_close(y, want);
    check_grad<op::Pick>(p, {x, idx}, {true, false});
  }
  // axis 0 with keepdims: index (1, 4), out (1, 4).
  NDArray idx0 = nd::array(std::vector<double>{2, 0, 1, 2}, Shape{1, 4}, ctx);
  op::Pick::Param p0{.axis = 0, .keepdims = true};
  NDArray y = nd::pick(x, idx0, p0);
  REQUIRE(y.shape() == Shape{1, 4});
  check_close(y, {xv[8], xv[1], xv[6], xv[11]});
  check_grad<op::Pick>(p0, {x, idx0}, {true, false});

  std::vector<Shape> in{Shape{3, 0, 5}, Shape{}};
  CHECK(infer_out<op::Pick>({.axis = 1}, in)[0] == Shape{3, 5});
  CHECK(in[1] == Shape{3, 5});
  expect_error([&] { nd::pick(x, idx, {.axis = 2}); }, {"pick", "axis 2"});
  expect_error([&] { nd::pick(x, idx, {.mode = "raise"}); }, {"pick", "attribute 'mode'"});
  expect_error([&] { nd::pick(x, nd::zeros(Shape{4}, ctx)); }, {"pick", "index"});
}

MIXT_DEVICE_TEST("indexing ops: one_hot values, dtype and errors") {
  auto ctx = Device::ctx();
  std::vector<double> iv{1, 0, 3, -1, 5, 2};
  NDArray idx = nd::array(iv, Shape{2, 3}, ctx);
  NDArray y = nd::one_hot(idx, {.depth = 4});
  REQUIRE(y.shape() == Shape{2, 3, 4});
  CHECK(y.dtype() == DType::float32);
  std::vector<double> want;
  for (double i : iv)
    for (int k = 0; k < 4; ++k) want.push_back(int64_t(i) == k ? 1 : 0);
  check_close(y, want);
  NDArray z = nd::one_hot(idx, {.depth = 4, .on_value = 5, .off_value = -1, .dtype = "int32"});
  CHECK(z.dtype() == DType::int32);
  for (double& w : want) w = w == 1 ? 5 : -1;
  check_close(z, want);
  std::vector<DType> in{DType::float32}, out(1), aux;
  op::infer_type<op::OneHot>({.depth = 3, .dtype = "float64"}, in, out, aux);
  CHECK(out[0] == DType::float64);
  expect_error([&] { nd::one_hot(idx, {.depth = 0}); }, {"one_hot", "attribute 'depth'"});
  expect_error([&] { nd::one_hot(idx, {.depth = 3, .dtype = "float128"}); }, {"one_hot", "attribute 'dtype'"});
}

MIXT_DEVICE_TEST("indexing ops: an empty axis to pick from and 0-d index arrays raise instead of crashing") {
  auto ctx = Device::ctx();
  for (const char* mode : {"clip", "wrap"})  // wrap divided by the empty extent; clip read element -1
    expect_error([&] { nd::pick(nd::zeros(Shape{3, 0}, ctx), nd::zeros(Shape{3}, ctx), {.mode = mode}); },
                 {"pick", "empty axis", "(3, 0)"});
  NDArray scalar = nd::zeros(Shape{}, ctx);  // shape inference reads () as unknown: these used to fill one element
  expect_error([&] { nd::take(nd::zeros(Shape{3, 4}, ctx), scalar); }, {"take", "indices", "0-d"});
  expect_error([&] { nd::one_hot(scalar, {.depth = 4}); }, {"one_hot", "indices", "0-d"});
  expect_error([&] { nd::Embedding(scalar, nd::zeros(Shape{4, 3}, ctx), {.input_dim = 4, .output_dim = 3}); },
               {"Embedding", "data", "0-d"});
}

MIXT_DEVICE_TEST("indexing ops: clip and where") {
  auto ctx = Device::ctx();
  auto xv = stored(random_values(20, -2, 2, 7));
  for (auto& v : xv) if (std::abs(std::abs(v) - 0.5) < 0.05) v = 0.2;  // keep finite differences off the bounds
  NDArray x = nd::array(xv, Shape{4, 5}, ctx);
  op::Clip::Param p{.a_min = -0.5, .a_max = 0.5};
  std::vector<double> want;
  for (double v : xv) want.push_back(std::min(0.5, std::max(-0.5, v)));
  check_close(nd::clip(x, p), want);
  check_close(nd::clip(x, -0.5, 0.5), want);  // the expression function of the same name
  check_grad<op::Clip>(p, {x});
  expect_error([&] { nd::clip(x, op::Clip::Param{.a_min = 1, .a_max = 0}); }, {"clip", "attribute 'a_max'"});

  auto yv = stored(random_values(20, -1, 1, 8));
  NDArray y = nd::array(yv, Shape{4, 5}, ctx);
  std::vector<double> cv;
  for (size_t i = 0; i < 20; ++i) cv.push_back(i % 3 == 0 ? 0 : 1);
  NDArray c = nd::array(cv, Shape{4, 5}, ctx);
  want.clear();
  for (size_t i = 0; i < 20; ++i) want.push_back(cv[i] != 0 ? xv[i] : yv[i]);
  check_close(nd::where(c, x, y, op::Where::Param{}), want);
  check_grad<op::Where>({}, {c, x, y}, {false, true, true});
  // A 1-D condition selects whole rows.
  NDArray rows = nd::array(std::vector<double>{1, 0, 0, 1}, Shape{4}, ctx);
  want.clear();
  for (size_t i = 0; i < 20; ++i) want.push_back((i / 5 == 0 || i / 5 == 3) ? xv[i] : yv[i]);
  check_close(nd::where(rows, x, y, op::Where::Param{}), want);
  check_grad<op::Where>({}, {rows, x, y}, {false, true, true});
  expect_error([&] { nd::where(nd::zeros(Shape{3}, ctx), x, y, op::Where::Param{}); },
               {"where", "argument 'condition'"});
  expect_error([&] { nd::where(c, x, nd::zeros(Shape{5, 4}, ctx), op::Where::Param{}); }, {"where", "argument"});
  // The condition may have another dtype (a uint8 mask, say); the output takes x's, and y must match x.
  NDArray mask = c.astype(DType::uint8);
  NDArray picked = nd::where(mask, x, y, op::Where::Param{});
  CHECK(picked.dtype() == DType::float32);
  std::vector<double> by_mask;
  for (size_t i = 0; i < 20; ++i) by_mask.push_back(cv[i] != 0 ? xv[i] : yv[i]);
  check_close(picked, by_mask);
  expect_error([&] { nd::where(c, x, y.astype(DType::float16), op::Where::Param{}); },
               {"where", "argument 'y'", "float16"});
}

MIXT_DEVICE_TEST("ordering ops: topk values, indices, mask and both along any axis") {
  auto ctx = Device::ctx();
  auto xv = distinct_values(15, 9);
  NDArray x = nd::array(xv, Shape{3, 5}, ctx);
  // The reference: per row (axis -1) the indices sorted by value.
  auto sorted_idx = [&](size_t row, bool ascend) {
    std::vector<size_t> ix(5);
    std::iota(ix.begin(), ix.end(), 0);
    std::sort(ix.begin(), ix.end(), [&](size_t a, size_t b) {
      return ascend ? xv[row * 5 + a] < xv[row * 5 + b] : xv[row * 5 + a] > xv[row * 5 + b];
    });
    return ix;
  };
  std::vector<double> want_v, want_i, want_m(15, 0);
  for (size_t r = 0; r < 3; ++r) {
    auto ix = sorted_idx(r, false);
    for (size_t t = 0; t < 2; ++t) {
      want_v.push_back(xv[r * 5 + ix[t]]);
      want_i.push_back(double(ix[t]));
      want_m[r * 5 + ix[t]] = 1;
    }
  }
  NDArray idx = nd::topk(x, {.k = 2});
  CHECK(idx.shape() == Shape{3, 2});
  CHECK(idx.dtype() == DType::float32);
  check_close(idx, want_i);
  op::TopK::Param pv{.k = 2, .ret_typ = "value"};
  check_close(nd::topk(x, pv), want_v);
  check_grad<op::TopK>(pv, {x});
  check_close(nd::topk(x, {.k = 2, .ret_typ = "mask"}), want_m);
  std::vector<NDArray> both = nd::topk_both(x, {.k = 2, .dtype = "int32"});
  REQUIRE(both.size() == 2);
  CHECK(both[1].dtype() == DType::int32);
  check_close(both[0], want_v);
  check_close(both[1], want_i);
  check_grad<op::TopK>({.k = 2, .ret_typ = "both"}, {x});
  // Ascending, k < 1 (the whole axis).
  want_v.clear();
  for (size_t r = 0; r < 3; ++r)
    for (size_t j : sorted_idx(r, true)) want_v.push_back(xv[r * 5 + j]);
  check_close(nd::topk(x, {.k = 0, .ret_typ = "value", .is_ascend = true}), want_v);
  // Axis 0: the largest of each column.
  want_v.clear();
  for (size_t col = 0; col < 5; ++col) want_v.push_back(std::max({xv[col], xv[5 + col], xv[10 + col]}));
  op::TopK::Param p0{.axis = 0, .ret_typ = "value"};
  NDArray top0 = nd::topk(x, p0);
  CHECK(top0.shape() == Shape{1, 5});
  check_close(top0, want_v);
  check_grad<op::TopK>(p0, {x});
  // Axis None: over the flattened array.
  NDArray flat = nd::topk(x, {.axis = std::nullopt, .k = 3});
  CHECK(flat.shape() == Shape{3});
  std::vector<size_t> all(15);
  std::iota(all.begin(), all.end(), 0);
  std::sort(all.begin(), all.end(), [&](size_t a, size_t b) { return xv[a] > xv[b]; });
  check_close(flat, {double(all[0]), double(all[1]), double(all[2])});

  std::vector<DType> tin{DType::float64}, tout(2), aux;
  op::infer_type<op::TopK>({.ret_typ = "both", .dtype = "int64"}, tin, tout, aux);
  CHECK(tout[0] == DType::float64);
  CHECK(tout[1] == DType::int64);
  std::vector<Shape> in{Shape{4, 0}};
  CHECK(infer_out<op::TopK>({.k = 2}, in)[0] == Shape{4, 2});
  expect_error([&] { nd::topk(x, {.k = 6}); }, {"topk", "attribute 'k'"});
  expect_error([&] { nd::topk(x, {.ret_typ = "values"}); }, {"topk", "attribute 'ret_typ'"});
  expect_error([&] { nd::topk(x, {.axis = 2}); }, {"topk", "axis 2"});
  // Indices the dtype cannot hold raise (MXNet's rule) instead of wrapping: 299 came out as 43 in uint8.
  NDArray long_row = nd::arange(0, 300, 1, 1, ctx);
  expect_error([&] { nd::argsort(long_row, {.dtype = "uint8"}); }, {"argsort", "uint8", "300"});
  expect_error([&] { nd::topk(long_row, {.k = 2, .dtype = "bfloat16"}); }, {"topk", "bfloat16"});
  NDArray fits = nd::argsort(nd::arange(0, 256, 1, 1, ctx), {.is_ascend = false, .dtype = "uint8"});
  CHECK(fits.to_vector<double>()[0] == 255);
}

MIXT_DEVICE_TEST("ordering ops: sort and argsort") {
  auto ctx = Device::ctx();
  auto xv = distinct_values(24, 10);
  NDArray x = nd::array(xv, Shape{2, 3, 4}, ctx);
  for (int axis : {-1, 1, 0}) {
    for (bool asc : {true, false}) {
      CAPTURE(axis);
      CAPTURE(asc);
      const int ax = axis < 0 ? axis + 3 : axis;
      const size_t dims[3] = {2, 3, 4};
      size_t outer = 1, inner = 1, n = dims[ax];
      for (int d = 0; d < ax; ++d) outer *= dims[d];
      for (int d = ax + 1; d < 3; ++d) inner *= dims[d];
      std::vector<double> want_v(24), want_i(24);
      for (size_t o = 0; o < outer; ++o)
        for (size_t r = 0; r < inner; ++r) {
          std::vector<size_t> ix(n);
          std::iota(ix.begin(), ix.end(), 0);
          std::sort(ix.begin(), ix.end(), [&](size_t a, size_t b) {
            double va = xv[at3(o, a, r, n, inner)], vb = xv[at3(o, b, r, n, inner)];
            return asc ? va < vb : va > vb;
          });
          for (size_t t = 0; t < n; ++t) {
            want_v[at3(o, t, r, n, inner)] = xv[at3(o, ix[t], r, n, inner)];
            want_i[at3(o, t, r, n, inner)] = double(ix[t]);
          }
        }
      op::Sort::Param ps{.axis = axis, .is_ascend = asc};
      check_close(nd::sort(x, ps), want_v);
      check_grad<op::Sort>(ps, {x});
      check_close(nd::argsort(x, {.axis = axis, .is_ascend = asc}), want_i);
    }
  }
  NDArray ai = nd::argsort(x, {.dtype = "int32"});
  CHECK(ai.dtype() == DType::int32);
  // Ties keep their order (a stable sort), in both directions.
  NDArray t = nd::array(std::vector<double>{2, 1, 2, 1}, Shape{4}, ctx);
  check_close(nd::argsort(t), {1, 3, 0, 2});
  check_close(nd::argsort(t, {.is_ascend = false}), {0, 2, 1, 3});
  // NaN is greater than every number (PyTorch's order): last ascending, first descending, ties kept in order.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  NDArray with_nan = nd::array(std::vector<double>{3, nan, 1, nan, -2, 5, nan, 0}, Shape{8}, ctx);
  check_close(nd::argsort(with_nan), {4, 7, 2, 0, 5, 1, 3, 6});
  check_close(nd::argsort(with_nan, {.is_ascend = false}), {1, 3, 6, 5, 0, 2, 7, 4});
  check_close(nd::topk(with_nan, {.k = 4}), {1, 3, 6, 5});
  const std::vector<float> sorted_nan = nd::sort(with_nan).to_vector<float>();
  for (size_t i = 0; i < 8; ++i) CHECK(std::isnan(sorted_nan[i]) == (i >= 5));
  // Axis None: the flattened array.
  std::vector<double> sv = xv;
  std::sort(sv.begin(), sv.end());
  NDArray s = nd::sort(x, {.axis = std::nullopt});
  CHECK(s.shape() == Shape{24});
  check_close(s, sv);
  expect_error([&] { nd::sort(x, {.axis = -4}); }, {"sort", "axis -4"});
  expect_error([&] { nd::argsort(x, {.dtype = "complex"}); }, {"argsort", "attribute 'dtype'"});
}

MIXT_DEVICE_TEST("ordering ops: long rows with many ties against std::stable_sort") {
  // 3001 elements (runs of the merge end unevenly) taking 50 values, so most have ties.
  auto ctx = Device::ctx();
  const size_t n = 3001;
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = double((i * 7919 + i / 13) % 50);
  NDArray x = nd::array(v, Shape{int64_t(n)}, ctx);
  for (bool asc : {true, false}) {
    CAPTURE(asc);
    std::vector<size_t> ix(n);
    std::iota(ix.begin(), ix.end(), 0);
    std::stable_sort(ix.begin(), ix.end(), [&](size_t a, size_t b) { return asc ? v[a] < v[b] : v[a] > v[b]; });
    std::vector<double> want_i(ix.begin(), ix.end()), want_v, want_mask(n, 0), want_grad(n);
    for (size_t i : ix) want_v.push_back(v[i]);
    const int k = 1000;
    for (size_t t = 0; t < size_t(k); ++t) want_mask[ix[t]] = 1;
    check_close(nd::argsort(x, {.is_ascend = asc}), want_i);
    check_close(nd::sort(x, {.is_ascend = asc}), want_v);
    check_close(nd::topk(x, {.k = k, .ret_typ = "mask", .is_ascend = asc}), want_mask);
    // sort's gradient: element ix[t] receives the head gradient at sorted position t.
    std::vector<double> head = stored(random_values(n, -1, 1, 3));
    for (size_t t = 0; t < n; ++t) want_grad[ix[t]] = head[t];
    const op::Sort::Param p{.is_ascend = asc};
    const std::vector<NDArray> og = {nd::array(head, x.shape(), ctx)}, gx = {NDArray(x.shape(), ctx)};
    op::Sort::backward(p, {}, og, {x}, {}, {op::Req::write}, gx, {});
    check_close(gx[0], want_grad);
  }
}

MIXT_DEVICE_TEST("shape ops: recorded by autograd") {
  auto ctx = Device::ctx();
  NDArray a = nd::array(stored(random_values(6, -1, 1, 11)), Shape{2, 3}, ctx);
  NDArray b = nd::array(stored(random_values(3, -1, 1, 12)), Shape{1, 3}, ctx);
  NDArray idx = nd::array(std::vector<double>{2, 2, 0}, Shape{3}, ctx);
  a.attach_grad();
  b.attach_grad();
  NDArray y;
  {
    autograd::record rec;
    NDArray c = nd::Concat({a, b}, {.dim = 0});           // (3, 3)
    NDArray t = nd::take(c, idx);                          // rows 2, 2, 0
    y = nd::sort(nd::Flatten(t), {.axis = std::nullopt});  // (9,)
  }
  y.backward();
  // Every element of y has head gradient 1: b's row is taken twice, a's row 0 once, a's row 1 not at all.
  check_close(a.grad(), {1, 1, 1, 0, 0, 0});
  check_close(b.grad(), {2, 2, 2});
}

MIXT_DEVICE_TEST("shape ops: write and add requests agree for every operator") {
  auto ctx = Device::ctx();
  NDArray x = nd::array(distinct_values(24, 15), Shape{2, 3, 4}, ctx);
  NDArray y = nd::array(stored(random_values(24, -1, 1, 16)), Shape{2, 3, 4}, ctx);
  NDArray c = nd::array(std::vector<double>{1, 0}, Shape{2}, ctx);
  NDArray idx = nd::array(std::vector<double>{1, 1, 0}, Shape{3}, ctx);
  NDArray idx2 = nd::array(std::vector<double>{0, 2, 1, 1, 0, 3}, Shape{2, 3}, ctx);
  check_add_req<op::Flatten>({}, {x});
  check_add_req<op::Reshape>({.shape = {4, -1}}, {x});
  check_add_req<op::Transpose>({.axes = {2, 0, 1}}, {x});
  check_add_req<op::SliceAxis>({.axis = 2, .begin = 1, .end = 3}, {x});
  check_add_req<op::Concat>({.num_args = 2, .dim = 1}, {x, y});
  check_add_req<op::SliceChannel>({.num_outputs = 3}, {x});
  check_add_req<op::Take>({.axis = 1}, {x, idx});
  check_add_req<op::Pick>({.axis = 2}, {x, idx2});
  check_add_req<op::OneHot>({.depth = 3}, {idx});
  check_add_req<op::Clip>({.a_min = -0.3, .a_max = 0.3}, {x});
  check_add_req<op::Where>({}, {c, x, y});
  check_add_req<op::TopK>({.k = 2, .ret_typ = "both"}, {x});
  check_add_req<op::TopK>({.k = 2, .ret_typ = "mask"}, {x});
  check_add_req<op::Sort>({.axis = 1, .is_ascend = false}, {x});
  check_add_req<op::ArgSort>({.axis = 0}, {x});
}

TEST_CASE("operator contract: default dtype inference and in-place hints") {
  std::vector<DType> in{DType::float64}, out(1), aux;
  op::infer_type<op::Flatten>({}, in, out, aux);
  CHECK(out[0] == DType::float64);
  in = {DType::float32, DType::float32};
  out = {DType::int8};
  op::infer_type<op::FullyConnected>({.num_hidden = 2}, in, out, aux);
  CHECK(out[0] == DType::float32);
  in = {DType::float16};
  op::infer_type<op::ArgSort>({}, in, out, aux);
  CHECK(out[0] == DType::float32);
  CHECK(op::inplace_pairs<op::Activation>({}) == std::vector<std::pair<int, int>>{{0, 0}});
  CHECK(op::inplace_pairs<op::Clip>({}) == std::vector<std::pair<int, int>>{{0, 0}});
  CHECK(op::inplace_pairs<op::FullyConnected>({}).empty());
  CHECK(op::inplace_pairs<op::Concat>({}).empty());
}

MIXT_DEVICE_TEST("registry: lookups by name and alias, string attributes, invoking by name") {
  auto ctx = Device::ctx();
  CHECK(std::string(op::find_op("split").name) == "SliceChannel");
  CHECK(std::string(op::find_op("SliceChannel").name) == "SliceChannel");
  CHECK(op::find_op("flatten").name == "Flatten");
  CHECK(op::find_op("Flatten").name == "Flatten");
  CHECK(op::find_op("concat").name == "Concat");
  std::vector<std::string> all = op::registered_ops();
  for (const char* n : {"FullyConnected", "Activation", "LeakyReLU", "softmax", "log_softmax", "softmin",
                        "SoftmaxOutput", "LinearRegressionOutput", "Flatten", "Reshape", "transpose", "slice_axis",
                        "Concat", "SliceChannel", "take", "pick", "one_hot", "clip", "where", "topk", "sort", "argsort",
                        "Convolution", "Deconvolution", "Pooling", "BatchNorm", "LayerNorm", "Dropout", "Embedding"})
    CHECK_MESSAGE(std::find(all.begin(), all.end(), n) != all.end(), n);
  CHECK(std::find(all.begin(), all.end(), "split") == all.end());  // aliases are not listed twice
  NDArray logits = nd::array(std::vector<double>{1, -2, 0.5, 3, 0, -1}, Shape{2, 3}, ctx);
  mixt::testing::check_close(op::find_op("softmin").invoke({logits}, {{"axis", "0"}})[0],
                             nd::softmax(logits, {.axis = 0, .temperature = -1.0}).to_vector<double>(), 0, 0);

  expect_error([] { op::find_op("Concatt"); }, {"find_op", "unknown operator 'Concatt'", "did you mean", "Concat"});
  expect_error([] { op::find_op("zzzzzzzzzz"); }, {"find_op", "unknown operator 'zzzzzzzzzz'"});

  // Attributes: parsed, checked, printed with every default.
  const op::OpInfo& topk = op::find_op("topk");
  op::Attrs a = topk.parse_attrs({{"k", "2"}, {"ret_typ", "both"}});
  CHECK(a.at("k") == "2");
  CHECK(a.at("axis") == "-1");
  CHECK(a.at("is_ascend") == "False");
  CHECK(topk.outputs({{"ret_typ", "both"}}).size() == 2);
  CHECK(topk.parse_attrs({{"axis", "None"}}).at("axis") == "None");
  expect_error([&] { topk.parse_attrs({{"kk", "2"}}); }, {"topk", "unknown attribute 'kk'"});
  expect_error([&] { topk.parse_attrs({{"k", "two"}}); }, {"topk", "attribute 'k'"});

  // Shape and type inference through the registry, partial shapes included.
  std::vector<Shape> in{Shape{2, 0, 3}, Shape{2, 2, 3}}, out{Shape{0, 5, 0}}, aux;
  op::find_op("Concat").infer_shape({{"num_args", "2"}, {"dim", "1"}}, in, out, aux);
  CHECK(in[0] == Shape{2, 3, 3});
  CHECK(out[0] == Shape{2, 5, 3});
  std::vector<DType> tin{DType::float32}, tout, taux;
  op::find_op("argsort").infer_type({{"dtype", "int32"}}, tin, tout, taux);
  REQUIRE(tout.size() == 1);
  CHECK(tout[0] == DType::int32);
  CHECK(op::find_op("clip").inplace({{"a_min", "0"}, {"a_max", "1"}}) == std::vector<std::pair<int, int>>{{0, 0}});

  // Invoking by name with string attributes gives what the typed call gives.
  auto xv = stored(random_values(36, -1, 1, 13));
  NDArray x = nd::array(xv, Shape{2, 6, 3}, ctx);
  std::vector<NDArray> by_name = op::find_op("split").invoke({x}, {{"num_outputs", "3"}, {"axis", "1"}});
  std::vector<NDArray> typed = nd::split(x, {.num_outputs = 3, .axis = 1});
  REQUIRE(by_name.size() == 3);
  for (size_t k = 0; k < 3; ++k) check_close(by_name[k], typed[k].to_vector<double>(), 0, 0);
  NDArray r1 = op::find_op("Reshape").invoke({x}, {{"shape", "(-1, 0)"}, {"reverse", "True"}})[0];
  CHECK(r1.shape() == Shape{12, 3});
  NDArray w = nd::array(stored(random_values(12, -1, 1, 14)), Shape{4, 3}, ctx);
  NDArray fc = op::find_op("FullyConnected").invoke({x.reshape({12, 3}), w}, {{"num_hidden", "4"}, {"no_bias", "True"}})[0];
  check_close(fc, nd::FullyConnected(x.reshape({12, 3}), w, {.num_hidden = 4}).to_vector<double>(), 0, 0);
  NDArray tk = op::find_op("topk").invoke({x}, {{"k", "2"}, {"ret_typ", "indices"}, {"dtype", "int32"}, {"axis", "1"}})[0];
  CHECK(tk.dtype() == DType::int32);
  check_close(tk, nd::topk(x, {.axis = 1, .k = 2}).to_vector<double>(), 0, 0);
  expect_error([&] { op::find_op("take").invoke({x}, {}); }, {"take", "expected 2 inputs", "test_shape_ops.c"});
  expect_error([&] { op::find_op("topk").invoke({x}, {{"k", "9"}}); }, {"topk", "'k'", "test_shape_ops.c"});
  expect_error([&] { op::find_op("topk").invoke({x}, {{"kk", "2"}}); }, {"topk", "kk", "test_shape_ops.c"});

  // Tuple attributes and auxiliary states through the registry.
  NDArray img = nd::array(stored(random_values(2 * 3 * 5 * 5, -1, 1, 15)), Shape{2, 3, 5, 5}, ctx);
  NDArray kw = nd::array(stored(random_values(4 * 3 * 3 * 3, -1, 1, 16)), Shape{4, 3, 3, 3}, ctx);
  NDArray conv = op::find_op("Convolution").invoke(
      {img, kw}, {{"kernel", "(3, 3)"}, {"pad", "(1, 1)"}, {"num_filter", "4"}, {"no_bias", "True"}})[0];
  check_close(conv, nd::Convolution(img, kw, {.kernel = {3, 3}, .pad = {1, 1}, .num_filter = 4, .no_bias = true})
                        .to_vector<double>(), 0, 0);
  NDArray gamma = nd::ones({3}, ctx), beta = nd::zeros({3}, ctx), mean = nd::zeros({3}, ctx), var = nd::ones({3}, ctx);
  const op::OpInfo& bn = op::find_op("BatchNorm");
  CHECK(bn.aux_states({}) == std::vector<std::string>{"moving_mean", "moving_var"});
  NDArray normed = bn.invoke({img, gamma, beta, mean, var}, {{"eps", "0.001"}, {"use_global_stats", "True"}})[0];
  std::vector<double> want = img.to_vector<double>();  // global stats 0 and 1: x / sqrt(1 + eps)
  for (double& v : want) v /= std::sqrt(1.001);
  check_close(normed, want, 1e-5, 1e-6);
  expect_error([&] { bn.invoke({img, gamma, beta}, {}); }, {"BatchNorm", "auxiliary states"});
}

// ---------------------------------------------------------------------------------------------------------------
// tile, repeat, reverse (flip), swapaxes, stack: each output element is one input element, so each is checked as
// a gather against a loop: out[i] = x[source(i)], and the gradient of sum(out * w) puts w[i] at source(i).

namespace {

std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx(size_t(s.ndim()));
  for (int d = s.ndim() - 1; d >= 0; --d) {
    idx[size_t(d)] = i % s[d];
    i /= s[d];
  }
  return idx;
}

int64_t ravel(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t i = 0;
  for (int d = 0; d < s.ndim(); ++d) i = i * s[d] + idx[size_t(d)];
  return i;
}

/// f(x) against the gather `source` (output multi-index -> x's flat index), forward for float32 and int32, and
/// the float32 gradient.
void check_gather(Context ctx, const Shape& xs, const std::function<NDArray(const NDArray&)>& f, const Shape& want,
                  const std::function<int64_t(const std::vector<int64_t>&)>& source) {
  CAPTURE(xs);
  CAPTURE(want);
  const auto xv = stored(random_values(size_t(xs.size()), -4, 4, 61));
  const auto wv = stored(random_values(size_t(want.size()), -1, 1, 62));
  std::vector<double> out_ref(size_t(want.size())), grad_ref(size_t(xs.size()), 0.0);
  for (int64_t i = 0; i < want.size(); ++i) {
    const int64_t s = source(unravel(i, want));
    out_ref[size_t(i)] = xv[size_t(s)];
    grad_ref[size_t(s)] += wv[size_t(i)];
  }
  NDArray x = nd::array(xv, xs, ctx), w = nd::array(wv, want, ctx);
  x.attach_grad();
  NDArray out, loss;
  {
    autograd::record rec;
    out = f(x);
    loss = nd::sum(out * w);
  }
  REQUIRE(out.shape() == want);
  check_close(out, out_ref, 0, 0);
  loss.backward();
  check_close(x.grad(), grad_ref, 1e-5, 1e-6);
  std::vector<double> ints(xv.size());
  for (size_t i = 0; i < ints.size(); ++i) ints[i] = std::round(xv[i] * 1000);
  NDArray xi = nd::array(ints, xs, ctx, DType::int32), oi = f(xi);  // the gather kernel, not the fused path
  CHECK(oi.dtype() == DType::int32);
  std::vector<double> int_ref(out_ref.size());
  for (int64_t i = 0; i < want.size(); ++i) int_ref[size_t(i)] = ints[size_t(source(unravel(i, want)))];
  check_close(oi, int_ref, 0, 0);
}

}  // namespace

MIXT_DEVICE_TEST("rearranging copies: tile, repeat, reverse, swapaxes and stack match a gather loop, gradients too") {
  auto ctx = Device::ctx();
  // tile: axis k of the output reads x's axis k - (n - x.ndim) modulo its extent.
  struct TileCase { Shape x; std::vector<int64_t> reps; Shape out; };
  for (const TileCase& c : {TileCase{Shape{2, 3}, {2}, Shape{2, 6}}, TileCase{Shape{2, 3}, {3, 1}, Shape{6, 3}},
                            TileCase{Shape{2, 3}, {2, 1, 2}, Shape{2, 2, 6}}, TileCase{Shape{5}, {3}, Shape{15}},
                            TileCase{Shape{2, 3}, {0, 2}, Shape{0, 6}}, TileCase{Shape{}, {2, 3}, Shape{2, 3}},
                            TileCase{Shape{1023}, {2}, Shape{2046}}}) {
    check_gather(ctx, c.x, [&](const NDArray& x) { return nd::tile(x, c.reps); }, c.out,
                 [&](const std::vector<int64_t>& o) {
                   std::vector<int64_t> src;
                   for (int d = 0; d < c.x.ndim(); ++d) {
                     const size_t k = o.size() - size_t(c.x.ndim()) + size_t(d);
                     src.push_back(o[k] % c.x[d]);
                   }
                   return ravel(src, c.x);
                 });
  }
  // repeat: along the axis, output position j reads j / repeats; without an axis, over the flattened array.
  struct RepeatCase { Shape x; int64_t r; std::optional<int> axis; Shape out; };
  for (const RepeatCase& c : {RepeatCase{Shape{2, 3}, 2, 0, Shape{4, 3}}, RepeatCase{Shape{2, 3}, 3, 1, Shape{2, 9}},
                              RepeatCase{Shape{2, 3}, 2, -1, Shape{2, 6}}, RepeatCase{Shape{2, 3}, 2, {}, Shape{12}},
                              RepeatCase{Shape{2, 3}, 0, 1, Shape{2, 0}}, RepeatCase{Shape{7}, 1, 0, Shape{7}}}) {
    check_gather(ctx, c.x, [&](const NDArray& x) { return nd::repeat(x, c.r, c.axis); }, c.out,
                 [&](const std::vector<int64_t>& o) {
                   if (!c.axis) return o[0] / c.r;
                   std::vector<int64_t> src = o;
                   const size_t ax = size_t(*c.axis < 0 ? *c.axis + c.x.ndim() : *c.axis);
                   src[ax] /= c.r;
                   return ravel(src, c.x);
                 });
  }
  // reverse: a reversed axis reads n - 1 - j. Long 1-D arrays run the vector path with a negative stride.
  struct ReverseCase { Shape x; std::vector<int> axes; };
  for (const ReverseCase& c : {ReverseCase{Shape{3, 4, 5}, {0}}, ReverseCase{Shape{3, 4, 5}, {1, 2}},
                               ReverseCase{Shape{3, 4, 5}, {-1}}, ReverseCase{Shape{3, 4, 5}, {}},
                               ReverseCase{Shape{1}, {0}}, ReverseCase{Shape{7}, {0}}, ReverseCase{Shape{1023}, {0}},
                               ReverseCase{Shape{(1 << 20) + 3}, {0}}, ReverseCase{Shape{0, 3}, {0, 1}}}) {
    CAPTURE(c.axes.size());
    check_gather(ctx, c.x, [&](const NDArray& x) { return nd::flip(x, c.axes); }, c.x,
                 [&](const std::vector<int64_t>& o) {
                   std::vector<int64_t> src = o;
                   for (int a : c.axes) {
                     const size_t d = size_t(a < 0 ? a + c.x.ndim() : a);
                     src[d] = c.x[int(d)] - 1 - o[d];
                   }
                   return ravel(src, c.x);
                 });
  }
  // swapaxes: the output's axes d1 and d2 read x's d2 and d1.
  for (auto [d1, d2] : {std::pair{0, 2}, {1, -1}, {0, 0}}) {
    const Shape xs{2, 3, 4};
    const int a = d1 < 0 ? d1 + 3 : d1, b = d2 < 0 ? d2 + 3 : d2;
    Shape os = xs;
    std::swap(os[a], os[b]);
    check_gather(ctx, xs, [&](const NDArray& x) { return nd::swapaxes(x, d1, d2); }, os,
                 [&](const std::vector<int64_t>& o) {
                   std::vector<int64_t> src = o;
                   std::swap(src[size_t(a)], src[size_t(b)]);
                   return ravel(src, xs);
                 });
  }
  // stack: three (2, 3) arrays as one, the new axis picking the array: seen as a gather from their concatenation.
  for (int axis : {0, 1, 2, -1, -3}) {
    CAPTURE(axis);
    const int ax = axis < 0 ? axis + 3 : axis;
    Shape os{2, 3};
    std::vector<int64_t> ext{2, 3};
    ext.insert(ext.begin() + ax, 3);
    os = Shape(ext);
    check_gather(ctx, Shape{3, 2, 3},
                 [&](const NDArray& all) { return nd::stack({all.at(0), all.at(1), all.at(2)}, axis); }, os,
                 [&](const std::vector<int64_t>& o) {
                   std::vector<int64_t> rest = o;
                   rest.erase(rest.begin() + ax);
                   return o[size_t(ax)] * 6 + ravel(rest, Shape{2, 3});
                 });
  }
  // Errors name the function, the argument and the caller's line.
  NDArray x = nd::zeros(Shape{2, 3}, ctx);
  expect_error([&] { nd::tile(x, {2, -1}); }, {"tile", "'reps'", "-1", "test_shape_ops.c"});
  expect_error([&] { nd::repeat(x, -2, 0); }, {"repeat", "'repeats'", "-2"});
  expect_error([&] { nd::repeat(x, 2, 2); }, {"repeat", "axis 2", "test_shape_ops.c"});
  expect_error([&] { nd::reverse(x, {1, -1}); }, {"reverse", "twice"});
  expect_error([&] { nd::flip(x, {3}); }, {"reverse", "axis 3", "test_shape_ops.c"});
  expect_error([&] { nd::swapaxes(x, 0, 2); }, {"swapaxes", "axis 2"});
  expect_error([&] { nd::stack({x, nd::zeros(Shape{3, 2}, ctx)}); },
               {"stack", "'arg1'", "(3, 2)", "test_shape_ops.c"});
  expect_error([&] { nd::stack({x, x}, 3); }, {"stack", "axis 3"});
  expect_error([&] { nd::stack({}); }, {"stack", "at least one"});
}

// An end equal to begin (an empty slice) is an error, as MXNet's slice_axis has it.
MIXT_DEVICE_TEST("shape ops: slice_axis with end equal to begin raises") {
  NDArray x = nd::zeros(Shape{3, 5}, Device::ctx());
  expect_error([&] { nd::slice_axis(x, op::SliceAxis::Param{.axis = 1, .begin = 2, .end = 2}); },
               {"slice_axis", "attribute 'end'"});
  expect_error([&] { nd::slice_axis(x, op::SliceAxis::Param{.axis = 1, .begin = -3, .end = -3}); },
               {"slice_axis", "attribute 'end'"});
}

// A known output extent equal to the known inputs' sum leaves nothing for the unknown input: an error.
TEST_CASE("shape ops: Concat inference with an output extent that leaves an unknown input empty raises") {
  std::vector<Shape> in{Shape{2, 3}, Shape{2, 0}}, out{Shape{2, 3}}, aux;
  expect_error([&] { op::Concat::infer_shape({.num_args = 2, .dim = 1}, in, out, aux); },
               {"Concat", "leaves nothing for input 'arg1'"});
}

// op::invoke checks the inputs' contexts, the number of auxiliary states, and that shape inference
// left every input's shape as it is.
TEST_CASE("operator contract: invoke rejects other contexts, extra auxiliary states, an input shape inference changed") {
  NDArray x = nd::ones(Shape{2, 3}, cpu(0)), w = nd::ones(Shape{4, 3}, cpu(1)), w0 = nd::ones(Shape{4, 3}, cpu(0));
  op::FullyConnected::Param p{.num_hidden = 4, .no_bias = true};
  expect_error([&] { op::invoke<op::FullyConnected>(p, {x, w}); },
               {"FullyConnected", "input 'weight' lives on cpu(1)"});
  expect_error([&] { op::invoke<op::FullyConnected>(p, {x, w0}, {nd::ones(Shape{4}, cpu(0))}); },
               {"FullyConnected", "expected 0 auxiliary states, received 1"});
  // Data (2, 0): inference reads the extent 0 as unknown and takes 3 from the weight; the array still has 0.
  expect_error([&] { op::invoke<op::FullyConnected>(p, {nd::zeros(Shape{2, 0}, cpu(0)), w0}); },
               {"FullyConnected", "input 'data': expected shape"});
}

// An error inside an operator's forward leaves the recording state as it was.
TEST_CASE("operator contract: an error inside an operator's forward restores the recording state") {
  NDArray x = nd::zeros(Shape{2, 3}, cpu(), DType::int32), w = nd::zeros(Shape{4, 3}, cpu(), DType::int32);
  autograd::record rec;
  CHECK_THROWS_AS(nd::FullyConnected(x, w, {.num_hidden = 4}), Error);
  CHECK(autograd::is_recording());
}

// The engine variables of an operation: each once, and reads that are also written only as writes.
TEST_CASE("operator contract: op_vars lists each variable once, a written one only among the writes") {
  NDArray a = nd::zeros(Shape{2}), b = nd::zeros(Shape{2});
  const op::OpVars v = op::op_vars({a, b, a, NDArray()}, {a, a});
  CHECK(v.writes == std::vector<engine::Var*>{a.var()});
  CHECK(v.reads == std::vector<engine::Var*>{b.var()});
}

// Suggestions within the edit distance (substitutions count 1, at least 2 allowed), at most
// five of them; invoking by name with too many arrays names the count.
TEST_CASE("registry: suggestions for unknown names, and the array count of invoke by name") {
  expect_error([] { op::find_op("Emveddimg"); }, {"did you mean: Embedding"});  // two substitutions
  expect_error([] { op::find_op("cloq"); }, {"did you mean: clip"});             // 2 > 4 / 3
  op::register_op<op::Flatten>({"flatten", "zqx1", "zqx2", "zqx3", "zqx4", "zqx5", "zqx6"});
  expect_error([] { op::find_op("zqx"); }, {"did you mean: zqx1, zqx2, zqx3, zqx4, zqx5 ("});
  op::register_op<op::Flatten>({"flatten"});
  NDArray x = nd::ones(Shape{2, 3});
  expect_error([&] { op::find_op("Flatten").invoke({x, x}, {}); },
               {"Flatten", "expected 1 inputs and 0 auxiliary states, received 2 arrays"});
}

TEST_CASE("shape ops: Embedding's shape inference rejects an output whose last extent is not output_dim") {
  std::vector<Shape> in{Shape{}, Shape{}}, out{Shape{5, 3}}, aux;
  expect_error([&] { op::Embedding::infer_shape({.input_dim = 10, .output_dim = 4}, in, out, aux); },
               {"Embedding", "output", "4"});
}

TEST_CASE("shape ops: Dropout's hidden mask output is ones in predict mode") {
  NDArray x = nd::full(Shape{3, 4}, 2.0, cpu());
  auto out = op::invoke<op::Dropout>({.p = 0.5f}, {x}, {}, false);
  REQUIRE(out.size() == 2);
  check_close(out[1], std::vector<double>(12, 1.0), 0, 0);
}

TEST_CASE("shape ops: tile and repeat up to the dimension limit itself") {
  NDArray a4 = nd::arange(0, 16, 1, 1, cpu()).reshape({2, 2, 2, 2});  // tile needs 2 * 4 = kMaxDim axes
  NDArray t = nd::tile(a4, {1, 1, 1, 2});
  CHECK(t.shape() == (Shape{2, 2, 2, 4}));
  CHECK(t.to_vector<double>()[2] == 0.0);
  expect_error([&] { nd::tile(nd::zeros(Shape{1, 1, 1, 1, 1}, cpu()), {1}); }, {"tile"});
  NDArray a7 = nd::arange(0, 2, 1, 1, cpu()).reshape({1, 1, 1, 1, 1, 1, 2});  // repeat needs 7 + 1 = kMaxDim
  NDArray r = nd::repeat(a7, 2, 6);
  CHECK(r.shape() == (Shape{1, 1, 1, 1, 1, 1, 4}));
  check_close(r, {0, 0, 1, 1}, 0, 0);
}

// From the seventh mutation round: each case below failed a mutant that every earlier test let through.

TEST_CASE("attrs: integers are decimal and whole, and an empty integer is rejected") {
  auto p = op::parse_attrs<op::SliceAxis::Param>("slice_axis", {{"axis", "010"}, {"begin", " 2 "}, {"end", "-1"}});
  CHECK(p.axis == 10);
  CHECK(p.begin == 2);
  REQUIRE(p.end.has_value());
  CHECK(*p.end == -1);
  using A = op::Attrs;
  for (const A& a : {A{{"axis", "0x1"}}, A{{"axis", "1.5"}}, A{{"begin", "3x"}}, A{{"begin", ""}}, A{{"end", " "}}})
    expect_error([&] { op::parse_attrs<op::SliceAxis::Param>("slice_axis", a); }, {"slice_axis", a.begin()->first});
}

TEST_CASE("attrs: a number must be a whole number literal and not empty") {
  CHECK(op::parse_attrs<op::Dropout::Param>("Dropout", {{"p", " 0.25 "}}).p == 0.25f);
  CHECK(op::parse_attrs<op::Dropout::Param>("Dropout", {{"p", "1e-1"}}).p == 0.1f);
  for (const char* bad : {"0.25x", "", "  "})
    expect_error([&] { op::parse_attrs<op::Dropout::Param>("Dropout", {{"p", bad}}); },
                 {"Dropout", "'p'", "a number"});
}

TEST_CASE("attrs: booleans accept True/true/1 and False/false/0 only") {
  auto flag = [](const char* s) {
    return op::parse_attrs<op::Dropout::Param>("Dropout", {{"cudnn_off", s}}).cudnn_off;
  };
  for (const char* t : {"True", "true", "1", " 1 "}) CHECK_MESSAGE(flag(t), t);
  for (const char* f : {"False", "false", "0"}) CHECK_MESSAGE(!flag(f), f);
  for (const char* bad : {"yes", "2", ""})
    expect_error([&] { flag(bad); }, {"Dropout", "cudnn_off", "True or False"});
}

TEST_CASE("attrs: tuples in () or [], None items as 0, a trailing comma and space") {
  auto axes = [](const char* s) { return op::parse_attrs<op::Dropout::Param>("Dropout", {{"axes", s}}).axes; };
  CHECK(axes("(1, 2)") == op::IntTuple{1, 2});
  CHECK(axes("[1, 2]") == op::IntTuple{1, 2});
  CHECK(axes("(None, 3)") == op::IntTuple{0, 3});
  CHECK(axes("(4, )") == op::IntTuple{4});
  CHECK(axes("(4,)") == op::IntTuple{4});
  CHECK(axes("()").empty());
  for (const char* bad : {"1, 2", "(1, 2]", "3", "(1, x)"})
    expect_error([&] { axes(bad); }, {"Dropout", "axes"});
}

TEST_CASE("attrs: an optional reads None with surrounding spaces as unset") {
  CHECK_FALSE(op::parse_attrs<op::SliceAxis::Param>("slice_axis", {{"end", " None "}}).end.has_value());
  CHECK(*op::parse_attrs<op::SliceAxis::Param>("slice_axis", {{"end", " 3"}}).end == 3);
}

TEST_CASE("attrs: floats are written as Python prints them: 1.0, 0.25, inf, nan") {
  auto text = [](float p) { return op::to_attrs(op::Dropout::Param{.p = p})["p"]; };
  CHECK(text(1.0f) == "1.0");
  CHECK(text(0.25f) == "0.25");
  CHECK(text(std::numeric_limits<float>::infinity()) == "inf");
  CHECK(text(std::numeric_limits<float>::quiet_NaN()) == "nan");
}

TEST_CASE("attrs: double-underscore attributes are ignored, other unknown keys rejected") {
  auto p = op::parse_attrs<op::Dropout::Param>("Dropout", {{"p", "0.1"}, {"__lr_mult__", "2"}, {"__init__", "x"}});
  CHECK(p.p == 0.1f);
  expect_error([] { op::parse_attrs<op::Dropout::Param>("Dropout", {{"p", "0.1"}, {"lr_mult", "2"}}); },
               {"Dropout", "unknown attribute 'lr_mult'"});
}

MIXT_DEVICE_TEST("shape ops: a null request leaves the output buffer untouched") {
  auto ctx = Device::ctx();
  NDArray x = nd::array({1, 2, 3, 4, 5, 6}, Shape{2, 3}, ctx);
  NDArray o = nd::full(Shape{3, 2}, 7.0, ctx);
  op::Transpose::forward({}, op::OpContext{true, {}}, {x}, {op::Req::null}, {o}, {});
  check_close(o, std::vector<double>(6, 7.0));
  NDArray f = nd::full(Shape{2, 3}, 7.0, ctx);
  op::Flatten::forward({}, op::OpContext{true, {}}, {x}, {op::Req::null}, {f}, {});
  check_close(f, std::vector<double>(6, 7.0));
}

MIXT_DEVICE_TEST("indexing ops: the zero gradient of one_hot's indices is written for write and inplace requests") {
  auto ctx = Device::ctx();
  NDArray idx = nd::array({0, 2, 1}, Shape{3}, ctx);
  NDArray head = nd::ones(Shape{3, 3}, ctx);
  for (op::Req r : {op::Req::write, op::Req::inplace}) {
    NDArray g = nd::full(Shape{3}, 5.0, ctx);
    op::OneHot::backward({.depth = 3}, op::OpContext{true, {}}, {head}, {idx}, {head}, {r}, {g}, {});
    check_close(g, {0, 0, 0});
  }
  NDArray g = nd::full(Shape{3}, 5.0, ctx);
  op::OneHot::backward({.depth = 3}, op::OpContext{true, {}}, {head}, {idx}, {head}, {op::Req::add}, {g}, {});
  check_close(g, {5, 5, 5});
}

MIXT_DEVICE_TEST("indexing ops: one_hot's dtype attribute accepts every dtype name, bfloat16 included") {
  auto ctx = Device::ctx();
  NDArray idx = nd::array({1, 0}, Shape{2}, ctx);
  for (DType t : {DType::float32, DType::float64, DType::float16, DType::bfloat16, DType::uint8, DType::int8,
                  DType::int32, DType::int64}) {
    NDArray y = nd::one_hot(idx, {.depth = 2, .dtype = dtype_name(t)});
    CHECK(y.dtype() == t);
    check_close(y, {0, 1, 1, 0});
  }
}

TEST_CASE("shape ops: Flatten infers a 2-D input's unknown extent from the output") {
  std::vector<Shape> in{Shape{0, 3}}, out{Shape{4, 3}}, aux;
  op::Flatten::infer_shape({}, in, out, aux);
  CHECK(in[0] == Shape{4, 3});
  CHECK(out[0] == Shape{4, 3});
}

MIXT_DEVICE_TEST("shape ops: Reshape's target_shape ignores reverse") {
  auto ctx = Device::ctx();
  std::vector<Shape> in{Shape{2, 3, 4}};
  auto out = infer_out<op::Reshape>({.reverse = true, .target_shape = {5, 0}, .keep_highest = true}, in);
  CHECK(out[0] == Shape{2, 12});
  std::vector<double> v(24);
  std::iota(v.begin(), v.end(), 0.0);
  NDArray y = nd::Reshape(nd::array(v, Shape{2, 3, 4}, ctx), {.reverse = true, .target_shape = {0, 4}});
  CHECK(y.shape() == Shape{6, 4});
  check_close(y, v);
}

TEST_CASE("shape ops: Reshape infers an input extent from the output only when exactly one is unknown") {
  std::vector<Shape> aux;
  std::vector<Shape> in{Shape{0, 4}}, out{Shape{24}};
  op::Reshape::infer_shape({.shape = {-1}}, in, out, aux);
  CHECK(in[0] == Shape{6, 4});
  in = {Shape{0, 0, 4}};
  out = {Shape{24}};
  op::Reshape::infer_shape({.shape = {-1}}, in, out, aux);
  CHECK(in[0] == Shape{0, 0, 4});
  in = {Shape{0, 5}};
  out = {Shape{12}};
  CHECK_NOTHROW(op::Reshape::infer_shape({.shape = {-1}}, in, out, aux));
  CHECK(in[0] == Shape{0, 5});
}

MIXT_DEVICE_TEST("shape ops: slice_axis rejects an end past the axis's extent") {
  auto ctx = Device::ctx();
  NDArray x = nd::array(random_values(12), Shape{3, 4}, ctx);
  expect_error([&] { nd::slice_axis(x, {.axis = 1, .begin = 1, .end = 5}); }, {"slice_axis", "attribute 'end'"});
  expect_error([&] { nd::slice_axis(x, {.axis = 0, .begin = 0, .end = 4}); }, {"slice_axis", "attribute 'end'"});
  CHECK(nd::slice_axis(x, {.axis = 1, .begin = 1, .end = 4}).shape() == Shape{3, 3});
}

TEST_CASE("shape ops: Concat leaves two unknown input extents unknown with a known output") {
  std::vector<Shape> in{Shape{2, 0}, Shape{2, 0}, Shape{2, 3}}, out{Shape{2, 10}}, aux;
  op::Concat::infer_shape({.num_args = 3, .dim = 1}, in, out, aux);
  CHECK(in[0] == Shape{2, 0});
  CHECK(in[1] == Shape{2, 0});
  in = {Shape{2, 0}, Shape{2, 4}, Shape{2, 3}};
  op::Concat::infer_shape({.num_args = 3, .dim = -1}, in, out, aux);
  CHECK(in[0] == Shape{2, 3});
}

TEST_CASE("shape ops: SliceChannel infers its input from an output with squeeze_axis and a negative axis") {
  std::vector<Shape> in{Shape{}}, out{Shape{2, 4}, Shape{}, Shape{}}, aux;
  op::SliceChannel::infer_shape({.num_outputs = 3, .axis = -1, .squeeze_axis = true}, in, out, aux);
  CHECK(in[0] == Shape{2, 4, 3});
  for (const Shape& o : out) CHECK(o == Shape{2, 4});
  in = {Shape{}};
  out = {Shape{2, 4}, Shape{}, Shape{}};
  op::SliceChannel::infer_shape({.num_outputs = 3, .axis = 2, .squeeze_axis = true}, in, out, aux);
  CHECK(in[0] == Shape{2, 4, 3});
}

TEST_CASE("shape ops: slice_axis over an unknown extent infers end - begin, begin 0 included") {
  for (int64_t b : {0, 1}) {
    std::vector<Shape> in{Shape{2, 0}};
    auto out = infer_out<op::SliceAxis>({.axis = 1, .begin = b, .end = 3}, in);
    CHECK(out[0] == Shape{2, 3 - b});
  }
}

MIXT_DEVICE_TEST("shape ops: slice_axis's backward leaves the gradient untouched under a null request") {
  auto ctx = Device::ctx();
  NDArray x = nd::array(random_values(12), Shape{3, 4}, ctx);
  NDArray head = nd::ones(Shape{3, 2}, ctx), out = nd::zeros(Shape{3, 2}, ctx);
  NDArray g = nd::full(Shape{3, 4}, 7.0, ctx);
  op::SliceAxis::backward({.axis = 1, .begin = 1, .end = 3}, op::OpContext{true, {}}, {head}, {x}, {out},
                          {op::Req::null}, {g}, {});
  check_close(g, std::vector<double>(12, 7.0));
}

TEST_CASE("shape ops: Concat infers the inputs' other extents from a known output") {
  std::vector<Shape> in{Shape{0, 2}, Shape{0, 3}}, out{Shape{4, 5}}, aux;
  op::Concat::infer_shape({.num_args = 2, .dim = 1}, in, out, aux);
  CHECK(in[0] == Shape{4, 2});
  CHECK(in[1] == Shape{4, 3});
}

TEST_CASE("shape ops: SliceChannel with squeeze_axis accepts an unknown extent along the axis") {
  std::vector<Shape> in{Shape{2, 0, 5}};
  std::vector<Shape> out;
  CHECK_NOTHROW(out = infer_out<op::SliceChannel>({.num_outputs = 3, .axis = 1, .squeeze_axis = true}, in));
  REQUIRE(out.size() == 3);
  for (const Shape& o : out) CHECK(o == Shape{2, 5});
}

TEST_CASE("shape ops: Reshape codes that cannot be read over an unknown extent leave the output unknown") {
  std::vector<Shape> in{Shape{0, 3}};
  std::vector<Shape> out;
  CHECK_NOTHROW(out = infer_out<op::Reshape>({.shape = {0, 0, 0}}, in));
  REQUIRE(out.size() == 1);
  CHECK(out[0].ndim() == 0);
}

MIXT_DEVICE_TEST("shape ops: stack names an empty NDArray argument") {
  auto ctx = Device::ctx();
  NDArray x = nd::ones(Shape{2}, ctx);
  expect_error([&] { nd::stack({x, NDArray()}); }, {"stack", "argument 'arg1' is an empty NDArray"});
  expect_error([&] { nd::stack({NDArray(), NDArray()}); }, {"stack", "argument 'arg0' is an empty NDArray"});
}

MIXT_DEVICE_TEST("shape ops: transpose with negative axes matches the positive ones") {
  auto ctx = Device::ctx();
  std::vector<double> v = random_values(24);
  NDArray x = nd::array(v, Shape{2, 3, 4}, ctx);
  NDArray y = nd::transpose(x, op::Transpose::Param{.axes = {-2, -3, -1}});
  REQUIRE(y.shape() == Shape{3, 2, 4});
  std::vector<double> want;
  for (size_t j = 0; j < 3; ++j)
    for (size_t i = 0; i < 2; ++i)
      for (size_t k = 0; k < 4; ++k) want.push_back(v[(i * 3 + j) * 4 + k]);
  check_close(y, stored(want));
}

MIXT_DEVICE_TEST("shape ops: slice_axis rejects a begin below minus the axis's extent") {
  auto ctx = Device::ctx();
  NDArray x = nd::array(random_values(12), Shape{3, 4}, ctx);
  expect_error([&] { nd::slice_axis(x, {.axis = 1, .begin = -5}); }, {"slice_axis", "attribute 'begin'"});
  CHECK(nd::slice_axis(x, {.axis = 1, .begin = -4}).shape() == Shape{3, 4});
}

TEST_CASE("attrs: an integer beyond its type's range is an error, not wrapped") {
  auto axis = [](const char* s) { return op::parse_attrs<op::SliceAxis::Param>("slice_axis", {{"axis", s}}).axis; };
  CHECK(axis("2147483647") == 2147483647);
  CHECK(axis("-2147483648") == -2147483647 - 1);
  expect_error([&] { axis("4294967297"); }, {"slice_axis", "'axis'", "int32's range", "4294967297"});
  expect_error([&] { axis("-2147483649"); }, {"slice_axis", "int32's range"});
  auto begin = [](const char* s) { return op::parse_attrs<op::SliceAxis::Param>("slice_axis", {{"begin", s}}).begin; };
  CHECK(begin("9223372036854775807") == std::numeric_limits<int64_t>::max());
  expect_error([&] { begin("9223372036854775808"); }, {"slice_axis", "'begin'", "int64's range"});
}
