// Element-wise op functors (namespace mixt::fn): one struct per function, `apply` written once in the pk:: vocabulary so it runs on
// scalars (CPU and CUDA) and on SIMD packets (CPU). `name` is MXNet's operator name for the function.
#pragma once

#include <type_traits>

#include "element_ops.hpp"

namespace mixt::fn {

template <class V> using elem_t = pk::element_t<V>;

// Each functor has a scalar `apply` (host and device) and a packet `apply` (host only: CUDA has no vector types).
#define MIXT_UNARY_FUNCTOR(STRUCT, NAME, EXPR)                \
  struct STRUCT {                                             \
    static constexpr const char* name = NAME;                 \
    template <pk::ScalarValue V>                              \
    MIXT_HD MIXT_INLINE static V apply(V x) {                 \
      using E = elem_t<V>;                                    \
      (void)sizeof(E);                                        \
      return EXPR;                                            \
    }                                                         \
    template <pk::Vector V>                                   \
    MIXT_INLINE static V apply(V x) {                         \
      using E = elem_t<V>;                                    \
      (void)sizeof(E);                                        \
      return EXPR;                                            \
    }                                                         \
  };

MIXT_UNARY_FUNCTOR(negative, "negative", pk::neg(x))
MIXT_UNARY_FUNCTOR(exp, "exp", pk::exp(x))
MIXT_UNARY_FUNCTOR(log, "log", pk::log(x))
MIXT_UNARY_FUNCTOR(log1p, "log1p", pk::log1p(x))
MIXT_UNARY_FUNCTOR(expm1, "expm1", pk::expm1(x))
MIXT_UNARY_FUNCTOR(sqrt, "sqrt", pk::sqrt(x))
MIXT_UNARY_FUNCTOR(rsqrt, "rsqrt", pk::rsqrt(x))
MIXT_UNARY_FUNCTOR(square, "square", pk::mul(x, x))
MIXT_UNARY_FUNCTOR(abs, "abs", pk::abs(x))
MIXT_UNARY_FUNCTOR(sign, "sign", V(pk::gt(x, V{}) - pk::lt(x, V{})))
MIXT_UNARY_FUNCTOR(sin, "sin", pk::sin(x))
MIXT_UNARY_FUNCTOR(cos, "cos", pk::cos(x))
MIXT_UNARY_FUNCTOR(tanh, "tanh", pk::tanh(x))
MIXT_UNARY_FUNCTOR(sigmoid, "sigmoid", pk::sigmoid(x))
MIXT_UNARY_FUNCTOR(relu, "relu", pk::max(x, V{}))
MIXT_UNARY_FUNCTOR(softrelu, "softrelu", pk::softrelu(x))
MIXT_UNARY_FUNCTOR(erf, "erf", pk::erf(x))
MIXT_UNARY_FUNCTOR(floor, "floor", pk::floor(x))
MIXT_UNARY_FUNCTOR(ceil, "ceil", pk::ceil(x))
MIXT_UNARY_FUNCTOR(round, "round", pk::round(x))
MIXT_UNARY_FUNCTOR(identity, "_copy", x)
#undef MIXT_UNARY_FUNCTOR

#define MIXT_BINARY_FUNCTOR(STRUCT, NAME, EXPR)               \
  struct STRUCT {                                             \
    static constexpr const char* name = NAME;                 \
    template <pk::ScalarValue V>                              \
    MIXT_HD MIXT_INLINE static V apply(V a, V b) {            \
      return EXPR;                                            \
    }                                                         \
    template <pk::Vector V>                                   \
    MIXT_INLINE static V apply(V a, V b) {                    \
      return EXPR;                                            \
    }                                                         \
  };

MIXT_BINARY_FUNCTOR(plus, "elemwise_add", pk::add(a, b))
MIXT_BINARY_FUNCTOR(minus, "elemwise_sub", pk::sub(a, b))
MIXT_BINARY_FUNCTOR(mul, "elemwise_mul", pk::mul(a, b))
MIXT_BINARY_FUNCTOR(power, "_power", pk::pow(a, b))
MIXT_BINARY_FUNCTOR(maximum, "_maximum", pk::max(a, b))
MIXT_BINARY_FUNCTOR(minimum, "_minimum", pk::min(a, b))
MIXT_BINARY_FUNCTOR(equal, "_equal", pk::eq(a, b))
MIXT_BINARY_FUNCTOR(not_equal, "_not_equal", pk::ne(a, b))
MIXT_BINARY_FUNCTOR(lesser, "_lesser", pk::lt(a, b))
MIXT_BINARY_FUNCTOR(lesser_equal, "_lesser_equal", pk::le(a, b))
MIXT_BINARY_FUNCTOR(greater, "_greater", pk::gt(a, b))
MIXT_BINARY_FUNCTOR(greater_equal, "_greater_equal", pk::ge(a, b))
#undef MIXT_BINARY_FUNCTOR

/// a / b. The two integer divisions that trap on x86 do not: by zero gives 0, and the most negative value over
/// -1 wraps to itself (NumPy's result), since its true quotient does not fit.
struct div {
  static constexpr const char* name = "elemwise_div";
  template <pk::ScalarValue V>
  MIXT_HD MIXT_INLINE static V apply(V a, V b) {
    if constexpr (std::is_integral_v<V>) {
      if (b == V(0)) return V(0);
      if constexpr (std::is_signed_v<V>)
        if (b == V(-1)) return V(std::make_unsigned_t<V>(0) - std::make_unsigned_t<V>(a));
      return V(a / b);
    } else {
      return a / b;
    }
  }
  template <pk::Vector V>
  MIXT_INLINE static V apply(V a, V b) { return a / b; }
};

/// where(cond, a, b): a where cond is non-zero, else b.
struct where {
  static constexpr const char* name = "where";
  template <pk::ScalarValue V>
  MIXT_HD MIXT_INLINE static V apply(V c, V a, V b) { return pk::where(c, a, b); }
  template <pk::Vector V>
  MIXT_INLINE static V apply(V c, V a, V b) { return pk::where(c, a, b); }
};

/// clip(x, lo, hi).
struct clip {
  static constexpr const char* name = "clip";
  template <pk::ScalarValue V>
  MIXT_HD MIXT_INLINE static V apply(V x, V lo, V hi) { return pk::min(pk::max(x, lo), hi); }
  template <pk::Vector V>
  MIXT_INLINE static V apply(V x, V lo, V hi) { return pk::min(pk::max(x, lo), hi); }
};

}  // namespace mixt::fn
