// Printing arrays as MXNet does: the values as NumPy's str() shows them (nested brackets, one common width, lines
// wrapped at 75 characters, arrays of more than 1000 elements summarized to 3 items at each edge of every axis
// with "..."), then a line "<NDArray 2x3 @cpu(0)>". MXNet's repr puts a newline before the values; to_string()
// leaves it out. For floating arrays NumPy's rules apply: the shortest digits that identify each value in its
// dtype (at most 8 after the point), scientific notation when the largest magnitude is >= 1e8, the smallest
// nonzero one < 1e-4 or their ratio > 1000. A 0-d array prints its value as a NumPy scalar ("1.5", "1.0",
// "1e-05") and the shape part is empty: "1.5\n<NDArray  @cpu(0)>". An empty array prints "[]".
// Everything here is non-template code.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "ndarray_impl.hpp"

namespace mixt {

namespace detail {

/// v rounded to the precision of the floating dtype t (the round trip a printed value must survive).
inline double round_to_dtype(DType t, double v) {
  switch (t) {
    case DType::float32: return double(float(v));
    case DType::float16: return double(float(half_t(float(v))));
    case DType::bfloat16: return double(float(bfloat16_t(float(v))));
    default: return v;
  }
}

inline std::string format_c(const char* spec, int precision, double v) {
  char buf[512];
  std::snprintf(buf, sizeof buf, spec, precision, v);
  return buf;
}

/// The fewest digits (<= max_digits) after the point, in "%.*f" (or "%.*e" when sci), that read back as v in t.
inline int shortest_digits(double v, DType t, bool sci, int max_digits) {
  for (int p = 0; p < max_digits; ++p)
    if (round_to_dtype(t, std::strtod(format_c(sci ? "%.*e" : "%.*f", p, v).c_str(), nullptr)) == v) return p;
  return max_digits;
}

/// Splits "int.frac" at the point.
inline void split_point(const std::string& s, std::string& int_part, std::string& frac_part) {
  size_t dot = s.find('.');
  int_part = s.substr(0, dot);
  frac_part = dot == std::string::npos ? "" : s.substr(dot + 1);
}

/// v in "%#.*f" / "%#.*e" with the shortest digits (at most 8) and trailing zeros trimmed, the point kept:
/// NumPy's dragon4 with unique digits, precision 8 and trim '.'.
inline std::string shortest_text(double v, DType t, bool sci) {
  std::string s = format_c(sci ? "%#.*e" : "%#.*f", shortest_digits(v, t, sci, 8), v);
  size_t e = sci ? s.find('e') : s.size();
  size_t last = s.find_last_not_of('0', e - 1);
  return s.substr(0, last + 1) + s.substr(e);
}

/// NumPy's FloatingFormat (floatmode "maxprec", precision 8, sign "-") for one set of values.
class FloatFormat {
 public:
  FloatFormat(const std::vector<double>& vals, DType t) : dtype_(t) {
    double mx = 0, mn = INFINITY;
    bool finite = false, neg_inf = false, nonfinite = false;
    for (double v : vals) {
      if (!std::isfinite(v)) { nonfinite = true; neg_inf = neg_inf || v < 0; continue; }
      finite = true;
      if (v != 0) { mx = std::max(mx, std::abs(v)); mn = std::min(mn, std::abs(v)); }
    }
    sci_ = mx != 0 && (mx >= 1e8 || mn < 1e-4 || mx / mn > 1e3);
    if (finite) {
      for (double v : vals) {
        if (!std::isfinite(v)) continue;
        std::string i, f;
        if (sci_) {
          std::string s = shortest_text(v, t, true);
          size_t e = s.find('e');
          split_point(s.substr(0, e), i, f);
          exp_digits_ = std::max(exp_digits_, int(s.size() - e - 2));
        } else {
          split_point(shortest_text(v, t, false), i, f);
        }
        pad_left_ = std::max(pad_left_, int(i.size()));
        pad_right_ = std::max(pad_right_, int(f.size()));
      }
      if (sci_) {
        precision_ = pad_right_;
        pad_right_ = exp_digits_ + 2 + precision_;
      }
    }
    if (nonfinite) pad_left_ = std::max({pad_left_, 3 - (pad_right_ + 1), 3 + int(neg_inf) - (pad_right_ + 1)});
  }

