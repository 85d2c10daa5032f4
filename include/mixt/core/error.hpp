// mixt::Error: every failure the library reports, synchronous or asynchronous (DESIGN contracts 3 and 9).
#pragma once

#include <concepts>
#include <source_location>
#include <type_traits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace mixt {

namespace detail {
/// Whether a source location is known (a default-constructed one has an empty file name).
inline bool has_location(const std::source_location& w) { return w.file_name() && w.file_name()[0] != '\0'; }
}  // namespace detail

/// An error that names the operator (or block) it came from, what went wrong and, when known, the place in the
/// user's code that asked for the operation.
class Error : public std::runtime_error {
 public:
  Error(std::string op, std::string message, std::source_location where = {})
      : std::runtime_error(format(op, message, where)), op_(std::move(op)), message_(std::move(message)),
        where_(where) {}

  /// The operator or block that failed, e.g. "FullyConnected" or "broadcast".
  const std::string& op() const noexcept { return op_; }
  /// The message without the operator name and location.
  const std::string& message() const noexcept { return message_; }
  /// Where the user's call was made (file_name() is empty when unknown).
  const std::source_location& where() const noexcept { return where_; }

 private:
  [[gnu::cold, gnu::noinline]] static std::string format(const std::string& op, const std::string& message,
                                                      const std::source_location& where) {
    std::string s = "mixt::Error in ";
    s += op;
    s += ": ";
    s += message;
    if (detail::has_location(where)) {
      s += " (called at ";
      s += where.file_name();
      s += ':';
      s += std::to_string(where.line());
      s += ')';
    }
    return s;
  }
  std::string op_, message_;
  std::source_location where_;
};

namespace detail {

// Error messages are built from pieces (strings, numbers, anything with to_string()) by one out-of-line call per
// piece: each distinct message then costs its fail() a few calls, not its own string-building code.
[[gnu::cold, gnu::noinline]] inline void append_text(std::string& s, std::string_view t) { s.append(t); }
[[gnu::cold, gnu::noinline]] inline void append_signed(std::string& s, long long v) { s += std::to_string(v); }
[[gnu::cold, gnu::noinline]] inline void append_unsigned(std::string& s, unsigned long long v) {
  s += std::to_string(v);
}
[[gnu::cold, gnu::noinline]] inline void append_floating(std::string& s, double v) { s += std::to_string(v); }

inline void append_piece(std::string& s, const char* p) { append_text(s, p ? p : ""); }
inline void append_piece(std::string& s, std::string_view p) { append_text(s, p); }
inline void append_piece(std::string& s, const std::string& p) { append_text(s, p); }
inline void append_piece(std::string& s, char c) { append_text(s, std::string_view(&c, 1)); }
inline void append_piece(std::string& s, bool b) { append_text(s, b ? "true" : "false"); }
template <class T>
  requires std::is_arithmetic_v<T>
void append_piece(std::string& s, T v) {
  if constexpr (std::is_floating_point_v<T>) append_floating(s, double(v));
  else if constexpr (std::is_signed_v<T>) append_signed(s, (long long)v);
  else append_unsigned(s, (unsigned long long)v);
}
template <class T>
  requires requires(const T& t) { { t.to_string() } -> std::convertible_to<std::string>; }
void append_piece(std::string& s, const T& t) {
  append_text(s, t.to_string());
}

[[noreturn, gnu::noinline, gnu::cold]] inline void throw_error(std::string_view op, std::string message,
                                                               const std::source_location& where) {
  throw Error(std::string(op), std::move(message), where);
}

/// Cold and out of line: a failure path must not grow (or slow the compilation of) the kernel that checks it.
template <class... Parts>
[[noreturn, gnu::cold, gnu::noinline]] void fail(std::string_view op, const Parts&... parts) {
  std::string s;
  (append_piece(s, parts), ...);
  throw_error(op, std::move(s), {});
}

template <class... Parts>
[[noreturn, gnu::cold, gnu::noinline]] void fail_at(const std::source_location& where, std::string_view op,
                                                    const Parts&... parts) {
  std::string s;
  (append_piece(s, parts), ...);
  throw_error(op, std::move(s), where);
}

}  // namespace detail
}  // namespace mixt
