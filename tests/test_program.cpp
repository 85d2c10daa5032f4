// Programs (expr/program.hpp): fused expressions built at run time, which autograd evaluates. Checked against a
// double-precision interpreter of the same instructions written here, over every op, broadcast, transposed and
// strided leaves, chunk and thread boundaries, and random trees that exercise register reuse.
#include "testing.hpp"

#include <random>

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::random_values;
using expr::Op;
using expr::Program;

namespace {

std::vector<double> stored(std::vector<double> v) { return mixt::testing::as_stored(std::move(v)); }

double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }

/// op applied in double, as NumPy / MXNet define it.
double apply_ref(Op op, double a, double b, double c) {
  switch (op) {
    case Op::negative: return -a;
    case Op::exp: return std::exp(a);
    case Op::log: return std::log(a);
    case Op::log1p: return std::log1p(a);
    case Op::expm1: return std::expm1(a);
    case Op::sqrt: return std::sqrt(a);
    case Op::rsqrt: return 1 / std::sqrt(a);
    case Op::square: return a * a;
    case Op::abs: return std::abs(a);
    case Op::sign: return double(a > 0) - double(a < 0);
    case Op::sin: return std::sin(a);
    case Op::cos: return std::cos(a);
    case Op::tanh: return std::tanh(a);
    case Op::sigmoid: return sigmoid_ref(a);
    case Op::relu: return std::max(a, 0.0);
    case Op::softrelu: return std::log1p(std::exp(a));
    case Op::erf: return std::erf(a);
    case Op::floor: return std::floor(a);
    case Op::ceil: return std::ceil(a);
    case Op::round: return std::round(a);
    case Op::identity: return a;
    case Op::plus: return a + b;
    case Op::minus: return a - b;
    case Op::mul: return a * b;
    case Op::div: return a / b;
    case Op::power: return std::pow(a, b);
    case Op::maximum: return std::max(a, b);
    case Op::minimum: return std::min(a, b);
    case Op::equal: return a == b;
    case Op::not_equal: return a != b;
    case Op::lesser: return a < b;
    case Op::lesser_equal: return a <= b;
    case Op::greater: return a > b;
    case Op::greater_equal: return a >= b;
    case Op::where: return a != 0 ? b : c;
    case Op::clip: return std::min(std::max(a, b), c);
    default: FAIL("not an operation"); return 0;
  }
}

/// The value of every output element of p, interpreted in double from the leaves' host copies.
std::vector<double> interpret(const Program& p) {
  Shape out;
  std::vector<std::vector<double>> host;
  for (const expr::ProgramLeaf& l : p.leaves) {
    out = expr::broadcast_shapes(out, l.view.shape, "test");
    host.push_back(l.array.to_vector<double>());
  }
  std::vector<double> result(size_t(out.size())), val(p.code.size());
  std::vector<int64_t> idx(size_t(out.ndim()));
  for (int64_t i = 0; i < out.size(); ++i) {
    for (int64_t r = i, d = out.ndim() - 1; d >= 0; --d) {
      idx[size_t(d)] = r % out[int(d)];
      r /= out[int(d)];
    }
    for (size_t s = 0; s < p.code.size(); ++s) {
      const expr::Instr in = p.code[s];
      if (in.op == Op::leaf) {
        const expr::ProgramLeaf& l = p.leaves[size_t(in.a)];
        int64_t off = l.offset;
        const int lead = out.ndim() - l.view.shape.ndim();
        for (int d = 0; d < l.view.shape.ndim(); ++d)
          if (l.view.shape[d] != 1) off += idx[size_t(d + lead)] * l.view.strides[size_t(d)];
        val[s] = host[size_t(in.a)][size_t(off)];
      } else if (in.op == Op::constant) {
        val[s] = p.constants[size_t(in.a)];
      } else {
        auto v = [&](int o) { return o < 0 ? 0.0 : val[size_t(o)]; };
        val[s] = apply_ref(in.op, v(in.a), v(in.b), v(in.c));
      }
    }
    result[size_t(i)] = val.back();
  }
  return result;
}

