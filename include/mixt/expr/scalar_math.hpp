// Element-wise math on scalars, callable on the host and in CUDA kernels. Integer arguments compute in double
// and convert back (saturating), so every function is defined for every dtype.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include "../core/config.hpp"

namespace mixt::math {

/// v converted to T. For an integer T, a value outside its range saturates to the nearest end and NaN gives 0:
/// a plain conversion would be undefined there (-1e10 as int32, -3 as uint8, sqrt(-7) as int32).
template <class T>
MIXT_HD inline T saturate_cast(double v) {
  if constexpr (std::is_integral_v<T>) {
    constexpr T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
    if (v != v) return T(0);
    if (v <= double(lo)) return lo;
    if (v >= double(hi)) return hi;  // double(hi) may round up (int64): >= keeps the cast below in range
    return static_cast<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

/// Where softrelu(x) = log(1 + e^x) equals x to E's precision: e^-x is below half an ulp of x (20 suffices for
/// float, MXNet's threshold for every type; double needs about 34).
template <class E> inline constexpr E softrelu_linear_above = E(sizeof(E) == 8 ? 40 : 20);

#define MIXT_SCALAR_MATH_1(NAME, FLOAT_FN, DOUBLE_FN)                                         \
  MIXT_HD inline float NAME(float x) { return ::FLOAT_FN(x); }                                \
  MIXT_HD inline double NAME(double x) { return ::DOUBLE_FN(x); }                             \
  template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>                         \
  MIXT_HD inline T NAME(T x) { return saturate_cast<T>(::DOUBLE_FN(static_cast<double>(x))); }

MIXT_SCALAR_MATH_1(exp, expf, exp)
MIXT_SCALAR_MATH_1(log, logf, log)
MIXT_SCALAR_MATH_1(log1p, log1pf, log1p)
MIXT_SCALAR_MATH_1(expm1, expm1f, expm1)
MIXT_SCALAR_MATH_1(sqrt, sqrtf, sqrt)
MIXT_SCALAR_MATH_1(sin, sinf, sin)
MIXT_SCALAR_MATH_1(cos, cosf, cos)
MIXT_SCALAR_MATH_1(tanh, tanhf, tanh)
MIXT_SCALAR_MATH_1(erf, erff, erf)
MIXT_SCALAR_MATH_1(floor, floorf, floor)
MIXT_SCALAR_MATH_1(ceil, ceilf, ceil)
MIXT_SCALAR_MATH_1(round, roundf, round)
#undef MIXT_SCALAR_MATH_1

MIXT_HD inline float pow(float a, float b) { return ::powf(a, b); }
MIXT_HD inline double pow(double a, double b) { return ::pow(a, b); }
/// Integer powers are exact and wrap as integer `*` does (NumPy's and PyTorch's; through double they saturated, so
/// pow(x, 2) and x * x disagreed). A negative exponent gives 1 / a^-b truncated: 1 for a = 1, +-1 for a = -1, else
/// 0 (NumPy raises; 0 for a = 0 as integer division by 0 gives 0 here).
template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
MIXT_HD inline T pow(T a, T b) {
  if constexpr (std::is_signed_v<T>) {
    if (b < 0) return a == T(1) ? T(1) : a == T(-1) ? ((b & 1) ? a : T(1)) : T(0);
  }
  using U = std::make_unsigned_t<decltype(a * a)>;  // at least unsigned int: modular, never undefined
  U base = U(a), r = 1;
  for (U e = U(b); e; e >>= 1) {
    if (e & 1u) r *= base;
    base *= base;
  }
  return T(r);
}

}  // namespace mixt::math
