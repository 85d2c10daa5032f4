// Vectorized math on packets (cpu/packet.hpp). exp, log, tanh and sigmoid are computed lane-parallel with
// range reduction and polynomials; the rarer functions apply the scalar function lane by lane. Float results with
// normal inputs and outputs stay within 1.5 ulp of the exact value for exp, 2.9 for log (2.85 at worst over
// [0.5, 2), searched exhaustively), 2.3 for tanh and 2.7 for sigmoid, with or without FMA (test_expr.cpp sweeps
// each against double precision). They may differ in the last bits from the scalar tail, which calls libm.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "../scalar_math.hpp"
#include "packet.hpp"

namespace mixt::pk {

template <class V> using mask_t = decltype(V{} < V{});
template <class V> concept Vector = is_vector_v<V>;

template <Vector V> MIXT_INLINE V from_mask(mask_t<V> m) { return __builtin_convertvector(-m, V); }
template <Vector V> MIXT_INLINE V select(mask_t<V> m, V a, V b) { return m ? a : b; }
template <Vector V> MIXT_INLINE V lt(V a, V b) { return from_mask<V>(a < b); }
template <Vector V> MIXT_INLINE V le(V a, V b) { return from_mask<V>(a <= b); }
template <Vector V> MIXT_INLINE V gt(V a, V b) { return from_mask<V>(a > b); }
template <Vector V> MIXT_INLINE V ge(V a, V b) { return from_mask<V>(a >= b); }
template <Vector V> MIXT_INLINE V eq(V a, V b) { return from_mask<V>(a == b); }
template <Vector V> MIXT_INLINE V ne(V a, V b) { return from_mask<V>(a != b); }
template <Vector V> MIXT_INLINE V max(V a, V b) { return ((a > b) | (a != a)) ? a : b; }  // NaN propagates
template <Vector V> MIXT_INLINE V min(V a, V b) { return ((a < b) | (a != a)) ? a : b; }
/// max and min that turn a NaN in `a` into b: for clamping the argument of exp and sigmoid, which put NaN
/// back at the end (one compare per lane fewer).
template <Vector V> MIXT_INLINE V clamp_low(V a, V b) { return a > b ? a : b; }
template <Vector V> MIXT_INLINE V clamp_high(V a, V b) { return a < b ? a : b; }
/// Each lane's sign bit set, in the packet's integer type (a constant: -0.0 would fold to +0.0 under
/// -ffast-math).
template <Vector V>
MIXT_INLINE mask_t<V> sign_bits() {
  using I = mask_t<V>;
  return I{} + std::numeric_limits<std::remove_cvref_t<decltype(I{}[0])>>::min();
}
/// |a| and -|a| by the sign bit: one instruction each, and abs(-0.0) is +0.0 as std::abs gives.
template <Vector V> MIXT_INLINE V abs(V a) { return (V)((mask_t<V>)a & ~sign_bits<V>()); }
template <Vector V> MIXT_INLINE V negative_abs(V a) { return (V)((mask_t<V>)a | sign_bits<V>()); }
template <Vector V> MIXT_INLINE V where(V c, V a, V b) { return c != V{} ? a : b; }

/// Applies a scalar function lane by lane.
template <Vector V, class F>
MIXT_INLINE V per_lane(V x, F f) {
  V r{};  // zeroed: g++ -O1 cannot see that the loop writes every lane
  for (int i = 0; i < int(sizeof(V) / sizeof(x[0])); ++i) r[i] = f(x[i]);
  return r;
}
template <Vector V, class F>
MIXT_INLINE V per_lane(V x, V y, F f) {
  V r{};  // zeroed, as above
  for (int i = 0; i < int(sizeof(V) / sizeof(x[0])); ++i) r[i] = f(x[i], y[i]);
  return r;
}

/// c[0] + c[1] x + ... + c[N-1] x^(N-1), by Horner's rule, unrolled at compile time.
template <class V, class E, size_t N, size_t... K>
MIXT_INLINE V poly_impl(V x, const E (&c)[N], std::index_sequence<K...>) {
  V p = V{} + c[N - 1];
  ((p = c[N - 2 - K] + x * p), ...);
  return p;
}
template <class V, class E, size_t N>
MIXT_INLINE V poly(V x, const E (&c)[N]) {
  return poly_impl(x, c, std::make_index_sequence<N - 1>{});
}

namespace detail {
template <class E> struct float_consts;
template <> struct float_consts<float> {
  static constexpr float max_exp_arg = 88.72283f, min_exp_arg = -104.0f;  // exp overflows / is 0 beyond
  static constexpr float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187e-06f;
  static constexpr int mant_bits = 23, bias = 127;
  static constexpr int round_shift = 256;  // > -min_exp_arg / ln2
  // e^r on |r| <= ln2/2: the degree-6 polynomial of least maximum relative error (1.9e-9; Remez exchange,
  // tools/exp_minimax.py), one term shorter than the Taylor series of the same accuracy.
  static constexpr float exp_minimax[] = {1.0f, 1.0f, 0.49999991059303284f, 0.16666419804096222f,
                                          0.04166822507977486f, 0.008374815806746483f, 0.0013836845755577087f};
  static constexpr float log_series[] = {1.f, 1.f / 3, 1.f / 5, 1.f / 7, 1.f / 9};
};
template <> struct float_consts<double> {
  static constexpr double max_exp_arg = 709.782712893384, min_exp_arg = -745.2;
  static constexpr double ln2_hi = 0.6931471803691238, ln2_lo = 1.9082149292705877e-10;
  static constexpr int mant_bits = 52, bias = 1023;
  static constexpr int round_shift = 2048;  // > -min_exp_arg / ln2
  static constexpr double exp_taylor[] = {1., 1., 1. / 2, 1. / 6, 1. / 24, 1. / 120, 1. / 720, 1. / 5040,
                                          1. / 40320, 1. / 362880, 1. / 3628800, 1. / 39916800, 1. / 479001600};
  static constexpr double log_series[] = {1., 1. / 3, 1. / 5, 1. / 7, 1. / 9, 1. / 11, 1. / 13, 1. / 15, 1. / 17,
                                          1. / 19, 1. / 21};
};
}  // namespace detail

/// e^x for x already clamped to [min_exp_arg, max_exp_arg]: x = n ln2 + r with |r| <= ln2/2; e^r by a
/// polynomial (float: minimax; double: Taylor series); 2^n built in the exponent bits.
template <Vector V>
MIXT_INLINE V exp_in_range(V x) {
  using E = element_t<V>;
  using C = detail::float_consts<E>;
  using I = mask_t<V>;
  // n = round(x / ln2): shifted positive so that the truncating conversion (lane-parallel, and safe under
  // -ffast-math, unlike adding and subtracting a rounding constant) rounds half up.
  I ni = __builtin_convertvector(x * E(1.4426950408889634) + (E(0.5) + C::round_shift), I) - C::round_shift;
  V n = __builtin_convertvector(ni, V);
  V r = x - n * C::ln2_hi - n * C::ln2_lo;
  V p;
  if constexpr (sizeof(E) == 4) {
    // Estrin's scheme: independent pairs, so the chain of dependent FMAs is 4 long instead of Horner's 6, and
    // the last step stays one FMA, which keeps Horner's accuracy. Sigmoid over values in L1: about 4% faster.
    constexpr auto& c = C::exp_minimax;
    V r2 = r * r;
    V q = (c[1] + r * c[2]) + r2 * ((c[3] + r * c[4]) + r2 * (c[5] + r * c[6]));
    p = c[0] + r * q;  // one rounding at the end, as Horner's rule has: within 1.5 ulp
  } else {
    p = poly(r, C::exp_taylor);
  }
  // 2^n as 2^(n/2) * 2^(n - n/2): n may be one past the largest exponent near the overflow threshold.
  I n1 = ni >> 1, n2 = ni - n1;
  I bits1 = (n1 + C::bias) << C::mant_bits, bits2 = (n2 + C::bias) << C::mant_bits;
  return p * (V)bits1 * (V)bits2;  // vector casts reinterpret the bits
}

/// e^x, with e^x = inf above max_exp_arg, 0 below min_exp_arg and NaN kept.
template <Vector V>
MIXT_INLINE V exp(V x) {
  using E = element_t<V>;
  using C = detail::float_consts<E>;
  V y = exp_in_range(clamp_low(clamp_high(x, V{} + C::max_exp_arg), V{} + C::min_exp_arg));
  y = x > V{} + C::max_exp_arg ? V{} + std::numeric_limits<E>::infinity() : y;
  y = x < V{} + C::min_exp_arg ? V{} : y;
  return x != x ? x : y;  // NaN stays NaN
}

/// log x: x = m 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m-1)/(m+1), by its odd series.
template <Vector V>
MIXT_INLINE V log(V x) {
  using E = element_t<V>;
  using C = detail::float_consts<E>;
  using I = mask_t<V>;
  constexpr E min_normal = std::numeric_limits<E>::min();
  // Subnormals: scale into the normal range first.
  auto tiny = x < V{} + min_normal;
  V xs = tiny ? x * E(1ull << 54) : x;
  V e_adj = tiny ? V{} + E(-54) : V{};
  I bits = (I)xs;
  I e = ((bits >> C::mant_bits) & ((1 << (sizeof(E) * 8 - 1 - C::mant_bits)) - 1)) - C::bias;
  I mbits = (bits & (((I{} + 1) << C::mant_bits) - 1)) | (I{} + C::bias) << C::mant_bits;  // m in [1, 2)
  V m = (V)mbits;
  auto big = m > V{} + E(1.4142135623730951);
  m = big ? m * E(0.5) : m;
  V ef = __builtin_convertvector(e, V) + e_adj + (big ? V{} + E(1) : V{});
  V s = (m - E(1)) / (m + E(1));
  V s2 = s * s;
  V p = poly(s2, C::log_series);
  V y = ef * E(0.6931471805599453) + E(2) * s * p;
  y = x == V{} ? V{} - std::numeric_limits<E>::infinity() : y;
  y = x < V{} ? V{} + std::numeric_limits<E>::quiet_NaN() : y;
  y = x == V{} + std::numeric_limits<E>::infinity() ? x : y;
  return x != x ? x : y;
}

/// 1 / (1 + e^-x), accurate in relative terms everywhere: with z = e^-|x| (never overflows, so exp's special
/// cases are not needed), 1 / (1 + z) for x >= 0 and z / (1 + z) below.
template <Vector V>
MIXT_INLINE V sigmoid(V x) {
  using E = element_t<V>;
  V z = exp_in_range(clamp_low(negative_abs(x), V{} + detail::float_consts<E>::min_exp_arg));
  V s = (x < V{} ? z : V{} + E(1)) / (E(1) + z);
  return x != x ? x : s;  // NaN stays NaN (the clamp above made it a number)
}

/// tanh x (float): a Taylor polynomial for |x| < 0.5 (where 1 - 2/(e^2x + 1) would cancel), that formula beyond.
template <Vector V>
MIXT_INLINE V tanh(V x) {
  using E = element_t<V>;
  if constexpr (sizeof(E) == 8) {  // the series below is too short for double precision
    return per_lane(x, [](E v) { return std::tanh(v); });
  }
  V a = abs(x);
  V big = E(1) - E(2) / (exp(a * E(2)) + E(1));
  V x2 = x * x;
  // Coefficients of the series of tanh x / x in x^2: 1, -1/3, 2/15, -17/315, 62/2835, -1382/155925,
  // 21844/6081075, -929569/638512875, 6404582/10854718875.
  static constexpr E c[] = {E(1), E(-1.0 / 3), E(2.0 / 15), E(-17.0 / 315), E(62.0 / 2835), E(-1382.0 / 155925),
                            E(21844.0 / 6081075), E(-929569.0 / 638512875), E(6404582.0 / 10854718875.0)};
  V small = x * poly(x2, c);
  V y = a < V{} + E(0.5) ? small : (x < V{} ? -big : big);
  return x != x ? x : y;
}

template <Vector V> MIXT_INLINE V sqrt(V x) { return per_lane(x, [](auto v) { return std::sqrt(v); }); }
template <Vector V> MIXT_INLINE V rsqrt(V x) { return element_t<V>(1) / sqrt(x); }
template <Vector V> MIXT_INLINE V log1p(V x) { return per_lane(x, [](auto v) { return std::log1p(v); }); }
template <Vector V> MIXT_INLINE V expm1(V x) { return per_lane(x, [](auto v) { return std::expm1(v); }); }
template <Vector V> MIXT_INLINE V sin(V x) { return per_lane(x, [](auto v) { return std::sin(v); }); }
template <Vector V> MIXT_INLINE V cos(V x) { return per_lane(x, [](auto v) { return std::cos(v); }); }
template <Vector V> MIXT_INLINE V erf(V x) { return per_lane(x, [](auto v) { return std::erf(v); }); }
template <Vector V> MIXT_INLINE V floor(V x) { return per_lane(x, [](auto v) { return std::floor(v); }); }
template <Vector V> MIXT_INLINE V ceil(V x) { return per_lane(x, [](auto v) { return std::ceil(v); }); }
template <Vector V> MIXT_INLINE V round(V x) { return per_lane(x, [](auto v) { return std::round(v); }); }
template <Vector V> MIXT_INLINE V pow(V x, V y) {
  return per_lane(x, y, [](auto a, auto b) { return math::pow(a, b); });
}
/// log(1 + e^x), as x above softrelu_linear_above (scalar_math.hpp).
template <Vector V> MIXT_INLINE V softrelu(V x) {
  using E = element_t<V>;
  return where(gt(x, V{} + math::softrelu_linear_above<E>), x, log1p(exp(x)));
}

}  // namespace mixt::pk
