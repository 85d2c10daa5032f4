// Element types. The numeric values are MXNet's (mshadow type flags), as written in .params files.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <type_traits>

#include "error.hpp"
#include "half.hpp"

namespace mixt {

enum class DType : int {
  float32 = 0,
  float64 = 1,
  float16 = 2,
  uint8 = 3,
  int32 = 4,
  int8 = 5,
  int64 = 6,
  bfloat16 = 12,
};

inline constexpr DType float32 = DType::float32;
inline constexpr DType float64 = DType::float64;
inline constexpr DType float16 = DType::float16;
inline constexpr DType bfloat16 = DType::bfloat16;
inline constexpr DType uint8 = DType::uint8;
inline constexpr DType int8 = DType::int8;
inline constexpr DType int32 = DType::int32;
inline constexpr DType int64 = DType::int64;

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::float64; };
template <> struct dtype_of<half_t> { static constexpr DType value = DType::float16; };
template <> struct dtype_of<bfloat16_t> { static constexpr DType value = DType::bfloat16; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::uint8; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::int8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::int32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::int64; };
template <class T> inline constexpr DType dtype_of_v = dtype_of<T>::value;

/// The type arithmetic runs in for elements stored as T: float for the 16-bit floats, T otherwise.
template <class T> struct compute_type { using type = T; };
template <> struct compute_type<half_t> { using type = float; };
template <> struct compute_type<bfloat16_t> { using type = float; };
template <class T> using compute_type_t = typename compute_type<T>::type;

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::float16: return "float16";
    case DType::bfloat16: return "bfloat16";
    case DType::uint8: return "uint8";
    case DType::int8: return "int8";
    case DType::int32: return "int32";
    case DType::int64: return "int64";
  }
  return "unknown";
}

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::float32: case DType::int32: return 4;
    case DType::float64: case DType::int64: return 8;
    case DType::float16: case DType::bfloat16: return 2;
    case DType::uint8: case DType::int8: return 1;
  }
  detail::fail("dtype", "unknown dtype flag ", int(t));
}

/// Calls f(W{}) with W an unsigned integer of the dtype's size, for kernels that only move elements.
template <class F>
void word_switch(DType t, F&& f) {
  switch (dtype_size(t)) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    default: return f(uint64_t{});
  }
}

inline bool is_floating(DType t) {
  return t == DType::float32 || t == DType::float64 || t == DType::float16 || t == DType::bfloat16;
}

/// Prints MXNet's name ("float32"). (A template over the stream: see Context's.)
template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, DType t) {
  return os << dtype_name(t);
}

/// Parses MXNet's dtype names ("float32", "float16", ...); an unknown name is an error of `op`.
inline DType dtype_from_name(const std::string& s, const char* op = "dtype") {
  for (DType t : {DType::float32, DType::float64, DType::float16, DType::bfloat16, DType::uint8, DType::int8,
                  DType::int32, DType::int64})
    if (s == dtype_name(t)) return t;
  detail::fail(op, "unknown dtype name '", s, "'");
}

/// Calls f(T{}) with T the C++ type of `t`: MIXT_DTYPE_SWITCH in function form.
template <class F>
decltype(auto) dtype_switch(DType t, F&& f) {
  switch (t) {
    case DType::float32: return f(float{});
    case DType::float64: return f(double{});
    case DType::float16: return f(half_t{});
    case DType::bfloat16: return f(bfloat16_t{});
    case DType::uint8: return f(uint8_t{});
    case DType::int8: return f(int8_t{});
    case DType::int32: return f(int32_t{});
    case DType::int64: return f(int64_t{});
  }
  detail::fail("dtype", "unknown dtype flag ", int(t));
}

}  // namespace mixt
