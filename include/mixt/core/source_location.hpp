// mixt::source_location: the place in the user's code an operation came from, carried into every mixt::Error.
// It is std::source_location where the standard library provides it. libstdc++ 12 provides it only to compilers
// with __builtin_source_location, so clang 14 on Debian 12 gets this equivalent, built on the __builtin_FILE
// family that both compilers have: as a default argument, current() names the caller's line.
#pragma once

#include <version>

#if defined(__cpp_lib_source_location)
#include <source_location>

namespace mixt {
using source_location = std::source_location;
}  // namespace mixt
#else
#include <cstdint>

namespace mixt {
class source_location {
 public:
  static constexpr source_location current(const char* file = __builtin_FILE(),
                                           const char* function = __builtin_FUNCTION(),
                                           std::uint_least32_t line = __builtin_LINE(),
                                           std::uint_least32_t column = __builtin_COLUMN()) noexcept {
    source_location s;
    s.file_ = file;
    s.function_ = function;
    s.line_ = line;
    s.column_ = column;
    return s;
  }
  constexpr source_location() noexcept = default;
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  constexpr std::uint_least32_t line() const noexcept { return line_; }
  constexpr std::uint_least32_t column() const noexcept { return column_; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  std::uint_least32_t line_ = 0, column_ = 0;
};
}  // namespace mixt
#endif
