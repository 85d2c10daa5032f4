// The portable GEMM: C = alpha * op(A) * op(B) + beta * C for float and double, row-major, used when no CBLAS is
// linked. Built the way optimized BLAS libraries are (Goto's algorithm, as described in the BLIS papers):
//
//   for each NC-wide column block of C (jc)
//     for each KC-deep slice of the inner dimension (pc)
//       pack op(B)[pc, jc] into NR-wide micro-panels  (shared; stays in L3, one micro-panel in L1)
//       in parallel over rows of C (or over columns when C has few rows):
//         for each MC-high row block: pack op(A) into MR-high micro-panels (per thread; stays in L2)
//           for every MR x NR tile: the micro-kernel, a rank-KC update held entirely in registers.
//
// The micro-kernel is written with GCC/Clang vector extensions: 6 rows x 2 vectors of accumulators, i.e. a 6x32
// float tile with AVX-512 (12 of the 32 zmm registers), 6x16 with AVX2 (12 of the 16 ymm) and 6x8 with SSE2. Packing pads partial panels with
// zeros, so the kernel never branches on the edges; only the write-back of edge tiles does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "../core/config.hpp"
#include "../core/thread_pool.hpp"

// Full unrolling keeps the accumulators in registers (nvcc's front end does not know GCC's pragma).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define MIXT_GEMM_PRAGMA(x) _Pragma(#x)
#define MIXT_GEMM_UNROLL(n) MIXT_GEMM_PRAGMA(GCC unroll n)
#else
#define MIXT_GEMM_UNROLL(n)
#endif

namespace mixt::blas {
namespace portable {

#if defined(__AVX512F__)
inline constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
inline constexpr int kVectorBytes = 32;
#else
inline constexpr int kVectorBytes = 16;
#endif

/// Register and cache blocking for element type T.
template <class T>
struct Blocking {
  typedef T Vec __attribute__((vector_size(kVectorBytes)));
  static constexpr int W = kVectorBytes / int(sizeof(T));  ///< elements per vector
  static constexpr int MR = 6;                             ///< rows of the register tile
  static constexpr int NV = 2;                             ///< vectors per row of the register tile
  static constexpr int NR = NV * W;                        ///< columns of the register tile
  static constexpr int64_t KC = 1024 / int(sizeof(T));     ///< depth: a KC x NR micro-panel of B, 16 KB (AVX2) or 32 KB (AVX-512), in L1
  static constexpr int64_t MC = 16 * MR;                   ///< rows of A packed at once (MC x KC in L2)
  static constexpr int64_t NC = 4096;                      ///< columns of B packed at once (KC x NC in L3)
};

/// A grow-only, 64-byte aligned scratch buffer; one per thread and purpose, so steady-state GEMMs allocate nothing.
class Scratch {
 public:
  ~Scratch() { release(); }
  void* get(size_t bytes) {
    if (bytes > bytes_) {
      release();
      ptr_ = ::operator new(bytes, std::align_val_t(64));
      bytes_ = bytes;
    }
    return ptr_;
  }