  std::string operator()(double v) const {
    if (!std::isfinite(v)) {
      std::string s = std::isnan(v) ? "nan" : (v < 0 ? "-inf" : "inf");
      return std::string(std::max(0, pad_left_ + pad_right_ + 1 - int(s.size())), ' ') + s;
    }
    std::string i, f, exp;
    if (sci_) {  // every value to the common precision, its own digits rounded there (NumPy: min_digits)
      std::string s = format_c("%#.*e", precision_, v);
      size_t e = s.find('e');
      split_point(s.substr(0, e), i, f);
      std::string digits = s.substr(e + 2);
      exp = s.substr(e, 2) + std::string(std::max(0, exp_digits_ - int(digits.size())), '0') + digits;
    } else {
      split_point(shortest_text(v, dtype_, false), i, f);
      f.resize(size_t(pad_right_), ' ');
    }
    return std::string(std::max(0, pad_left_ - int(i.size())), ' ') + i + "." + f + exp;
  }

 private:
  DType dtype_;
  bool sci_ = false;
  int pad_left_ = 0, pad_right_ = 0, precision_ = 0, exp_digits_ = 0;
};

/// A floating value as NumPy's str() of a scalar shows it: shortest round trip, "1.0" rather than "1.".
inline std::string format_float_scalar(double v, DType t) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  const double a = std::abs(v);
  if (a != 0 && (a < 1e-4 || a >= 1e16)) {
    std::string s = format_c("%.*e", shortest_digits(v, t, true, 17), v);  // "1e-05", "1.5e+20"
    return s;
  }
  // 17 significant digits round-trip a double; below 1 they start after the point's leading zeros.
  const int leading_zeros = a != 0 && a < 1 ? int(-std::floor(std::log10(a))) : 0;
  const int frac = shortest_digits(v, t, false, 17 + leading_zeros);
  if (frac == 0) {
    // An integer shows its shortest significant digits, then zeros: float32 123456792 is "123456790.0".
    const int sig = shortest_digits(v, t, true, 17);
    const std::string e = format_c("%.*e", sig, v);  // "-1.2345679e+08"
    const int exponent = std::atoi(e.c_str() + e.find('e') + 1);
    if (exponent > sig) {
      std::string digits = e.substr(0, e.find('e'));
      digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
      return digits + std::string(size_t(exponent - sig), '0') + ".0";
    }
  }
  return format_c("%.*f", std::max(1, frac), v);
}

/// NumPy's _formatArray: nested brackets, line wrapping and summarization, over any element formatter.
class ArrayPrinter {
 public:
  static constexpr int kLineWidth = 75, kEdgeItems = 3;
  static constexpr int64_t kThreshold = 1000;

  ArrayPrinter(const Shape& shape, std::function<std::string(int64_t)> word)
      : shape_(shape), strides_(shape.strides()), summarize_(shape.size() > kThreshold), word_(std::move(word)) {}

  std::string print() { return recurse(0, 0, " ", kLineWidth); }

  /// The flat indices print() shows (NumPy computes the common format from these only).
  std::vector<int64_t> shown() {
    std::vector<int64_t> idx;
    auto keep = std::move(word_);
    word_ = [&](int64_t i) { idx.push_back(i); return std::string(); };
    recurse(0, 0, " ", kLineWidth);
    word_ = std::move(keep);
    return idx;
  }

