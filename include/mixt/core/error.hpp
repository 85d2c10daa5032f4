// mixt::Error: every failure the library reports, synchronous or asynchronous (DESIGN contracts 3 and 9).
#pragma once

#include <concepts>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <type_traits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "source_location.hpp"

namespace mixt {

namespace detail {
/// Whether a source location is known (a default-constructed one has an empty file name).
inline bool has_location(const mixt::source_location& w) { return w.file_name() && w.file_name()[0] != '\0'; }
}  // namespace detail

/// An error that names the operator (or block) it came from, what went wrong and, when known, the place in the
/// user's code that asked for the operation.
class Error : public std::runtime_error {
 public:
  Error(std::string op, std::string message, mixt::source_location where = {})
      : std::runtime_error(format(op, message, where)), op_(std::move(op)), message_(std::move(message)),
        where_(where) {}

  /// The operator or block that failed, e.g. "FullyConnected" or "broadcast".
  const std::string& op() const noexcept { return op_; }
  /// The message without the operator name and location.
  const std::string& message() const noexcept { return message_; }
  /// Where the user's call was made (file_name() is empty when unknown).
  const mixt::source_location& where() const noexcept { return where_; }

 private:
  [[gnu::cold, gnu::noinline]] static std::string format(const std::string& op, const std::string& message,
                                                      const mixt::source_location& where) {
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
  mixt::source_location where_;
};

namespace detail {

// Error messages are built from pieces (strings, numbers, anything with to_string()). A call site passes its
// pieces by reference to one out-of-line function; each distinct fail(...) signature used to compile its own
// string-building function, about 5% of what a small program compiled.
[[gnu::cold, gnu::noinline]] inline void append_signed(std::string& s, long long v) { s += std::to_string(v); }

/// A number in the fewest significant digits that read back as the same value of its type (float or double):
/// "1e-10" and "0.1", where std::to_string gives "0.000000" and "0.100000".
[[gnu::cold, gnu::noinline]] inline void append_shortest(std::string& s, double v, bool single) {
  char buf[40];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (single ? std::strtof(buf, nullptr) == float(v) : std::strtod(buf, nullptr) == v) break;
  }
  s += buf;  // NaN never reads back equal: it leaves the loop at 17 digits, printed as "nan"
}

/// One piece of a message, referring to the caller's value (valid for the duration of the call).
struct MessagePiece {
  enum class Kind : unsigned char { text, signed_int, unsigned_int, floating, single_floating, object };
  Kind kind;
  union {
    std::string_view text;
    long long i;
    unsigned long long u;
    double d;
    struct {
      const void* p;
      std::string (*str)(const void*);
    } object;
  };

  MessagePiece(const char* p) : kind(Kind::text), text(p ? p : "") {}  // NOLINT: implicit, as every piece is
  MessagePiece(std::string_view t) : kind(Kind::text), text(t) {}     // NOLINT
  MessagePiece(const std::string& t) : kind(Kind::text), text(t) {}   // NOLINT
  MessagePiece(const char& c) : kind(Kind::text), text(&c, 1) {}      // NOLINT
  MessagePiece(const bool& b) : kind(Kind::text), text(b ? "true" : "false") {}  // NOLINT
  template <class T>
    requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>)
  MessagePiece(const T& v) {  // NOLINT
    if constexpr (std::is_same_v<T, float>) kind = Kind::single_floating, d = double(v);
    else if constexpr (std::is_floating_point_v<T>) kind = Kind::floating, d = double(v);
    else if constexpr (std::is_signed_v<T>) kind = Kind::signed_int, i = (long long)v;
    else kind = Kind::unsigned_int, u = (unsigned long long)v;
  }
  template <class T>
    requires requires(const T& t) { { t.to_string() } -> std::convertible_to<std::string>; }
  MessagePiece(const T& t) : kind(Kind::object) {  // NOLINT
    object = {&t, [](const void* p) { return std::string(static_cast<const T*>(p)->to_string()); }};
  }
};

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_message(std::string_view op,
                                                                 std::initializer_list<MessagePiece> pieces,
                                                                 const mixt::source_location& where) {
  std::string s;
  for (const MessagePiece& m : pieces) {
    switch (m.kind) {
      case MessagePiece::Kind::text: s.append(m.text); break;
      case MessagePiece::Kind::signed_int: s += std::to_string(m.i); break;
      case MessagePiece::Kind::unsigned_int: s += std::to_string(m.u); break;
      case MessagePiece::Kind::floating: append_shortest(s, m.d, false); break;
      case MessagePiece::Kind::single_floating: append_shortest(s, m.d, true); break;
      case MessagePiece::Kind::object: s += m.object.str(m.object.p); break;
    }
  }
  throw Error(std::string(op), std::move(s), where);
}

/// Throws a mixt::Error naming `op`, its message the parts concatenated. Inlined into the caller: the only code
/// per call is the list of pieces.
template <class... Parts>
[[noreturn, gnu::always_inline]] inline void fail(std::string_view op, const Parts&... parts) {
  throw_message(op, {MessagePiece(parts)...}, {});
}

template <class... Parts>
[[noreturn, gnu::always_inline]] inline void fail_at(const mixt::source_location& where, std::string_view op,
                                                     const Parts&... parts) {
  throw_message(op, {MessagePiece(parts)...}, where);
}

/// Rethrows an error raised by one of the library's own steps inside the operator `op` (an assign, a reduction)
/// as op's error at the user's call `where`: the step's name and its place in mixt's headers mean nothing to the
/// caller, and Error::where() promises the user's call.
[[noreturn, gnu::cold, gnu::noinline]] inline void rethrow_in(std::string_view op, const Error& e,
                                                              const mixt::source_location& where) {
  std::string message = e.message();
  if (e.op() != op) message += " (in its internal " + e.op() + ")";
  throw Error(std::string(op), std::move(message), has_location(where) ? where : e.where());
}

/// f(), the body of the operator `op` called at `where`: an error from one of its steps is op's (rethrow_in).
template <class F>
decltype(auto) as_operator(std::string_view op, const mixt::source_location& where, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    rethrow_in(op, e, where);
  }
}

/// f(), where a mixt::Error without a location gets `where`, the user's call: for checks in shared code (shape
/// inference, broadcasting, reshape codes) that has no location of its own. An error that names a place keeps it.
template <class F>
decltype(auto) at_location(const mixt::source_location& where, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    if (has_location(e.where())) throw;
    throw Error(e.op(), e.message(), where);
  }
}

}  // namespace detail
}  // namespace mixt