 private:
  void release() {
    if (ptr_) ::operator delete(ptr_, std::align_val_t(64));
    ptr_ = nullptr;
    bytes_ = 0;
  }
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

inline Scratch& scratch_a() {
  thread_local Scratch s;
  return s;
}
inline Scratch& scratch_b() {
  thread_local Scratch s;
  return s;
}

/// Packs rows [i0, i0+m) x depth [p0, p0+kc) of op(A) into MR-high micro-panels: panel r holds, for each p,
/// its MR values side by side. Rows past m are zero.
template <class T>
void pack_a(bool trans, const T* A, int64_t lda, int64_t i0, int64_t m, int64_t p0, int64_t kc, T* out) {
  constexpr int MR = Blocking<T>::MR;
  for (int64_t r = 0; r < m; r += MR) {
    const int64_t rows = std::min<int64_t>(MR, m - r);
    if (trans) {  // op(A)(i, p) = A[p * lda + i]: MR consecutive values per p
      const T* src = A + p0 * lda + (i0 + r);
      for (int64_t p = 0; p < kc; ++p, src += lda, out += MR) {
        int ii = 0;
        for (; ii < rows; ++ii) out[ii] = src[ii];
        for (; ii < MR; ++ii) out[ii] = T(0);
      }
    } else {  // op(A)(i, p) = A[i * lda + p]: MR rows read side by side
      const T* src = A + (i0 + r) * lda + p0;
      if (rows == MR) {
        for (int64_t p = 0; p < kc; ++p, out += MR)
          for (int ii = 0; ii < MR; ++ii) out[ii] = src[ii * lda + p];
      } else {
        for (int64_t p = 0; p < kc; ++p, out += MR) {
          int ii = 0;
          for (; ii < rows; ++ii) out[ii] = src[ii * lda + p];
          for (; ii < MR; ++ii) out[ii] = T(0);
        }
      }
    }
  }
}

/// Packs NR-wide micro-panels [jp0, jp1) of depth [p0, p0+kc) x columns [j0, j0+n) of op(B): panel q holds, for
/// each p, its NR values side by side. Columns past n are zero.
template <class T>
void pack_b(bool trans, const T* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t n, int64_t jp0,
            int64_t jp1, T* packed) {
  constexpr int NR = Blocking<T>::NR;
  for (int64_t q = jp0; q < jp1; ++q) {
    const int64_t c = q * NR, cols = std::min<int64_t>(NR, n - c);
    T* out = packed + q * NR * kc;
    if (!trans) {  // op(B)(p, j) = B[p * ldb + j]: NR consecutive values per p
      const T* src = B + p0 * ldb + (j0 + c);
      if (cols == NR) {
        for (int64_t p = 0; p < kc; ++p, src += ldb, out += NR) std::memcpy(out, src, sizeof(T) * NR);
      } else {
        for (int64_t p = 0; p < kc; ++p, src += ldb, out += NR) {
          int jj = 0;
          for (; jj < cols; ++jj) out[jj] = src[jj];
          for (; jj < NR; ++jj) out[jj] = T(0);
        }
      }
    } else {  // op(B)(p, j) = B[j * ldb + p]: NR columns read side by side
      const T* src = B + (j0 + c) * ldb + p0;
      for (int64_t p = 0; p < kc; ++p, out += NR) {
        int jj = 0;
        for (; jj < cols; ++jj) out[jj] = src[jj * ldb + p];
        for (; jj < NR; ++jj) out[jj] = T(0);
      }
    }
  }
}

/// A vector holding x in every lane (written lane by lane: `V{} + x` would add a real 0.0, to keep -0.0).
template <class V, class T, size_t... I>
MIXT_INLINE V broadcast(T x, std::index_sequence<I...>) {
  return V{((void)I, x)...};
}

/// The register tile: acc = sum over p of a[p] (MR values) x b[p] (NR values), then C = alpha * acc + beta * C on
/// the m x n corner of the tile (beta == 0: C is not read, as BLAS requires).
template <class T>
MIXT_INLINE void micro_kernel(int64_t kc, const T* MIXT_RESTRICT a, const T* MIXT_RESTRICT b, T* C, int64_t ldc,
                              int m, int n, T alpha, T beta) {
  using K = Blocking<T>;
  using V = typename K::Vec;
  constexpr int MR = K::MR, NV = K::NV, W = K::W, NR = K::NR;
  V acc[MR][NV];
MIXT_GEMM_UNROLL(16)
  for (int i = 0; i < MR; ++i)
MIXT_GEMM_UNROLL(4)
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};

MIXT_GEMM_UNROLL(4)
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
MIXT_GEMM_UNROLL(4)
    for (int v = 0; v < NV; ++v) std::memcpy(&bv[v], b + v * W, sizeof(V));
MIXT_GEMM_UNROLL(16)
    for (int i = 0; i < MR; ++i) {
      const V av = broadcast<V>(a[i], std::make_index_sequence<W>());
MIXT_GEMM_UNROLL(4)
      for (int v = 0; v < NV; ++v) acc[i][v] += av * bv[v];
    }
    a += MR;
    b += NR;
  }

