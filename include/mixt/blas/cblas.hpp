// GEMM through a linked CBLAS (OpenBLAS), row-major. Compiled only when MIXT_USE_CBLAS is 1; the build links the
// library (meson: the `openblas` or `cblas` dependency).
#pragma once

#include "../core/config.hpp"

#if MIXT_USE_CBLAS
#include <climits>
#include <cstdint>
#include <type_traits>

#include <cblas.h>

#include "../core/error.hpp"

namespace mixt::blas {

namespace detail {
/// CBLAS takes int dimensions: reject what would not fit rather than truncate.
inline int cblas_int(int64_t v, const char* what) {
  if (v > INT_MAX) mixt::detail::fail("dot", what, " = ", v, " exceeds the range of the CBLAS interface (", INT_MAX, ")");
  return static_cast<int>(v);
}
}  // namespace detail

/// C = alpha * op(A) * op(B) + beta * C via cblas_sgemm / cblas_dgemm (row-major; see gemm.hpp for the
/// argument conventions).
template <class T>
void cblas_gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "CBLAS GEMM serves float and double");
  const auto ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
  const int m = detail::cblas_int(M, "M"), n = detail::cblas_int(N, "N"), k = detail::cblas_int(K, "K");
  const int la = detail::cblas_int(lda, "lda"), lb = detail::cblas_int(ldb, "ldb"), lc = detail::cblas_int(ldc, "ldc");
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, la, B, lb, beta, C, lc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, la, B, lb, beta, C, lc);
}

}  // namespace mixt::blas
#endif  // MIXT_USE_CBLAS
