// Which dtypes a fused expression is compiled for.
//
// NDArray's dtype is a run-time value, so every distinct expression is compiled once per dtype it may meet, and
// that multiplies compile time (and, under nvcc, kernels). mixt's choice: float32 always; the other dtypes are
// opt-in with MIXT_EXPR_DTYPES, a bit mask of (1 << int(DType)): for example
// -DMIXT_EXPR_DTYPES=MIXT_EXPR_ALL_DTYPES, or (1 << 0) | (1 << 1) for float32 and float64. An expression over a
// dtype left out raises a mixt::Error that names the macro. Fills, copies and conversions work for every dtype
// regardless. Without a BLAS, matrix products over float64 use the packed GEMM when float64 is in the set and a
// compact, slower one otherwise (blas/compact_gemm.hpp).
#pragma once

#include "../core/dtype.hpp"
#include "../core/source_location.hpp"

#define MIXT_EXPR_ALL_DTYPES ((1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 12))
#ifndef MIXT_EXPR_DTYPES
#define MIXT_EXPR_DTYPES (1 << 0)
#endif

namespace mixt::expr {

inline constexpr bool expr_dtype_enabled(DType t) { return (MIXT_EXPR_DTYPES >> int(t)) & 1; }

[[noreturn, gnu::cold, gnu::noinline]] inline void fail_dtype_not_compiled(const char* op, DType t,
                                                                          const mixt::source_location& where) {
  detail::fail_at(where, op, "expressions over ", dtype_name(t), " are not compiled in; compile with ",
                  "-DMIXT_EXPR_DTYPES=MIXT_EXPR_ALL_DTYPES, or a mask that includes (1 << ", int(t), ")");
}

/// dtype_switch restricted to the dtypes expressions are compiled for (the others fail before the switch, so
/// that their cases compile to nothing; the error names the user's call when `where` is given).
template <class F>
void expr_dtype_switch(DType t, const char* op, F&& f, const mixt::source_location& where = {}) {
  if (!expr_dtype_enabled(t)) fail_dtype_not_compiled(op, t, where);
  dtype_switch(t, [&](auto tag) {
    if constexpr (expr_dtype_enabled(dtype_of_v<decltype(tag)>)) f(tag);
  });
}

}  // namespace mixt::expr
