// Savers: how an evaluation point combines a computed value with the destination (mshadow's "saver"): `=`,
// `+=`, `-=`, `*=`, `/=`. BLAS-backed nodes map the same savers onto alpha and beta.
#pragma once

#include "../core/config.hpp"
#include "functors.hpp"

namespace mixt::expr {

struct save_write {
  static constexpr bool reads_dest = false;
  static constexpr const char* name = "assign";
  template <class V> MIXT_HD MIXT_INLINE static V apply(V, V v) { return v; }
};
struct save_add {
  static constexpr bool reads_dest = true;
  static constexpr const char* name = "+=";
  template <pk::ScalarValue V> MIXT_HD MIXT_INLINE static V apply(V d, V v) { return pk::add(d, v); }
  template <pk::Vector V> MIXT_INLINE static V apply(V d, V v) { return d + v; }
};
struct save_sub {
  static constexpr bool reads_dest = true;
  static constexpr const char* name = "-=";
  template <pk::ScalarValue V> MIXT_HD MIXT_INLINE static V apply(V d, V v) { return pk::sub(d, v); }
  template <pk::Vector V> MIXT_INLINE static V apply(V d, V v) { return d - v; }
};
struct save_mul {
  static constexpr bool reads_dest = true;
  static constexpr const char* name = "*=";
  template <pk::ScalarValue V> MIXT_HD MIXT_INLINE static V apply(V d, V v) { return pk::mul(d, v); }
  template <pk::Vector V> MIXT_INLINE static V apply(V d, V v) { return d * v; }
};
struct save_div {
  static constexpr bool reads_dest = true;
  static constexpr const char* name = "/=";
  // fn::div: no integer trap (x / 0 and the most negative value / -1)
  template <pk::ScalarValue V> MIXT_HD MIXT_INLINE static V apply(V d, V v) { return fn::div::apply(d, v); }
  template <pk::Vector V> MIXT_INLINE static V apply(V d, V v) { return d / v; }
};

}  // namespace mixt::expr
