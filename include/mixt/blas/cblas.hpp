// GEMM through a linked CBLAS (OpenBLAS), row-major. Compiled only when MIXT_USE_CBLAS is 1; the build links the
// library (meson: the `openblas` or `cblas` dependency).
//
// Threads: mixt calls BLAS single-threaded and splits a large product over its own kernel pool (the rows or the
// columns of C, one BLAS call per part). OpenBLAS's own threads would otherwise compete with the engine's CPU
// workers and the kernel pool: two workers each running a 2-thread OpenBLAS product on a 2-core machine made
// the MLP training step 2.8x slower, the extra threads spinning for cores. MIXT_NUM_THREADS governs both.
// With OpenBLAS, mixt sets openblas_set_num_threads(1) before its calls; code calling OpenBLAS directly in
// the same process should set the count it wants before its own calls.
#pragma once

#include "../core/config.hpp"

#if MIXT_USE_CBLAS
#include <climits>
#include <cstdint>
#include <type_traits>

#include <cblas.h>

#include "../core/error.hpp"
#include "../core/thread_pool.hpp"

namespace mixt::blas {

namespace detail {
/// CBLAS takes int dimensions: reject what would not fit rather than truncate.
inline int cblas_int(int64_t v, const char* what) {
  if (v > INT_MAX) mixt::detail::fail("dot", what, " = ", v, " exceeds the range of the CBLAS interface (", INT_MAX, ")");
  return static_cast<int>(v);
}

/// OpenBLAS runs its calls on the caller's thread only (see the top of this file).
inline void blas_single_threaded() {
#ifdef OPENBLAS_VERSION
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
#endif
}

/// Below this many multiply-adds a product runs as one BLAS call: splitting costs more than it gains.
inline constexpr int64_t kSplitGemmWork = int64_t(1) << 21;
/// Each part of a split product has at least this many rows (or columns) of C.
inline constexpr int64_t kSplitGemmGrain = 32;

template <class T>
void cblas_call(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, T alpha, const T* A, int la, const T* B,
                int lb, T beta, T* C, int lc) {
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, la, B, lb, beta, C, lc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, la, B, lb, beta, C, lc);
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
  detail::blas_single_threaded();
  if (M * N * K < detail::kSplitGemmWork || mixt::num_threads() == 1)
    return detail::cblas_call(ta, tb, m, n, k, alpha, A, la, B, lb, beta, C, lc);
  if (M >= N) {  // rows [b, e) of C need rows [b, e) of op(A): A's rows, or A's columns when transposed
    mixt::detail::ThreadPool::global().parallel_for(M, detail::kSplitGemmGrain, [&](int64_t b, int64_t e) {
      detail::cblas_call(ta, tb, int(e - b), n, k, alpha, A + (transA ? b : b * lda), la, B, lb, beta, C + b * ldc, lc);
    });
  } else {  // columns [b, e) of C need columns [b, e) of op(B): B's columns, or B's rows when transposed
    mixt::detail::ThreadPool::global().parallel_for(N, detail::kSplitGemmGrain, [&](int64_t b, int64_t e) {
      detail::cblas_call(ta, tb, m, int(e - b), k, alpha, A, la, B + (transB ? b * ldb : b), lb, beta, C + b, lc);
    });
  }
}

}  // namespace mixt::blas
#endif  // MIXT_USE_CBLAS
