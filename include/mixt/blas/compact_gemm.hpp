// The compact GEMM: C = alpha * op(A) * op(B) + beta * C in a few dozen lines of code, for the element types
// whose packed GEMM (portable_gemm.hpp) a program does not compile.
//
// Why: every program that may multiply matrices compiles a product for each dtype the arrays may have at run
// time, and the packed GEMM costs a program about 0.15 s of g++ time per element type. float32 always gets the
// packed GEMM; float64 gets it when MIXT_EXPR_DTYPES includes float64 (expr/expr_dtypes.hpp) and this one
// otherwise: correct for every shape, blocked and vectorized, several times slower than the packed kernel on
// large products (benchmarks/RESULTS.md). A BLAS (MIXT_USE_CBLAS) serves every type at full speed.
//
// Rows of C are split over the kernel pool; each thread packs a KB x NB block of op(B) row-major, then updates
// its rows of C four rows of that block at a time (four fused axpys over contiguous memory).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../core/thread_pool.hpp"
#include "portable_gemm.hpp"

namespace mixt::blas {

template <class T>
void compact_gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  using Vec = typename portable::Blocking<T>::Vec;
  constexpr int W = portable::Blocking<T>::W;
  constexpr int64_t KB = 128, NB = 512;  // a 64 KB (float64) block of op(B), in L2
  if (M <= 0 || N <= 0) return;
  portable::scale(M, N, beta, C, ldc);
  if (K <= 0 || alpha == T(0)) return;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, N * K));
  parallel_for(M, grain, [&](int64_t i0, int64_t i1) {
    T* bp = static_cast<T*>(portable::scratch_b().get(sizeof(T) * size_t(KB * NB)));
    for (int64_t jb = 0; jb < N; jb += NB) {
      const int64_t nb = std::min(NB, N - jb);
      for (int64_t kb = 0; kb < K; kb += KB) {
        const int64_t kc = std::min(KB, K - kb);
        for (int64_t k = 0; k < kc; ++k)  // bp[k][j] = op(B)[kb + k][jb + j]
          for (int64_t j = 0; j < nb; ++j)
            bp[k * nb + j] = transB ? B[(jb + j) * ldb + kb + k] : B[(kb + k) * ldb + jb + j];
        for (int64_t i = i0; i < i1; ++i) {
          T* c = C + i * ldc + jb;
          auto a_at = [&](int64_t k) { return alpha * (transA ? A[(kb + k) * lda + i] : A[i * lda + kb + k]); };
          int64_t k = 0;
          for (; k + 4 <= kc; k += 4) {  // four rows of the block per pass over c: a quarter of the loads and stores
            const T a0 = a_at(k), a1 = a_at(k + 1), a2 = a_at(k + 2), a3 = a_at(k + 3);
            const T* b = bp + k * nb;
            int64_t j = 0;
            for (; j + W <= nb; j += W) {
              Vec vc, v0, v1, v2, v3;
              std::memcpy(&vc, c + j, sizeof(Vec));
              std::memcpy(&v0, b + j, sizeof(Vec));
              std::memcpy(&v1, b + nb + j, sizeof(Vec));
              std::memcpy(&v2, b + 2 * nb + j, sizeof(Vec));
              std::memcpy(&v3, b + 3 * nb + j, sizeof(Vec));
              vc += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3;
              std::memcpy(c + j, &vc, sizeof(Vec));
            }
            for (; j < nb; ++j) c[j] += a0 * b[j] + a1 * b[nb + j] + a2 * b[2 * nb + j] + a3 * b[3 * nb + j];
          }
          for (; k < kc; ++k) {
            const T a = a_at(k);
            const T* b = bp + k * nb;
            for (int64_t j = 0; j < nb; ++j) c[j] += a * b[j];
          }
        }
      }
    }
  });
}

}  // namespace mixt::blas
