// Reverse-mode differentiation of a program (expr/program.hpp): appends to it the instructions of every array
// leaf's adjoint, head gradient times the chain of derivatives down to the leaf. Derivatives reuse the values the
// program already computes (exp's derivative is its own value, sigmoid's s * (1 - s)), and the adjoints are again
// programs, so they are evaluated as fused kernels and can be recorded and differentiated again.
#pragma once

#include <vector>

#include "../expr/program.hpp"

namespace mixt::autograd::detail {

using expr::Op;

/// operand's adjoint gains v: adj[operand] becomes v, or the sum with what it had. Out of line: the rules call it
/// some forty times.
[[gnu::noinline]] inline void add_adjoint(expr::Program& p, std::vector<int>& adj, const std::vector<bool>& has_leaf,
                                          int operand, int v) {
  if (operand < 0 || !has_leaf[size_t(operand)]) return;
  int& to = adj[size_t(operand)];
  to = to < 0 ? v : p.add(Op::plus, to, v);
}

/// Appends the adjoints of instruction `value` (whose operands all come before it) with respect to each leaf below
/// it, given the instruction `g` holding the head gradient; returns, per leaf, the instruction of its adjoint, or
/// -1 where no gradient flows (a comparison, sign, floor, ... on the way, or a where condition).
[[gnu::noinline]] inline std::vector<int> append_adjoints(expr::Program& p, int value, int g) {
  const int n = value + 1;
  std::vector<int> adj(size_t(n), -1), leaf_adj(p.leaves.size(), -1);
  std::vector<bool> has_leaf(size_t(n), false);  // whether an array leaf lies below (else no adjoint is built)
  for (int i = 0; i < n; ++i) {
    const expr::Instr in = p.code[size_t(i)];
    const int ops[3] = {in.a, in.b, in.c};
    bool below = in.op == Op::leaf;
    for (int j = 0; j < expr::op_arity(in.op); ++j) below = below || has_leaf[size_t(ops[j])];
    has_leaf[size_t(i)] = below;
  }
  adj[size_t(value)] = g;
  auto op = [&](Op o, int a, int b = -1, int c = -1) { return p.add(o, a, b, c); };
  auto k = [&](double v) { return p.add_constant(v); };
  // Operands come before their users, so an instruction's adjoint is complete (summed over all its users: the
  // adjoint programs themselves read values more than once) when the walk, going down, reaches it.
  for (int i = value; i >= 0; --i) {
    const int d = adj[size_t(i)];
    if (d < 0) continue;
    const expr::Instr in = p.code[size_t(i)];
    const int a = in.a, b = in.b, c = in.c;
    // Each rule builds its operand's adjoint whether a leaf lies below it or not (a lambda per rule would cost
    // compile time); what no leaf needs is dropped when the adjoints are pruned.
    auto give = [&](int operand, int v) { add_adjoint(p, adj, has_leaf, operand, v); };
    switch (in.op) {
      case Op::leaf: leaf_adj[size_t(a)] = d; break;
      case Op::constant: break;
      case Op::negative: give(a, op(Op::negative, d)); break;
      case Op::identity: give(a, d); break;
      case Op::exp: give(a, op(Op::mul, d, i)); break;
      case Op::log: give(a, op(Op::div, d, a)); break;
      case Op::log1p: give(a, op(Op::div, d, op(Op::plus, a, k(1)))); break;
      case Op::expm1: give(a, op(Op::mul, d, op(Op::plus, i, k(1)))); break;
      case Op::sqrt: give(a, op(Op::div, op(Op::mul, d, k(0.5)), i)); break;
      case Op::rsqrt: give(a, op(Op::div, op(Op::mul, op(Op::mul, d, k(-0.5)), i), a)); break;
      case Op::square: give(a, op(Op::mul, op(Op::mul, d, a), k(2))); break;
      case Op::abs: give(a, op(Op::mul, d, op(Op::sign, a))); break;
      case Op::sin: give(a, op(Op::mul, d, op(Op::cos, a))); break;
      case Op::cos: give(a, op(Op::negative, op(Op::mul, d, op(Op::sin, a)))); break;
      case Op::tanh: give(a, op(Op::mul, d, op(Op::minus, k(1), op(Op::square, i)))); break;
      case Op::sigmoid: give(a, op(Op::mul, op(Op::mul, d, i), op(Op::minus, k(1), i))); break;
      case Op::relu: give(a, op(Op::mul, d, op(Op::greater, a, k(0)))); break;
      case Op::softrelu: give(a, op(Op::mul, d, op(Op::sigmoid, a))); break;
      case Op::erf:  // 2 / sqrt(pi) * e^(-a^2)
        give(a, op(Op::mul, op(Op::mul, d, op(Op::exp, op(Op::negative, op(Op::square, a)))), k(1.1283791670955126)));
        break;
      case Op::sign: case Op::floor: case Op::ceil: case Op::round: break;
      case Op::plus:
        give(a, d);
        give(b, d);
        break;
      case Op::minus:
        give(a, d);
        give(b, op(Op::negative, d));
        break;
      case Op::mul:
        give(a, op(Op::mul, d, b));
        give(b, op(Op::mul, d, a));
        break;
      case Op::div:  // d(a / b)/db = -(a / b) / b
        give(a, op(Op::div, d, b));
        give(b, op(Op::negative, op(Op::div, op(Op::mul, d, i), b)));
        break;
      case Op::power:  // d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log a
        give(a, op(Op::mul, op(Op::mul, d, b), op(Op::power, a, op(Op::minus, b, k(1)))));
        give(b, op(Op::mul, op(Op::mul, d, i), op(Op::log, a)));
        break;
      case Op::maximum:
        give(a, op(Op::mul, d, op(Op::greater_equal, a, b)));
        give(b, op(Op::mul, d, op(Op::lesser, a, b)));
        break;
      case Op::minimum:
        give(a, op(Op::mul, d, op(Op::lesser_equal, a, b)));
        give(b, op(Op::mul, d, op(Op::greater, a, b)));
        break;
      case Op::equal: case Op::not_equal: case Op::lesser: case Op::lesser_equal: case Op::greater:
      case Op::greater_equal:
        break;
      case Op::where:  // where(c, x, y): the condition gets no gradient
        give(b, op(Op::mul, d, op(Op::not_equal, a, k(0))));
        give(c, op(Op::mul, d, op(Op::equal, a, k(0))));
        break;
      case Op::clip:  // clip(x, lo, hi): the bounds get no gradient
        give(a, op(Op::mul, op(Op::mul, d, op(Op::greater_equal, a, b)), op(Op::lesser_equal, a, c)));
        break;
    }
  }
  return leaf_adj;
}

}  // namespace mixt::autograd::detail
