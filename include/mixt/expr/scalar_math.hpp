// Element-wise math on scalars, callable on the host and in CUDA kernels. Integer arguments compute in double
// and convert back, so every function is defined for every dtype.
#pragma once

#include <cmath>
#include <type_traits>

#include "../core/config.hpp"

namespace mixt::math {

#define MIXT_SCALAR_MATH_1(NAME, FLOAT_FN, DOUBLE_FN)                                         \
  MIXT_HD inline float NAME(float x) { return ::FLOAT_FN(x); }                                \
  MIXT_HD inline double NAME(double x) { return ::DOUBLE_FN(x); }                             \
  template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>                         \
  MIXT_HD inline T NAME(T x) { return static_cast<T>(::DOUBLE_FN(static_cast<double>(x))); }

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
template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
MIXT_HD inline T pow(T a, T b) { return static_cast<T>(::pow(double(a), double(b))); }

}  // namespace mixt::math