/// p's elements computed one at a time by its plan's scalar evaluator (the CUDA kernel's), on the host.
std::vector<double> scalar_path(const Program& p) {
  expr::LeafViews views;
  Shape out;
  for (const expr::ProgramLeaf& l : p.leaves) {
    views.push_back(l.view);
    out = expr::broadcast_shapes(out, l.view.shape, "test");
  }
  const expr::Layout L = expr::make_layout(out, views);
  for (const expr::ProgramLeaf& l : p.leaves) l.array.wait_to_read();
  const auto plan = expr::make_program_plan<float, float>(p, expr::schedule(p, "test"), L);
  std::vector<double> got(size_t(out.size()));
  int64_t idx[kMaxDim] = {};
  for (int64_t i = 0; i < out.size(); ++i) {
    got[size_t(i)] = L.linear ? plan.lin(i) : plan.at(idx);
    for (int d = L.ndim - 1; d >= 0; --d) {  // the next multi-index over the collapsed axes
      if (++idx[d] < L.dims[size_t(d)]) break;
      idx[d] = 0;
    }
  }
  return got;
}

struct OpCase {
  Op op;
  double lo, hi;  // the operands' range
};

}  // namespace

MIXT_DEVICE_TEST("program: every operation matches a double-precision loop, at chunk and thread boundaries") {
  auto ctx = Device::ctx();
  const std::vector<OpCase> cases = {
      {Op::negative, -3, 3}, {Op::exp, -3, 3},       {Op::log, 0.1, 4},      {Op::log1p, -0.5, 3},
      {Op::expm1, -2, 2},    {Op::sqrt, 0.1, 4},     {Op::rsqrt, 0.1, 4},    {Op::square, -3, 3},
      {Op::abs, -3, 3},      {Op::sign, -3, 3},      {Op::sin, -4, 4},       {Op::cos, -4, 4},
      {Op::tanh, -3, 3},     {Op::sigmoid, -6, 6},   {Op::relu, -3, 3},      {Op::softrelu, -5, 5},
      {Op::erf, -2, 2},      {Op::floor, -3, 3},     {Op::ceil, -3, 3},      {Op::round, -3, 3},
      {Op::identity, -3, 3}, {Op::plus, -3, 3},      {Op::minus, -3, 3},     {Op::mul, -3, 3},
      {Op::div, 0.5, 3},     {Op::power, 0.5, 2},    {Op::maximum, -3, 3},   {Op::minimum, -3, 3},
      {Op::equal, -1, 1},    {Op::not_equal, -1, 1}, {Op::lesser, -3, 3},    {Op::lesser_equal, -3, 3},
      {Op::greater, -3, 3},  {Op::greater_equal, -3, 3}, {Op::where, -3, 3}, {Op::clip, -3, 3},
  };
  for (int64_t n : {1, 7, 127, 128, 129, 1023, 70001}) {
    for (const OpCase& c : cases) {
      CAPTURE(n);
      CAPTURE(int(c.op));
      Program p;
      int operands[3] = {-1, -1, -1};
      for (int k = 0; k < expr::op_arity(c.op); ++k) {
        auto v = stored(random_values(size_t(n), c.lo, c.hi, uint64_t(7 * n + k)));
        if (c.op == Op::equal || c.op == Op::not_equal)  // make some elements equal
          for (auto& x : v) x = std::round(x * 2) / 2;
        NDArray a = nd::array(v, Shape{n}, ctx);
        operands[k] = p.add_leaf(a, expr::contiguous_view(a.shape()), 0, expr::LeafKind::plain);
      }
      if (c.op == Op::clip) {  // bounds are constants, as clip(x, lo, hi) records them
        operands[1] = p.add_constant(-1.5);
        operands[2] = p.add_constant(2);
      }
      p.add(c.op, operands[0], operands[1], operands[2]);
      const std::vector<double> want = interpret(p);
      check_close(expr::evaluate_program(p, "test"), want, 2e-6, 1e-6);
      if (Device::ctx().is_gpu() || n > 1023) continue;
      check_close(scalar_path(p), want, 2e-6, 1e-6);
    }
  }
}

