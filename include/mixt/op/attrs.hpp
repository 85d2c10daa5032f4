// Operator attributes as MXNet writes them in symbol JSON: a map of strings ("num_hidden": "128",
// "kernel": "(3, 3)", "no_bias": "True"). Each operator's parameter struct lists its fields once, in a
// `visit(Param&, V&)` function; parse_attrs / to_attrs turn that list into reading and writing the strings.
#pragma once

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/shape.hpp"

namespace mixt::op {

using Attrs = std::map<std::string, std::string>;

/// A tuple of integers such as kernel=(3, 3); MXNet prints it "(3, 3)".
using IntTuple = std::vector<int64_t>;

namespace attr {

inline std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n"), e = s.find_last_not_of(" \t\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

[[noreturn]] inline void bad_value(const char* op, const std::string& key, const std::string& value, const char* expected) {
  mixt::detail::fail(op, "attribute '", key, "': expected ", expected, ", received '", value, "'");
}

/// A value out of the type's range is an error, as in MXNet (it wrapped: "4294967297" was 1).
inline void parse(const char* op, const std::string& key, const std::string& s, int64_t& out) {
  char* end = nullptr;
  std::string t = trim(s);
  errno = 0;
  long long v = std::strtoll(t.c_str(), &end, 10);
  if (t.empty() || *end) bad_value(op, key, s, "an integer");
  if (errno == ERANGE) bad_value(op, key, s, "an integer within int64's range");
  out = v;
}
inline void parse(const char* op, const std::string& key, const std::string& s, int& out) {
  int64_t v = 0;
  parse(op, key, s, v);
  if (v < INT_MIN || v > INT_MAX) bad_value(op, key, s, "an integer within int32's range");
  out = int(v);
}
inline void parse(const char* op, const std::string& key, const std::string& s, double& out) {
  char* end = nullptr;
  std::string t = trim(s);
  double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end) bad_value(op, key, s, "a number");
  out = v;
}
inline void parse(const char* op, const std::string& key, const std::string& s, float& out) {
  double d;
  parse(op, key, s, d);
  out = float(d);
}
inline void parse(const char* op, const std::string& key, const std::string& s, bool& out) {
  std::string t = trim(s);
  if (t == "True" || t == "true" || t == "1") out = true;
  else if (t == "False" || t == "false" || t == "0") out = false;
  else bad_value(op, key, s, "True or False");
}
inline void parse(const char*, const std::string&, const std::string& s, std::string& out) { out = trim(s); }
inline void parse(const char* op, const std::string& key, const std::string& s, IntTuple& out) {
  std::string t = trim(s);
  if (t.size() < 2 || !((t.front() == '(' && t.back() == ')') || (t.front() == '[' && t.back() == ']')))
    bad_value(op, key, s, "a tuple such as (3, 3)");
  out.clear();
  std::string body = t.substr(1, t.size() - 2);
  size_t pos = 0;
  while (pos < body.size()) {
    size_t comma = body.find(',', pos);
    std::string item = trim(body.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (!item.empty()) {
      int64_t v;
      parse(op, key, item == "None" ? "0" : item, v);
      out.push_back(v);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
}
template <class T>
void parse(const char* op, const std::string& key, const std::string& s, std::optional<T>& out) {
  if (trim(s) == "None") { out.reset(); return; }
  T v;
  parse(op, key, s, v);
  out = v;
}

inline std::string format(int v) { return std::to_string(v); }
inline std::string format(int64_t v) { return std::to_string(v); }
inline std::string format(bool v) { return v ? "True" : "False"; }
inline std::string format(const std::string& v) { return v; }
/// A number with the fewest digits that read back as the same float or double ("0.05", not
/// "0.05000000074505806"), and a point as Python prints floats ("1.0").
inline std::string format_floating(double v, bool single) {
  std::string s;
  mixt::detail::append_shortest(s, v, single);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}
inline std::string format(double v) { return format_floating(v, false); }
inline std::string format(float v) { return format_floating(v, true); }
inline std::string format(const IntTuple& t) {
  std::string s = "(";
  for (size_t i = 0; i < t.size(); ++i) s += (i ? ", " : "") + std::to_string(t[i]);
  return s + (t.size() == 1 ? ",)" : ")");
}
template <class T>
std::string format(const std::optional<T>& v) { return v ? format(*v) : "None"; }

}  // namespace attr

/// Reads `attrs` into a parameter struct through its visit() field list; unknown keys are an error.
template <class Param>
Param parse_attrs(const char* op, const Attrs& attrs) {
  Param p{};
  size_t used = 0;
  visit(p, [&](const char* key, auto& field) {
    auto it = attrs.find(key);
    if (it != attrs.end()) {
      attr::parse(op, key, it->second, field);
      ++used;
    }
  });
  if (used != attrs.size()) {
    for (const auto& kv : attrs) {
      const std::string& k = kv.first;
      bool known = false;
      visit(p, [&](const char* key, auto&) { known = known || k == key; });
      if (!known && k.rfind("__", 0) != 0) mixt::detail::fail(op, "unknown attribute '", k, "'");
    }
  }
  return p;
}

/// Writes every field of a parameter struct as MXNet-style strings.
template <class Param>
Attrs to_attrs(const Param& param) {
  Attrs a;
  Param p = param;
  visit(p, [&](const char* key, auto& field) { a[key] = attr::format(field); });
  return a;
}

}  // namespace mixt::op
