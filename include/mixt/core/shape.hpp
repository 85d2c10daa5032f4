// Shape: 0 to kMaxDim extents, stored inline.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string>
#include <vector>

#include "config.hpp"
#include "error.hpp"

namespace mixt {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<int64_t>& dims) { assign(dims.begin(), dims.end()); }
  template <class It>
  Shape(It first, It last) { assign(first, last); }

  int ndim() const noexcept { return ndim_; }
  int64_t operator[](int i) const noexcept { return dims_[i]; }
  int64_t& operator[](int i) noexcept { return dims_[i]; }
  const int64_t* begin() const noexcept { return dims_.data(); }
  const int64_t* end() const noexcept { return dims_.data() + ndim_; }
  const int64_t* data() const noexcept { return dims_.data(); }

  /// Number of elements (1 for a 0-d shape).
  int64_t size() const noexcept {
    int64_t n = 1;
    for (int i = 0; i < ndim_; ++i) n *= dims_[i];
    return n;
  }
  /// Fails, naming `op`, unless the product of the non-zero extents fits in int64 (strides multiply them even
  /// when another extent is 0). Shapes built from lists are checked; arrays check theirs when allocated.
  [[gnu::noinline]] void check_size(const char* op) const {
    int64_t n = 1;
    for (int i = 0; i < ndim_; ++i)
      if (dims_[i] > 0 && __builtin_mul_overflow(n, dims_[i], &n))
        detail::fail(op, "shape ", to_string(), " has more elements than an int64 can count");
  }
  /// Extent of axis i, where a negative i counts from the end.
  int64_t at(int i) const { return dims_[normalize_axis(i, ndim_, "Shape::at")]; }

  void push_back(int64_t d) {
    if (ndim_ == kMaxDim) detail::fail("Shape", "at most ", kMaxDim, " dimensions are supported");
    dims_[ndim_++] = d;
  }
  std::vector<int64_t> to_vector() const { return {begin(), end()}; }

  /// Row-major element strides.
  std::array<int64_t, kMaxDim> strides() const {
    std::array<int64_t, kMaxDim> s{};
    int64_t acc = 1;
    for (int i = ndim_ - 1; i >= 0; --i) { s[i] = acc; acc *= dims_[i]; }
    return s;
  }

  friend bool operator==(const Shape& a, const Shape& b) noexcept {
    if (a.ndim_ != b.ndim_) return false;
    for (int i = 0; i < a.ndim_; ++i) if (a.dims_[i] != b.dims_[i]) return false;
    return true;
  }

  /// "(2, 3)", as MXNet prints shapes; "()" for a 0-d shape; "(5,)" for one dimension.
  [[gnu::noinline]] std::string to_string() const {  // out of line: error messages call it from hot code
    std::string s = "(";
    for (int i = 0; i < ndim_; ++i) {
      if (i) s += ", ";
      detail::append_signed(s, dims_[i]);
    }
    s += ndim_ == 1 ? ",)" : ")";
    return s;
  }

  /// Maps axis i (negative counts from the end) into [0, ndim) or throws naming `op`.
  static int normalize_axis(int axis, int ndim, const char* op) {
    if (axis < -ndim || axis >= ndim)
      detail::fail(op, "axis ", axis, " is out of range for an array of ", ndim, " dimensions (expected -", ndim,
                   " <= axis < ", ndim, ")");
    return axis < 0 ? axis + ndim : axis;
  }

 private:
  template <class It>
  void assign(It first, It last) {
    for (; first != last; ++first) {
      if (*first < 0) detail::fail("Shape", "extents must be >= 0, received ", int64_t(*first));
      push_back(static_cast<int64_t>(*first));
    }
    check_size("Shape");
  }
  std::array<int64_t, kMaxDim> dims_{};
  int ndim_ = 0;
};

/// (A template over the stream: see Context's.)
template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, const Shape& s) {
  return os << s.to_string();
}

}  // namespace mixt