  if (m == MR && n == NR) {
MIXT_GEMM_UNROLL(16)
    for (int i = 0; i < MR; ++i) {
      T* c = C + i * ldc;
MIXT_GEMM_UNROLL(4)
      for (int v = 0; v < NV; ++v) {
        V r = acc[i][v] * alpha;
        if (beta != T(0)) {
          V old;
          std::memcpy(&old, c + v * W, sizeof(V));
          r += beta == T(1) ? old : old * beta;
        }
        std::memcpy(c + v * W, &r, sizeof(V));
      }
    }
    return;
  }
  alignas(64) T tile[MR * NR];
  std::memcpy(tile, acc, sizeof(tile));
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      T r = alpha * tile[i * NR + j];
      C[i * ldc + j] = beta == T(0) ? r : r + beta * C[i * ldc + j];
    }
}

/// C = beta * C for an M x N block (beta == 0 writes zeros without reading C).
template <class T>
void scale(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  if (beta == T(1)) return;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
}

}  // namespace portable

/// C (M x N, leading dimension ldc) = alpha * op(A) * op(B) + beta * C, all row-major, where op(A) is M x K
/// (A is K x M when transA) and op(B) is K x N (B is N x K when transB). Runs on the CPU thread pool.
template <class T>
void portable_gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                   const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  using namespace portable;
  using Bk = Blocking<T>;
  constexpr int64_t MR = Bk::MR, NR = Bk::NR;
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) return scale(M, N, beta, C, ldc);

  const int threads = num_threads();
  const int64_t row_panels = (M + MR - 1) / MR;
  for (int64_t jc = 0; jc < N; jc += Bk::NC) {
    const int64_t nc = std::min(Bk::NC, N - jc);
    const int64_t col_panels = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < K; pc += Bk::KC) {
      const int64_t kc = std::min(Bk::KC, K - pc);
      const T beta_here = pc == 0 ? beta : T(1);
      T* packed_b = static_cast<T*>(scratch_b().get(sizeof(T) * size_t(col_panels * NR * kc)));
      parallel_for(col_panels, 8, [&](int64_t q0, int64_t q1) {
        pack_b(transB, B, ldb, pc, kc, jc, nc, q0, q1, packed_b);
      });

      // Row panels [r0, r1) x column panels [q0, q1) of this (jc, pc) block.
      auto run = [&](int64_t r0, int64_t r1, int64_t q0, int64_t q1) {
        T* packed_a = static_cast<T*>(scratch_a().get(sizeof(T) * size_t(Bk::MC * kc)));
        for (int64_t ic = r0 * MR; ic < std::min(M, r1 * MR); ic += Bk::MC) {
          const int64_t mc = std::min({Bk::MC, M - ic, r1 * MR - ic});
          pack_a(transA, A, lda, ic, mc, pc, kc, packed_a);
          for (int64_t q = q0; q < q1; ++q) {
            const int64_t j = q * NR, n = std::min(NR, nc - j);
            const T* bp = packed_b + q * NR * kc;
            for (int64_t ir = 0; ir < mc; ir += MR) {
              micro_kernel<T>(kc, packed_a + ir * kc, bp, C + (ic + ir) * ldc + jc + j, ldc,
                              int(std::min(MR, mc - ir)), int(n), alpha, beta_here);
            }
          }
        }
      };
      // Split the rows of C between threads when there are enough of them, else its columns.
      if (row_panels >= 2 * threads || row_panels >= col_panels)
        parallel_for(row_panels, 1, [&](int64_t r0, int64_t r1) { run(r0, r1, 0, col_panels); });
      else
        parallel_for(col_panels, 1, [&](int64_t q0, int64_t q1) { run(0, row_panels, q0, q1); });
    }
  }
}

}  // namespace mixt::blas
