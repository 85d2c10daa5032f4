// blas::gemm: the one entry point for matrix products on any device.
//
// Conventions (those of row-major CBLAS): C is M x N with leading dimension ldc; op(A) is M x K, where A is stored
// M x K (lda >= K) or, when transA, K x M (lda >= M); op(B) is K x N, where B is stored K x N (ldb >= N) or, when
// transB, N x K (ldb >= K). C = alpha * op(A) * op(B) + beta * C; with beta == 0, C is only written.
//
// Back ends: cuBLAS for a GPU context (nvcc builds), CBLAS when MIXT_USE_CBLAS is 1, else the portable GEMM:
// packed (portable_gemm.hpp) for float32, and for float64 when MIXT_EXPR_DTYPES includes it, else the compact one
// (compact_gemm.hpp says why). Called from inside an engine operation: rc gives the device and stream.
#pragma once

#include <cstdint>
#include <type_traits>

#include "../core/thread_pool.hpp"
#include "../engine/run_context.hpp"
#include "../expr/expr_dtypes.hpp"
#include "cblas.hpp"
#include "compact_gemm.hpp"
#include "portable_gemm.hpp"
#if MIXT_USE_CUDA
#include "cuda/cublas.hpp"
#endif

namespace mixt::blas {

template <class T>
void gemm(const engine::RunContext& rc, bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha,
          const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
#if MIXT_USE_CUDA
  if (rc.ctx.is_gpu())
    return cuda::cublas_gemm(rc, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
  (void)rc;
  if (K <= 0) return portable::scale(M, N, beta, C, ldc);  // no product: C = beta * C
#if MIXT_USE_CBLAS
  cblas_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
  if constexpr (std::is_same_v<T, float> || expr::expr_dtype_enabled(dtype_of_v<T>))
    portable_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    compact_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

/// `batch` independent GEMMs; the i-th reads A + i * stride_a, B + i * stride_b and updates C + i * stride_c.
/// One cuBLAS call on the GPU; on the CPU the items are spread over the kernel pool when their outputs are
/// distinct, else a loop of GEMMs (each one multithreaded).
template <class T>
void gemm_strided_batched(const engine::RunContext& rc, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                          T alpha, const T* A, int64_t lda, int64_t stride_a, const T* B, int64_t ldb,
                          int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  if (M <= 0 || N <= 0 || batch <= 0) return;
#if MIXT_USE_CUDA
  if (rc.ctx.is_gpu())
    return cuda::cublas_gemm_strided_batched(rc, transA, transB, M, N, K, alpha, A, lda, stride_a, B, ldb,
                                             stride_b, beta, C, ldc, stride_c, batch);
#endif
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      gemm(rc, transA, transB, M, N, K, alpha, A + i * stride_a, lda, B + i * stride_b, ldb, beta,
           C + i * stride_c, ldc);
  };
  // Distinct outputs: the items are split over the kernel pool, each product on one thread (a product started
  // inside a pool loop finds the pool busy and runs serially), one synchronization instead of one per item.
  if (stride_c >= M * ldc && batch > 1)
    mixt::detail::ThreadPool::global().parallel_for(batch, 1, run);
  else
    run(0, batch);
}

}  // namespace mixt::blas
