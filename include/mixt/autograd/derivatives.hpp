// Compile-time differentiation of fused expressions: each functor's derivative is itself an expression
// (derivative<F>), and backprop walks an expression's type, handing every array leaf the expression of its
// adjoint: head_grad times the chain of derivatives down to that leaf. The adjoints are evaluated as fused
// kernels, and, being expressions of NDArrays, they are recorded like any other when a graph is being built
// (higher-order gradients).
#pragma once

#include <cmath>
#include <concepts>

#include "../expr/nodes.hpp"
#include "../expr/strided.hpp"
#include "../expr/operators.hpp"

namespace mixt::autograd {

/// Marks a zero derivative: nothing flows to the leaves below.
struct NoGrad {};

template <class F> struct derivative;

#define MIXT_UNARY_DERIVATIVE(F, EXPR)                                   \
  template <> struct derivative<fn::F> {                                 \
    template <class G, class A> static auto d(const G& g, const A& a) {  \
      (void)g; (void)a;                                                  \
      return EXPR;                                                       \
    }                                                                    \
  };

MIXT_UNARY_DERIVATIVE(negative, -g)
MIXT_UNARY_DERIVATIVE(identity, g)
MIXT_UNARY_DERIVATIVE(exp, g * exp(a))
MIXT_UNARY_DERIVATIVE(log, g / a)
MIXT_UNARY_DERIVATIVE(log1p, g / (a + 1.f))
MIXT_UNARY_DERIVATIVE(expm1, g * exp(a))
MIXT_UNARY_DERIVATIVE(sqrt, g * 0.5f / sqrt(a))
MIXT_UNARY_DERIVATIVE(rsqrt, g * -0.5f * rsqrt(a) / a)
MIXT_UNARY_DERIVATIVE(square, g * a * 2.f)
MIXT_UNARY_DERIVATIVE(abs, g * sign(a))
MIXT_UNARY_DERIVATIVE(sign, NoGrad{})
MIXT_UNARY_DERIVATIVE(floor, NoGrad{})
MIXT_UNARY_DERIVATIVE(ceil, NoGrad{})
MIXT_UNARY_DERIVATIVE(round, NoGrad{})
MIXT_UNARY_DERIVATIVE(sin, g * cos(a))
MIXT_UNARY_DERIVATIVE(cos, g * -sin(a))
MIXT_UNARY_DERIVATIVE(tanh, g * (1.f - square(tanh(a))))
MIXT_UNARY_DERIVATIVE(sigmoid, g * sigmoid(a) * (1.f - sigmoid(a)))
MIXT_UNARY_DERIVATIVE(relu, g * (a > 0.f))
MIXT_UNARY_DERIVATIVE(softrelu, g * sigmoid(a))
MIXT_UNARY_DERIVATIVE(erf, g * exp(-square(a)) * 1.1283791670955126)  // 2 / sqrt(pi)
#undef MIXT_UNARY_DERIVATIVE

#define MIXT_BINARY_DERIVATIVE(F, DA, DB)                                                \
  template <> struct derivative<fn::F> {                                                 \
    template <class G, class A, class B> static auto da(const G& g, const A& a, const B& b) { \
      (void)g; (void)a; (void)b;                                                         \
      return DA;                                                                         \
    }                                                                                    \
    template <class G, class A, class B> static auto db(const G& g, const A& a, const B& b) { \
      (void)g; (void)a; (void)b;                                                         \
      return DB;                                                                         \
    }                                                                                    \
  };

MIXT_BINARY_DERIVATIVE(plus, g, g)
MIXT_BINARY_DERIVATIVE(minus, g, -g)
MIXT_BINARY_DERIVATIVE(mul, g * b, g * a)
MIXT_BINARY_DERIVATIVE(div, g / b, -g * a / square(b))
MIXT_BINARY_DERIVATIVE(power, g * b * pow(a, b - 1.f), g * pow(a, b) * log(a))
MIXT_BINARY_DERIVATIVE(maximum, g * (a >= b), g * (a < b))
MIXT_BINARY_DERIVATIVE(minimum, g * (a <= b), g * (a > b))
MIXT_BINARY_DERIVATIVE(equal, NoGrad{}, NoGrad{})
MIXT_BINARY_DERIVATIVE(not_equal, NoGrad{}, NoGrad{})
MIXT_BINARY_DERIVATIVE(lesser, NoGrad{}, NoGrad{})
MIXT_BINARY_DERIVATIVE(lesser_equal, NoGrad{}, NoGrad{})
MIXT_BINARY_DERIVATIVE(greater, NoGrad{}, NoGrad{})
MIXT_BINARY_DERIVATIVE(greater_equal, NoGrad{}, NoGrad{})
#undef MIXT_BINARY_DERIVATIVE

template <> struct derivative<fn::where> {
  template <class G, class C, class A, class B> static NoGrad d0(const G&, const C&, const A&, const B&) { return {}; }
  template <class G, class C, class A, class B> static auto d1(const G& g, const C& c, const A&, const B&) { return g * (c != 0.f); }
  template <class G, class C, class A, class B> static auto d2(const G& g, const C& c, const A&, const B&) { return g * (c == 0.f); }
};
template <> struct derivative<fn::clip> {
  template <class G, class X, class L, class H>
  static auto d0(const G& g, const X& x, const L& lo, const H& hi) { return g * (x >= lo) * (x <= hi); }
  template <class G, class X, class L, class H> static NoGrad d1(const G&, const X&, const L&, const H&) { return {}; }
  template <class G, class X, class L, class H> static NoGrad d2(const G&, const X&, const L&, const H&) { return {}; }
};

template <class G> concept Gradient = !std::same_as<G, NoGrad>;

/// backprop(node, g, visit, k) calls visit(k, adjoint, transposed) for every array leaf k of the expression, in
/// tree order. The overloads live in one struct so that each can call all the others.
struct Backprop {
  template <class V, Gradient G> static void run(const expr::ArrayLeaf&, const G& g, V& visit, int& k) {
    visit(k++, g, false);
  }
  template <class V, Gradient G> static void run(const expr::Transposed<NDArray>&, const G& g, V& visit, int& k) {
    visit(k++, g, true);
  }
  template <class V, Gradient G> static void run(const expr::ScalarLeaf&, const G&, V&, int&) {}
  /// A strided view (transpose with axes, slice_axis) read inside an expression: its gradient would have to be
  /// scattered back through the strides, which is not implemented; backward raises an error if one is needed.
  template <class V, Gradient G> static void run(const expr::StridedLeaf&, const G&, V& visit, int& k) {
    visit.unsupported(k++);
  }
  /// No gradient flows into this subtree: skip its leaves' numbers.
  template <class V, class N> static void run(const N&, const NoGrad&, V&, int& k) { k += N::leaf_count; }

