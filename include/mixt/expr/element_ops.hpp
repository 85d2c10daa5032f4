// The vocabulary op functors are written in: pk::exp, pk::max, pk::lt, ... defined for scalars (host and CUDA)
// and, on the CPU, for SIMD packets (cpu/packet_math.hpp). A functor written once with these runs everywhere.
#pragma once

#include <type_traits>

#include "cpu/packet_math.hpp"
#include "scalar_math.hpp"

namespace mixt::pk {

template <class T> concept Scalar = std::is_arithmetic_v<T>;
/// What a functor computes on one element at a time: anything but a SIMD packet (half_t included).
template <class T> concept ScalarValue = !is_vector_v<T>;

/// Signed integer + - * and negation wrap around (two's complement), as in NumPy and MXNet: they are computed in
/// the unsigned type, where wrapping is defined, instead of the signed one, where overflow is undefined behaviour.
/// Every other type (floats, half_t) computes as written; packets (host only: nvcc rejects vector types in
/// device code) have overloads of their own.
template <class T> struct wrapping { using type = T; };
template <class T>
  requires(std::is_integral_v<T> && std::is_signed_v<T>)
struct wrapping<T> { using type = std::make_unsigned_t<T>; };
template <ScalarValue V> MIXT_HD MIXT_INLINE V add(V a, V b) {
  using W = typename wrapping<V>::type;
  return V(W(a) + W(b));
}
template <ScalarValue V> MIXT_HD MIXT_INLINE V sub(V a, V b) {
  using W = typename wrapping<V>::type;
  return V(W(a) - W(b));
}
template <ScalarValue V> MIXT_HD MIXT_INLINE V mul(V a, V b) {
  using W = typename wrapping<V>::type;
  return V(W(a) * W(b));
}
template <ScalarValue V> MIXT_HD MIXT_INLINE V neg(V a) {
  if constexpr (std::is_integral_v<V> && std::is_signed_v<V>) return sub(V(0), a);
  else return V(-a);  // floats: -0 stays distinct from 0 - 0
}
template <Vector V> MIXT_INLINE V add(V a, V b) { return a + b; }
template <Vector V> MIXT_INLINE V sub(V a, V b) { return a - b; }
template <Vector V> MIXT_INLINE V mul(V a, V b) { return a * b; }
template <Vector V> MIXT_INLINE V neg(V a) { return -a; }

template <Scalar T> MIXT_HD MIXT_INLINE T lt(T a, T b) { return a < b ? T(1) : T(0); }
template <Scalar T> MIXT_HD MIXT_INLINE T le(T a, T b) { return a <= b ? T(1) : T(0); }
template <Scalar T> MIXT_HD MIXT_INLINE T gt(T a, T b) { return a > b ? T(1) : T(0); }
template <Scalar T> MIXT_HD MIXT_INLINE T ge(T a, T b) { return a >= b ? T(1) : T(0); }
template <Scalar T> MIXT_HD MIXT_INLINE T eq(T a, T b) { return a == b ? T(1) : T(0); }
template <Scalar T> MIXT_HD MIXT_INLINE T ne(T a, T b) { return a != b ? T(1) : T(0); }
// max and min propagate NaN from either operand (NumPy's maximum, MXNet's mshadow_op), and so do relu and clip.
template <Scalar T> MIXT_HD MIXT_INLINE T max(T a, T b) { return (a > b || a != a) ? a : b; }
template <Scalar T> MIXT_HD MIXT_INLINE T min(T a, T b) { return (a < b || a != a) ? a : b; }
/// 0 - a at and below 0, so that abs(-0.0) is +0 (as the packet version, which clears the sign bit).
template <Scalar T> MIXT_HD MIXT_INLINE T abs(T a) { return a <= T(0) ? sub(T(0), a) : a; }
template <Scalar T> MIXT_HD MIXT_INLINE T where(T c, T a, T b) { return c != T(0) ? a : b; }

template <Scalar T> MIXT_HD MIXT_INLINE T exp(T x) { return math::exp(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T log(T x) { return math::log(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T log1p(T x) { return math::log1p(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T expm1(T x) { return math::expm1(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T sqrt(T x) { return math::sqrt(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T sin(T x) { return math::sin(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T cos(T x) { return math::cos(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T tanh(T x) { return math::tanh(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T erf(T x) { return math::erf(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T floor(T x) { return math::floor(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T ceil(T x) { return math::ceil(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T round(T x) { return math::round(x); }
template <Scalar T> MIXT_HD MIXT_INLINE T pow(T a, T b) { return math::pow(a, b); }
/// 1 / sqrt(x); integers compute in double (1 / sqrt(int) divided in integers, by 0 at 0).
template <Scalar T> MIXT_HD MIXT_INLINE T rsqrt(T x) {
  if constexpr (std::is_integral_v<T>) return math::saturate_cast<T>(1.0 / ::sqrt(double(x)));
  else return T(1) / math::sqrt(x);
}
/// log(1 + e^x); integers compute in double (e^x saturated to int8 before the log).
template <Scalar T> MIXT_HD MIXT_INLINE T softrelu(T x) {
  if constexpr (std::is_integral_v<T>) return math::saturate_cast<T>(softrelu(double(x)));
  else return x > math::softrelu_linear_above<T> ? x : math::log1p(math::exp(x));
}
/// As the packet version: z = e^-|x| never overflows, so the result keeps its relative accuracy down to the
/// subnormals (1 / (1 + e^-x) would give 0 below about -88 in float).
template <Scalar T> MIXT_HD MIXT_INLINE T sigmoid(T x) {
  if constexpr (std::is_integral_v<T>) {
    return T(1.0 / (1.0 + math::exp(-double(x))));
  } else {
    const T z = math::exp(x < T(0) ? x : -x);
    return (x < T(0) ? z : T(1)) / (T(1) + z);
  }
}

}  // namespace mixt::pk
