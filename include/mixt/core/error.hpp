// mixt::Error: every failure the library reports, synchronous or asynchronous (DESIGN contracts 3 and 9).
#pragma once

#include <concepts>
#include <initializer_list>
#include <source_location>
#include <type_traits>
#include <stdexcept>
#include <string>
#include <utility>

namespace mixt {

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
    std::string s = "mixt::Error in " + op + ": " + message;
    if (where.file_name() && where.file_name()[0] != '\0')
      s += " (called at " + std::string(where.file_name()) + ":" + std::to_string(where.line()) + ")";
    return s;
  }
  std::string op_, message_;
  std::source_location where_;
};

namespace detail {

/// One piece of an error message, turned into text where it is made, so that the error helpers below stay small
/// non-template functions (each distinct message would otherwise instantiate its own formatting code).
struct Piece {
  std::string text;
  Piece(const char* s) : text(s ? s : "") {}
  Piece(const std::string& s) : text(s) {}
  Piece(char c) : text(1, c) {}
  Piece(bool b) : text(b ? "true" : "false") {}
  template <class T>
    requires std::is_arithmetic_v<T>
  Piece(T v) : text(std::to_string(v)) {}
  template <class T>
    requires requires(const T& t) { { t.to_string() } -> std::convertible_to<std::string>; }
  Piece(const T& t) : text(t.to_string()) {}
};

[[gnu::noinline]] inline std::string join(std::initializer_list<Piece> parts) {
  std::string s;
  for (const Piece& p : parts) s += p.text;
  return s;
}

/// Builds a message from pieces: concat("lhs has ", n, " dims").
template <class... Parts>
std::string concat(const Parts&... parts) {
  return join({Piece(parts)...});
}

[[noreturn, gnu::noinline, gnu::cold]] inline void throw_error(const std::string& op, std::string message,
                                                               const std::source_location& where) {
  throw Error(op, std::move(message), where);
}

/// Cold and out of line: a failure path must not grow (or slow the compilation of) the kernel that checks it.
template <class... Parts>
[[noreturn, gnu::cold, gnu::noinline]] void fail(const std::string& op, const Parts&... parts) {
  throw_error(op, join({Piece(parts)...}), {});
}

template <class... Parts>
[[noreturn, gnu::cold, gnu::noinline]] void fail_at(const std::source_location& where, const std::string& op,
                                                    const Parts&... parts) {
  throw_error(op, join({Piece(parts)...}), where);
}

}  // namespace detail
}  // namespace mixt