  // An operand without array leaves (a scalar) gets no adjoint: building one would only cost compile time.
  template <class V, Gradient G, class F, class A>
  static void run(const expr::Unary<F, A>& n, const G& g, V& visit, int& k) {
    if constexpr (A::leaf_count > 0) run(n.a, derivative<F>::d(g, n.a), visit, k);
  }
  template <class V, Gradient G, class F, class A, class B>
  static void run(const expr::Binary<F, A, B>& n, const G& g, V& visit, int& k) {
    if constexpr (A::leaf_count > 0) run(n.a, derivative<F>::da(g, n.a, n.b), visit, k);
    if constexpr (B::leaf_count > 0) run(n.b, derivative<F>::db(g, n.a, n.b), visit, k);
  }
  template <class V, Gradient G, class F, class A, class B, class C>
  static void run(const expr::Ternary<F, A, B, C>& n, const G& g, V& visit, int& k) {
    if constexpr (A::leaf_count > 0) run(n.a, derivative<F>::d0(g, n.a, n.b, n.c), visit, k);
    if constexpr (B::leaf_count > 0) run(n.b, derivative<F>::d1(g, n.a, n.b, n.c), visit, k);
    if constexpr (C::leaf_count > 0) run(n.c, derivative<F>::d2(g, n.a, n.b, n.c), visit, k);
  }
};

template <class N, class G, class V>
void backprop(const N& node, const G& g, V& visit) {
  int k = 0;
  Backprop::run(node, g, visit, k);
}

}  // namespace mixt::autograd
