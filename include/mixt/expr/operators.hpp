// The expression vocabulary: arithmetic and comparison operators, and the element-wise functions, for any mix of
// NDArrays, expressions and scalars (at least one operand an array or expression). Each builds a node; nothing
// runs until an evaluation point. Found by argument-dependent lookup and as mixt::nd::NAME.
#pragma once

#include <type_traits>

#include "functors.hpp"
#include "nodes.hpp"

namespace mixt::expr {

template <class T> using bare_t = std::remove_cvref_t<T>;
template <class T> concept ArrayOperand = ExprNode<T> || std::same_as<bare_t<T>, NDArray>;
template <class T> concept ScalarOperand = std::is_arithmetic_v<bare_t<T>>;
template <class T> concept Operand = ArrayOperand<T> || ScalarOperand<T>;

/// The node an operand becomes: NDArray -> ArrayLeaf, scalar -> ScalarLeaf, a materializable node -> the
/// ArrayLeaf of its value (evaluated here, as mshadow does for a dot inside an element-wise expression).
template <Operand T>
auto as_node(const T& x) {
  if constexpr (std::same_as<bare_t<T>, NDArray>) return ArrayLeaf{{}, x};
  else if constexpr (ScalarOperand<T>) return ScalarLeaf{{}, static_cast<double>(x)};
  else if constexpr (Materializable<T>) return ArrayLeaf{{}, x.materialize()};
  else return x;
}
template <class T> using node_t = decltype(as_node(std::declval<const T&>()));

template <class F, class A>
auto make_unary(const A& a) { return Unary<F, node_t<A>>{{}, as_node(a)}; }
template <class F, class A, class B>
auto make_binary(const A& a, const B& b) { return Binary<F, node_t<A>, node_t<B>>{{}, as_node(a), as_node(b)}; }
template <class F, class A, class B, class C>
auto make_ternary(const A& a, const B& b, const C& c) {
  return Ternary<F, node_t<A>, node_t<B>, node_t<C>>{{}, as_node(a), as_node(b), as_node(c)};
}

#define MIXT_BINARY_OPERATOR(SYMBOL, FUNCTOR)                                              \
  template <Operand A, Operand B>                                                          \
    requires(ArrayOperand<A> || ArrayOperand<B>)                                           \
  auto operator SYMBOL(const A& a, const B& b) { return make_binary<fn::FUNCTOR>(a, b); }

MIXT_BINARY_OPERATOR(+, plus)
MIXT_BINARY_OPERATOR(-, minus)
MIXT_BINARY_OPERATOR(*, mul)
MIXT_BINARY_OPERATOR(/, div)
MIXT_BINARY_OPERATOR(==, equal)
MIXT_BINARY_OPERATOR(!=, not_equal)
MIXT_BINARY_OPERATOR(<, lesser)
MIXT_BINARY_OPERATOR(<=, lesser_equal)
MIXT_BINARY_OPERATOR(>, greater)
MIXT_BINARY_OPERATOR(>=, greater_equal)
#undef MIXT_BINARY_OPERATOR

template <ArrayOperand A>
auto operator-(const A& a) { return make_unary<fn::negative>(a); }

#define MIXT_UNARY_FUNCTION(NAME)                                                         \
  template <ArrayOperand A>                                                              \
  auto NAME(const A& a) { return make_unary<fn::NAME>(a); }

MIXT_UNARY_FUNCTION(negative)
MIXT_UNARY_FUNCTION(exp)
MIXT_UNARY_FUNCTION(log)
MIXT_UNARY_FUNCTION(log1p)
MIXT_UNARY_FUNCTION(expm1)
MIXT_UNARY_FUNCTION(sqrt)
MIXT_UNARY_FUNCTION(rsqrt)
MIXT_UNARY_FUNCTION(square)
MIXT_UNARY_FUNCTION(abs)
MIXT_UNARY_FUNCTION(sign)
MIXT_UNARY_FUNCTION(sin)
MIXT_UNARY_FUNCTION(cos)
MIXT_UNARY_FUNCTION(tanh)
MIXT_UNARY_FUNCTION(sigmoid)
MIXT_UNARY_FUNCTION(relu)
MIXT_UNARY_FUNCTION(softrelu)
MIXT_UNARY_FUNCTION(erf)
MIXT_UNARY_FUNCTION(floor)
MIXT_UNARY_FUNCTION(ceil)
MIXT_UNARY_FUNCTION(round)
#undef MIXT_UNARY_FUNCTION

#define MIXT_BINARY_FUNCTION(NAME, FUNCTOR)                                               \
  template <Operand A, Operand B>                                                          \
    requires(ArrayOperand<A> || ArrayOperand<B>)                                           \
  auto NAME(const A& a, const B& b) { return make_binary<fn::FUNCTOR>(a, b); }

MIXT_BINARY_FUNCTION(pow, power)
MIXT_BINARY_FUNCTION(power, power)
MIXT_BINARY_FUNCTION(maximum, maximum)
MIXT_BINARY_FUNCTION(minimum, minimum)
#undef MIXT_BINARY_FUNCTION

/// where(cond, a, b): a where cond is non-zero, else b (all three broadcast together).
template <Operand C, Operand A, Operand B>
  requires(ArrayOperand<C> || ArrayOperand<A> || ArrayOperand<B>)
auto where(const C& cond, const A& a, const B& b) { return make_ternary<fn::where>(cond, a, b); }

/// clip(x, a_min, a_max).
template <ArrayOperand A>
auto clip(const A& x, double a_min, double a_max) { return make_ternary<fn::clip>(x, a_min, a_max); }

}  // namespace mixt::expr

namespace mixt {
// Found by argument-dependent lookup for NDArray operands, and by mixt::NAME.
using expr::operator+; using expr::operator-; using expr::operator*; using expr::operator/;
using expr::operator==; using expr::operator!=; using expr::operator<; using expr::operator<=;
using expr::operator>; using expr::operator>=;
using expr::negative; using expr::exp; using expr::log; using expr::log1p; using expr::expm1; using expr::sqrt;
using expr::rsqrt; using expr::square; using expr::abs; using expr::sign; using expr::sin; using expr::cos;
using expr::tanh; using expr::sigmoid; using expr::relu; using expr::softrelu; using expr::erf; using expr::floor;
using expr::ceil; using expr::round; using expr::pow; using expr::power; using expr::maximum; using expr::minimum;
using expr::where; using expr::clip;

namespace nd {
using expr::negative; using expr::exp; using expr::log; using expr::log1p; using expr::expm1; using expr::sqrt;
using expr::rsqrt; using expr::square; using expr::abs; using expr::sign; using expr::sin; using expr::cos;
using expr::tanh; using expr::sigmoid; using expr::relu; using expr::softrelu; using expr::erf; using expr::floor;
using expr::ceil; using expr::round; using expr::pow; using expr::power; using expr::maximum; using expr::minimum;
using expr::where; using expr::clip;
}  // namespace nd
}  // namespace mixt