MIXT_DEVICE_TEST("program: broadcast, transposed and strided leaves, constants, and a reused register") {
  auto ctx = Device::ctx();
  // out (4, 5, 131) = (x + c * t) * sigmoid(s) - x, with x (4, 1, 131), t the transpose of (131, 5, 4) and s a
  // slice along axis 1 of (4, 9, 131).
  const Shape xs{4, 1, 131}, ts{131, 5, 4}, ss{4, 9, 131};
  NDArray x = nd::array(stored(random_values(size_t(xs.size()), -2, 2, 1)), xs, ctx);
  NDArray t = nd::array(stored(random_values(size_t(ts.size()), -2, 2, 2)), ts, ctx);
  NDArray sfull = nd::array(stored(random_values(size_t(ss.size()), -2, 2, 3)), ss, ctx);
  const expr::StridedLeaf s = expr::sliced(sfull, 1, 3, 8);
  Program p;
  const int lx = p.add_leaf(x, expr::contiguous_view(xs), 0, expr::LeafKind::plain);
  const int lt = p.add_leaf(t, expr::reversed_view(ts), 0, expr::LeafKind::transposed);
  const int ct = p.add(Op::mul, p.add_constant(0.75), lt);
  const int sum = p.add(Op::plus, lx, ct);
  const int sig = p.add(Op::sigmoid, p.add_leaf(s.array, s.view, s.offset, expr::LeafKind::strided));
  const int prod = p.add(Op::mul, sum, sig);
  p.add(Op::minus, prod, p.add_leaf(x, expr::contiguous_view(xs), 0, expr::LeafKind::plain));
  const std::vector<double> want = interpret(p);
  NDArray got = expr::evaluate_program(p, "test");
  CHECK(got.shape() == Shape{4, 5, 131});
  check_close(got, want, 1e-5, 1e-6);
  if (!Device::ctx().is_gpu()) check_close(scalar_path(p), want, 1e-5, 1e-6);
}

MIXT_DEVICE_TEST("program: random expression trees match the double-precision interpreter") {
  auto ctx = Device::ctx();
  const Shape shapes[3] = {{3, 1, 150}, {1, 4, 150}, {3, 4, 1}};
  std::vector<NDArray> arrays;
  for (int k = 0; k < 3; ++k)
    arrays.push_back(nd::array(stored(random_values(size_t(shapes[k].size()), -1, 1, uint64_t(10 + k))), shapes[k], ctx));
  // Operations that keep values within a few units, so float and double stay comparable at any depth.
  const Op unary[] = {Op::negative, Op::sin, Op::cos, Op::tanh, Op::sigmoid, Op::relu, Op::abs, Op::erf};
  const Op binary[] = {Op::plus, Op::minus, Op::mul, Op::maximum, Op::minimum};
  std::mt19937 gen(5);
  for (int trial = 0; trial < 40; ++trial) {
    CAPTURE(trial);
    Program p;
    int leaves[3];  // each read by any number of instructions: values used many times, as a DAG
    for (int k = 0; k < 3; ++k) leaves[k] = p.add_leaf(arrays[size_t(k)], expr::contiguous_view(shapes[k]), 0, expr::LeafKind::plain);
    std::function<int(int)> grow = [&](int depth) -> int {
      const int pick = int(gen() % 10);
      if (depth == 0 || pick == 0) {
        if (gen() % 4 == 0) return p.add_constant(double(int(gen() % 7)) / 4 - 0.75);
        return leaves[gen() % 3];
      }
      if (pick <= 3) {
        const int a = grow(depth - 1);
        return p.add(unary[gen() % 8], a);
      }
      if (pick <= 8) {
        const int a = grow(depth - 1);
        const int b = grow(depth - 1);
        const int r = p.add(binary[gen() % 5], a, b);
        return p.add(Op::tanh, r);  // bounded again
      }
      const int c = grow(depth - 1);
      const int a = grow(depth - 1);
      const int b = grow(depth - 1);
      return p.add(Op::where, p.add(Op::greater, c, p.add_constant(0)), a, b);
    };
    const int b = grow(5);
    p.add(Op::plus, p.add(Op::plus, leaves[0], b), leaves[1]);  // the output has the full broadcast shape
    const std::vector<double> want = interpret(p);
    check_close(expr::evaluate_program(p, "test"), want, 1e-4, 1e-5);
    if (!Device::ctx().is_gpu()) check_close(scalar_path(p), want, 1e-4, 1e-5);
  }
}

