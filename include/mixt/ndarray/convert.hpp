// Element conversion between the 8 dtypes through double: one load per source dtype and one store per destination
// dtype (8 + 8 code paths instead of 64 source x destination kernels, which doubled the compile time of a program
// that calls astype). A value is read as its compute type (float for float16/bfloat16), widened to double, and
// stored: floating -> integer truncates toward zero, saturates outside the destination's range and gives 0 for NaN
// (as CUDA's conversions do; in C++ these are undefined, and x86 gives INT_MIN); double -> float16 / bfloat16
// rounds once (half_t's constructor from double). Integer -> integer goes through int64 instead, exactly, and
// keeps the low bits (int32 300 is uint8 44), as NumPy's, MXNet's and PyTorch's astype do.
#pragma once

#include <algorithm>
#include <limits>
#include <type_traits>
#include <utility>

#include "../core/dtype.hpp"
#include "../expr/scalar_math.hpp"

namespace mixt::detail {

MIXT_HD inline double load_as_double(DType t, const void* p, int64_t i) {
  switch (t) {
    case DType::float32: return static_cast<const float*>(p)[i];
    case DType::float64: return static_cast<const double*>(p)[i];
    case DType::float16: return float(static_cast<const half_t*>(p)[i]);
    case DType::bfloat16: return float(static_cast<const bfloat16_t*>(p)[i]);
    case DType::uint8: return static_cast<const uint8_t*>(p)[i];
    case DType::int8: return static_cast<const int8_t*>(p)[i];
    case DType::int32: return static_cast<const int32_t*>(p)[i];
    case DType::int64: return double(static_cast<const int64_t*>(p)[i]);
  }
  return 0;
}

MIXT_HD inline void store_double(DType t, void* p, int64_t i, double v) {
  switch (t) {
    case DType::float32: static_cast<float*>(p)[i] = float(v); return;
    case DType::float64: static_cast<double*>(p)[i] = v; return;
    case DType::float16: static_cast<half_t*>(p)[i] = half_t(v); return;
    case DType::bfloat16: static_cast<bfloat16_t*>(p)[i] = bfloat16_t(v); return;
    case DType::uint8: static_cast<uint8_t*>(p)[i] = math::saturate_cast<uint8_t>(v); return;
    case DType::int8: static_cast<int8_t*>(p)[i] = math::saturate_cast<int8_t>(v); return;
    case DType::int32: static_cast<int32_t*>(p)[i] = math::saturate_cast<int32_t>(v); return;
    case DType::int64: static_cast<int64_t*>(p)[i] = math::saturate_cast<int64_t>(v); return;
  }
}

MIXT_HD inline bool is_integer(DType t) {
  return t == DType::uint8 || t == DType::int8 || t == DType::int32 || t == DType::int64;
}

/// Integer dtypes only: the value, exactly.
MIXT_HD inline int64_t load_as_int64(DType t, const void* p, int64_t i) {
  switch (t) {
    case DType::uint8: return static_cast<const uint8_t*>(p)[i];
    case DType::int8: return static_cast<const int8_t*>(p)[i];
    case DType::int32: return static_cast<const int32_t*>(p)[i];
    default: return static_cast<const int64_t*>(p)[i];
  }
}

/// Integer dtypes only: the low bits of v (a modular conversion, defined since C++20).
MIXT_HD inline void store_int64(DType t, void* p, int64_t i, int64_t v) {
  switch (t) {
    case DType::uint8: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v); return;
    case DType::int8: static_cast<int8_t*>(p)[i] = static_cast<int8_t>(v); return;
    case DType::int32: static_cast<int32_t*>(p)[i] = static_cast<int32_t>(v); return;
    default: static_cast<int64_t*>(p)[i] = v; return;
  }
}

/// CPU: elements [begin, begin + n) of p, as doubles, into buf; the dtype switch sits outside the loop so that
/// the loop vectorizes.
inline void load_chunk(DType t, const void* p, int64_t begin, int64_t n, double* buf) {
  dtype_switch(t, [&](auto tag) {
    using S = decltype(tag);
    const S* s = static_cast<const S*>(p) + begin;
    for (int64_t j = 0; j < n; ++j) buf[j] = static_cast<double>(static_cast<compute_type_t<S>>(s[j]));
  });
}

inline void store_chunk(DType t, void* p, int64_t begin, int64_t n, const double* buf) {
  dtype_switch(t, [&](auto tag) {
    using D = decltype(tag);
    D* d = static_cast<D*>(p) + begin;
    if constexpr (std::is_integral_v<D> && sizeof(D) <= 4) {
      // math::saturate_cast as selects the compiler vectorizes (its branches kept the loop scalar, 2x slower):
      // these ends are exact doubles.
      constexpr double lo = std::numeric_limits<D>::lowest(), hi = std::numeric_limits<D>::max();
      const int64_t count = n;  // copies: stores of a char type (uint8, int8) could alias the captured n and buf
      const double* const src = buf;
      for (int64_t j = 0; j < count; ++j) {
        const double x = src[j];
        const double v = x < lo ? lo : (x > hi ? hi : x);
        d[j] = static_cast<D>(x == x ? v : 0.0);  // every select on doubles: one vector width
      }
    } else if constexpr (std::is_integral_v<D>) {
      for (int64_t j = 0; j < n; ++j) d[j] = math::saturate_cast<D>(buf[j]);
    } else {
      for (int64_t j = 0; j < n; ++j) d[j] = static_cast<D>(buf[j]);  // float16 / bfloat16: rounded once
    }
  });
}

/// v as a D, by the rule of astype and full: from a floating value into an integer dtype, a value outside its
/// range saturates and NaN gives 0 (a plain conversion is undefined there); from an integer, the low bits.
template <class D, class T>
D convert_value(T v) {
  if constexpr (std::is_integral_v<D> && std::is_integral_v<T>) {
    return static_cast<D>(v);
  } else if constexpr (std::is_integral_v<D>) {
    return math::saturate_cast<D>(static_cast<double>(v));
  } else if constexpr (std::is_same_v<T, double> || std::is_same_v<T, long double>) {
    return static_cast<D>(static_cast<double>(v));  // into float16 / bfloat16: rounded once, not through float
  } else {
    return static_cast<D>(static_cast<compute_type_t<D>>(v));
  }
}

}  // namespace mixt::detail