 private:
  static void extend(std::string& s, std::string& line, const std::string& word, int width,
                     const std::string& prefix) {
    bool wrap = int(line.size() + word.size()) > width && line.size() > prefix.size();
    if (wrap) {
      size_t end = line.find_last_not_of(' ');
      s += line.substr(0, end == std::string::npos ? 0 : end + 1) + "\n";
      line = prefix;
    }
    line += word;
  }

  std::string recurse(int axis, int64_t base, const std::string& hang, int width) {
    if (axis == shape_.ndim()) return word_(base);
    const std::string next_hang = hang + " ";
    const int64_t n = shape_[axis], st = strides_[size_t(axis)];
    const bool summary = summarize_ && 2 * kEdgeItems < n;
    const int64_t lead = summary ? kEdgeItems : 0, trail = summary ? kEdgeItems : n;
    const int left = shape_.ndim() - axis;
    std::string s;
    if (left == 1) {
      const int elem_width = width - 1;
      std::string line = hang;
      for (int64_t i = 0; i < lead; ++i) {
        extend(s, line, recurse(axis + 1, base + i * st, next_hang, width - 1), elem_width, hang);
        line += " ";
      }
      if (summary) {
        extend(s, line, "...", elem_width, hang);
        line += " ";
      }
      for (int64_t i = trail; i > 1; --i) {
        extend(s, line, recurse(axis + 1, base + (n - i) * st, next_hang, width - 1), elem_width, hang);
        line += " ";
      }
      extend(s, line, recurse(axis + 1, base + (n - 1) * st, next_hang, width - 1), elem_width, hang);
      s += line;
    } else {
      const std::string sep(size_t(left - 1), '\n');
      for (int64_t i = 0; i < lead; ++i) s += hang + recurse(axis + 1, base + i * st, next_hang, width - 1) + sep;
      if (summary) s += hang + "..." + sep;
      for (int64_t i = trail; i > 1; --i)
        s += hang + recurse(axis + 1, base + (n - i) * st, next_hang, width - 1) + sep;
      s += hang + recurse(axis + 1, base + (n - 1) * st, next_hang, width - 1);
    }
    return "[" + s.substr(hang.size()) + "]";
  }

  Shape shape_;
  std::array<int64_t, kMaxDim> strides_;
  bool summarize_;
  std::function<std::string(int64_t)> word_;
};

/// The values of `a` as NumPy's str() prints them.
inline std::string format_values(const NDArray& a) {
  if (a.ndim() > 0 && a.size() == 0) return "[]";
  if (is_floating(a.dtype())) {
    const std::vector<double> v = a.to_vector<double>();
    if (a.ndim() == 0) return format_float_scalar(v[0], a.dtype());
    ArrayPrinter printer(a.shape(), {});
    std::vector<double> shown;
    for (int64_t i : printer.shown()) shown.push_back(v[size_t(i)]);
    FloatFormat fmt(shown, a.dtype());
    return ArrayPrinter(a.shape(), [&](int64_t i) { return fmt(v[size_t(i)]); }).print();
  }
  const std::vector<int64_t> v = a.to_vector<int64_t>();
  if (a.ndim() == 0) return std::to_string(v[0]);
  ArrayPrinter printer(a.shape(), {});
  size_t width = 0;
  for (int64_t i : printer.shown()) width = std::max(width, std::to_string(v[size_t(i)]).size());
  return ArrayPrinter(a.shape(), [&](int64_t i) {
           std::string s = std::to_string(v[size_t(i)]);
           return std::string(width - s.size(), ' ') + s;
         }).print();
}

}  // namespace detail

inline std::string NDArray::to_string() const {
  if (is_none()) return "<NDArray none>";
  std::string dims;
  for (int d = 0; d < ndim(); ++d) dims += (d ? "x" : "") + std::to_string(shape_[d]);
  return detail::format_values(*this) + "\n<NDArray " + dims + " @" + ctx_.to_string() + ">";
}

/// (A template over the stream: see Context's.)
template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, const NDArray& a) {
  return os << a.to_string();
}

}  // namespace mixt