TEST_CASE("program: programs over the limits raise mixt::Error") {
  NDArray x = nd::ones({3});
  auto leaf = [&](Program& p) { return p.add_leaf(x, expr::contiguous_view(x.shape()), 0, expr::LeafKind::plain); };
  Program many;  // more array operands than a plan holds
  int sum = leaf(many);
  for (int i = 0; i < expr::kProgramMaxLeaves; ++i) sum = many.add(Op::plus, sum, leaf(many));
  CHECK_THROWS_WITH_AS(expr::evaluate_program(many, "test"), doctest::Contains("array operands"), Error);

  Program live;  // 40 values computed before any is consumed: more registers than a plan has
  std::vector<int> v{live.add(Op::sin, leaf(live))};
  for (int i = 1; i < 40; ++i) v.push_back(live.add(Op::sin, v.back()));
  int acc = v.back();
  for (int i = 38; i >= 0; --i) acc = live.add(Op::plus, v[size_t(i)], acc);
  CHECK_THROWS_WITH_AS(expr::evaluate_program(live, "test"), doctest::Contains("intermediate values"), Error);

  Program fits;  // the same values consumed as they come need two registers
  int chain = fits.add(Op::sin, leaf(fits));
  for (int i = 1; i < 40; ++i) chain = fits.add(Op::plus, chain, fits.add(Op::sin, chain));
  CHECK(expr::schedule(fits, "test").n_slots <= 3);
  check_close(expr::evaluate_program(fits, "test"), interpret(fits), 1e-5, 1e-6);
}

// Constants are shared bit for bit: 0 and -0 stay two constants (1 / -0 is -inf).
TEST_CASE("program: the constants 0 and -0 are kept apart") {
  NDArray x = nd::ones({3});
  expr::Program p;
  const int one = p.add(expr::Op::plus, p.add_leaf(x, expr::contiguous_view(x.shape()), 0, expr::LeafKind::plain),
                        p.add_constant(0.0));
  p.add(expr::Op::div, one, p.add_constant(-0.0));
  CHECK(p.constants.size() == 2);
  check_close(expr::evaluate_program(p, "test"), {-INFINITY, -INFINITY, -INFINITY});
}

// Every operation's arity: identity is unary (the last of them), where and clip ternary.
TEST_CASE("program: instruction arities") {
  using expr::Op;
  CHECK(expr::op_arity(Op::leaf) == 0);
  CHECK(expr::op_arity(Op::constant) == 0);
  CHECK(expr::op_arity(Op::negative) == 1);
  CHECK(expr::op_arity(Op::identity) == 1);
  CHECK(expr::op_arity(Op::plus) == 2);
  CHECK(expr::op_arity(Op::greater_equal) == 2);
  CHECK(expr::op_arity(Op::where) == 3);
  CHECK(expr::op_arity(Op::clip) == 3);
}

// A program may read exactly kProgramMaxLeaves arrays.
TEST_CASE("program: a program with as many array operands as a plan holds runs") {
  NDArray x = nd::ones({3});
  expr::Program p;
  auto leaf = [&] { return p.add_leaf(x, expr::contiguous_view(x.shape()), 0, expr::LeafKind::plain); };
  int sum = leaf();
  for (int i = 1; i < expr::kProgramMaxLeaves; ++i) sum = p.add(expr::Op::plus, sum, leaf());
  REQUIRE(p.leaves.size() == size_t(expr::kProgramMaxLeaves));
  check_close(expr::evaluate_program(p, "test"), std::vector<double>(3, double(expr::kProgramMaxLeaves)));
}
