// 16-bit floating-point storage types usable on the host and in CUDA kernels. Arithmetic happens in float:
// mixt loads half_t / bfloat16_t, computes in float and rounds once when storing (round to nearest even).
#pragma once

#include <cstdint>
#include <cstring>
#include <iosfwd>
#include <type_traits>

#include "config.hpp"

namespace mixt {
namespace detail {
MIXT_HD inline uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
MIXT_HD inline float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
/// v as a float rounded to odd (toward zero, then the last bit set when inexact). Rounding that float once more
/// to a format at least 2 bits narrower (half's 11, bfloat16's 8 of float's 24) gives the correctly rounded v:
/// double -> float -> half with round to nearest twice is off by one unit for about 1 value in 30,000.
MIXT_HD inline float round_to_odd_float(double v) {
  const float f = float(v);
  if (double(f) == v || v != v) return f;  // exact, or NaN
  uint32_t u = float_bits(f);
  if ((f < 0 ? -double(f) : double(f)) > (v < 0 ? -v : v)) --u;  // rounded away from zero: step back toward it
  return bits_float(u | 1u);
}
/// Every arithmetic type converts to float, but a double (or long double) through round_to_odd_float.
template <class T>
MIXT_HD float narrowing_source(T v) {
  if constexpr (std::is_floating_point_v<T> && sizeof(T) > sizeof(float)) return round_to_odd_float(double(v));
  else return static_cast<float>(v);
}
}  // namespace detail

/// IEEE 754 binary16.
struct half_t {
  uint16_t bits = 0;

  half_t() = default;
  template <class T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
  MIXT_HD half_t(T v) : bits(from_float(detail::narrowing_source(v))) {}
  MIXT_HD operator float() const { return to_float(bits); }
  MIXT_HD static half_t from_bits(uint16_t b) { half_t h; h.bits = b; return h; }

  MIXT_HD static uint16_t from_float(float f) {
    uint32_t x = detail::float_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return uint16_t(sign | (absx > 0x7f800000u ? 0x7e00u : 0x7c00u));  // NaN / inf
    if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to beyond the largest half: inf
    if (absx < 0x38800000u) {  // result is subnormal (or zero): scale into the subnormal grid, round to even
      float scaled = detail::bits_float(absx) * 16777216.0f;  // 2^24: one half-subnormal unit becomes 1.0
      uint32_t q = uint32_t(scaled);
      float rem = scaled - float(q);
      if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
      return uint16_t(sign | q);
    }
    uint32_t mant_odd = (absx >> 13) & 1u;
    absx += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest even
    return uint16_t(sign | (absx >> 13));
  }
  MIXT_HD static float to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {  // zero or subnormal
      float v = float(mant) * 5.9604644775390625e-8f;  // 2^-24
      return detail::bits_float(detail::float_bits(v) | sign);
    }
    if (exp == 31) return detail::bits_float(sign | 0x7f800000u | (mant << 13));
    return detail::bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  }
};

/// bfloat16: the upper 16 bits of an IEEE float32.
struct bfloat16_t {
  uint16_t bits = 0;

  bfloat16_t() = default;
  template <class T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
  MIXT_HD bfloat16_t(T v) : bits(from_float(detail::narrowing_source(v))) {}
  MIXT_HD operator float() const { return detail::bits_float(uint32_t(bits) << 16); }
  MIXT_HD static bfloat16_t from_bits(uint16_t b) { bfloat16_t h; h.bits = b; return h; }

  MIXT_HD static uint16_t from_float(float f) {
    uint32_t x = detail::float_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // keep NaN a NaN
    x += 0x7fffu + ((x >> 16) & 1u);  // round to nearest even
    return uint16_t(x >> 16);
  }
};

/// (Templates over the stream: see Context's.)
template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, half_t h) {
  return os << float(h);
}
template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, bfloat16_t h) {
  return os << float(h);
}

}  // namespace mixt
