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

}  // namespace mixt::expr

namespace mixt {
// Operators and functions live in namespace mixt: argument-dependent lookup finds them for NDArrays and, through
// the ExprTag base, for every expression node.
#define MIXT_BINARY_OPERATOR(SYMBOL, FUNCTOR)                                              \
  template <expr::Operand A, expr::Operand B>                                                          \
    requires(expr::ArrayOperand<A> || expr::ArrayOperand<B>)                                           \
  auto operator SYMBOL(const A& a, const B& b) { return expr::make_binary<fn::FUNCTOR>(a, b); }

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

// An array combined with what mixt cannot combine it with (a std::string, a std::vector, a half): one readable
// error, instead of a page listing every operator overload the compiler tried. The declared return type (not
// auto) keeps the body uninstantiated where code only asks whether the operator exists.
template <class T> inline constexpr bool unsupported_operand = false;
struct RejectedOperation {};
#define MIXT_REJECTED_OPERATOR(SYMBOL)                                                                        \
  template <class A, class B>                                                                                 \
    requires((expr::ArrayOperand<A> || expr::ArrayOperand<B>) && !(expr::Operand<A> && expr::Operand<B>))     \
  RejectedOperation operator SYMBOL(const A&, const B&) {                                                     \
    static_assert(unsupported_operand<A>, "mixt: an NDArray or expression combines only with NDArrays, "     \
                  "expressions and arithmetic scalars (int, float, double)");                                 \
    return {};                                                                                                \
  }
MIXT_REJECTED_OPERATOR(+)
MIXT_REJECTED_OPERATOR(-)
MIXT_REJECTED_OPERATOR(*)
MIXT_REJECTED_OPERATOR(/)
MIXT_REJECTED_OPERATOR(==)
MIXT_REJECTED_OPERATOR(!=)
MIXT_REJECTED_OPERATOR(<)
MIXT_REJECTED_OPERATOR(<=)
MIXT_REJECTED_OPERATOR(>)
MIXT_REJECTED_OPERATOR(>=)
#undef MIXT_REJECTED_OPERATOR

template <expr::ArrayOperand A>
auto operator-(const A& a) { return expr::make_unary<fn::negative>(a); }

#define MIXT_UNARY_FUNCTION(NAME)                                                         \
  template <expr::ArrayOperand A>                                                              \
  auto NAME(const A& a) { return expr::make_unary<fn::NAME>(a); }

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
  template <expr::Operand A, expr::Operand B>                                                          \
    requires(expr::ArrayOperand<A> || expr::ArrayOperand<B>)                                           \
  auto NAME(const A& a, const B& b) { return expr::make_binary<fn::FUNCTOR>(a, b); }

MIXT_BINARY_FUNCTION(pow, power)
MIXT_BINARY_FUNCTION(power, power)
MIXT_BINARY_FUNCTION(maximum, maximum)
MIXT_BINARY_FUNCTION(minimum, minimum)
#undef MIXT_BINARY_FUNCTION

/// where(cond, a, b): a where cond is non-zero, else b (all three broadcast together).
template <expr::Operand C, expr::Operand A, expr::Operand B>
  requires(expr::ArrayOperand<C> || expr::ArrayOperand<A> || expr::ArrayOperand<B>)
auto where(const C& cond, const A& a, const B& b) { return expr::make_ternary<fn::where>(cond, a, b); }

/// clip(x, a_min, a_max).
template <expr::ArrayOperand A>
auto clip(const A& x, double a_min, double a_max) { return expr::make_ternary<fn::clip>(x, a_min, a_max); }


namespace nd {
using mixt::negative; using mixt::exp; using mixt::log; using mixt::log1p; using mixt::expm1; using mixt::sqrt;
using mixt::rsqrt; using mixt::square; using mixt::abs; using mixt::sign; using mixt::sin; using mixt::cos;
using mixt::tanh; using mixt::sigmoid; using mixt::relu; using mixt::softrelu; using mixt::erf; using mixt::floor;
using mixt::ceil; using mixt::round; using mixt::pow; using mixt::power; using mixt::maximum; using mixt::minimum;
using mixt::where; using mixt::clip;
}  // namespace nd
}  // namespace mixt
