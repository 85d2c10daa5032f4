// GEMM on the GPU through cuBLAS. cuBLAS is column-major: a row-major C (M x N) is the column-major C^T, so
// C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T, i.e. cuBLAS's gemm with the operands (and M, N) swapped.
//
// Handles: an operation on a GPU worker of the threaded engine uses the worker's own (RunContext::blas_handle,
// bound to the worker's stream, destroyed when the worker stops). Elsewhere (the naive engine) each host thread
// keeps one handle per device, created on first use (a cuBLAS handle must not be used by two threads at once) and
// bound to the operation's stream at each call. Those live until the process ends: destroying them during static
// destruction could outlive the CUDA context.
#pragma once

#include "../../core/config.hpp"

#if MIXT_USE_CUDA
#include <cstdint>
#include <climits>
#include <string>
#include <type_traits>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "../../core/error.hpp"
#include "../../engine/run_context.hpp"

namespace mixt::blas::cuda {

/// Throws mixt::Error naming the cuBLAS call when `status` is not success.
inline void check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    mixt::detail::fail("dot", call, " failed: ", cublasGetStatusString(status), " (status ", int(status), ")");
}

inline int cublas_int(int64_t v, const char* what) {
  if (v > INT_MAX) mixt::detail::fail("dot", what, " = ", v, " exceeds the range of the cuBLAS interface (", INT_MAX, ")");
  return static_cast<int>(v);
}

/// The handle for an operation running with `rc`, bound to its stream (see the header comment).
inline cublasHandle_t handle(const engine::RunContext& rc) {
  if (rc.blas_handle) return static_cast<cublasHandle_t>(rc.blas_handle);
  const int dev = rc.ctx.dev_id;
  constexpr int kMaxDevices = 64;
  thread_local cublasHandle_t handles[kMaxDevices] = {};
  if (dev < 0 || dev >= kMaxDevices) mixt::detail::fail("dot", "device id ", dev, " is out of range");
  if (!handles[dev]) {
    int current = 0;
    if (cudaGetDevice(&current) != cudaSuccess) mixt::detail::fail("dot", "cudaGetDevice failed");
    if (current != dev && cudaSetDevice(dev) != cudaSuccess) mixt::detail::fail("dot", "cudaSetDevice(", dev, ") failed");
    cublasStatus_t status = cublasCreate(&handles[dev]);
    if (current != dev) cudaSetDevice(current);
    check(status, "cublasCreate");
  }
  check(cublasSetStream(handles[dev], static_cast<cudaStream_t>(rc.stream)), "cublasSetStream");
  return handles[dev];
}

/// Row-major C = alpha * op(A) * op(B) + beta * C on the stream of rc (see gemm.hpp for the conventions).
template <class T>
void cublas_gemm(const engine::RunContext& rc, bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha,
                 const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cuBLAS GEMM serves float and double");
  cublasHandle_t h = handle(rc);
  const cublasOperation_t ta = transA ? CUBLAS_OP_T : CUBLAS_OP_N, tb = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = cublas_int(M, "M"), n = cublas_int(N, "N"), k = cublas_int(K, "K");
  const int la = cublas_int(lda, "lda"), lb = cublas_int(ldb, "ldb"), lc = cublas_int(ldc, "ldc");
  if constexpr (std::is_same_v<T, float>)
    check(cublasSgemm(h, tb, ta, n, m, k, &alpha, B, lb, A, la, &beta, C, lc), "cublasSgemm");
  else
    check(cublasDgemm(h, tb, ta, n, m, k, &alpha, B, lb, A, la, &beta, C, lc), "cublasDgemm");
}

/// `batch` GEMMs whose operands are `stride_*` elements apart, as one cuBLAS call.
template <class T>
void cublas_gemm_strided_batched(const engine::RunContext& rc, bool transA, bool transB, int64_t M, int64_t N,
                                 int64_t K, T alpha, const T* A, int64_t lda, int64_t stride_a, const T* B,
                                 int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c,
                                 int64_t batch) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "cuBLAS GEMM serves float and double");
  cublasHandle_t h = handle(rc);
  const cublasOperation_t ta = transA ? CUBLAS_OP_T : CUBLAS_OP_N, tb = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = cublas_int(M, "M"), n = cublas_int(N, "N"), k = cublas_int(K, "K");
  const int la = cublas_int(lda, "lda"), lb = cublas_int(ldb, "ldb"), lc = cublas_int(ldc, "ldc");
  const int nb = cublas_int(batch, "batch");
  if constexpr (std::is_same_v<T, float>)
    check(cublasSgemmStridedBatched(h, tb, ta, n, m, k, &alpha, B, lb, stride_b, A, la, stride_a, &beta, C, lc,
                                    stride_c, nb),
          "cublasSgemmStridedBatched");
  else
    check(cublasDgemmStridedBatched(h, tb, ta, n, m, k, &alpha, B, lb, stride_b, A, la, stride_a, &beta, C, lc,
                                    stride_c, nb),
          "cublasDgemmStridedBatched");
}

}  // namespace mixt::blas::cuda
#endif  // MIXT_USE_CUDA
