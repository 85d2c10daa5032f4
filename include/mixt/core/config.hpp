// Compile-time configuration of mixt. See DESIGN.md, contract 1.
//
// MIXT_USE_CUDA   on when the translation unit is compiled by nvcc (__CUDACC__); may be forced to 0.
// MIXT_USE_CBLAS  define to 1 when a CBLAS (OpenBLAS) is linked; otherwise the portable GEMM serves.
// MIXT_USE_CUDNN  define to 1 (with CUDA) when cuDNN is linked.
#pragma once

#include <cstddef>
#include <cstdint>

#ifndef MIXT_USE_CUDA
#if defined(__CUDACC__)
#define MIXT_USE_CUDA 1
#else
#define MIXT_USE_CUDA 0
#endif
#endif

#ifndef MIXT_USE_CBLAS
#define MIXT_USE_CBLAS 0
#endif

#ifndef MIXT_USE_CUDNN
#define MIXT_USE_CUDNN 0
#endif

#if MIXT_USE_CUDA
#define MIXT_HD __host__ __device__
#define MIXT_DEVICE __device__
#else
#define MIXT_HD
#define MIXT_DEVICE
#endif

#if defined(__GNUC__) || defined(__clang__)
#define MIXT_INLINE inline __attribute__((always_inline))
#define MIXT_RESTRICT __restrict__
#else
#define MIXT_INLINE inline
#define MIXT_RESTRICT
#endif

namespace mixt {

/// Arrays have between 0 and kMaxDim dimensions.
inline constexpr int kMaxDim = 8;

/// Version of the library, as MXNet encodes its own: major*10000 + minor*100 + patch.
inline constexpr int kVersion = 100;

}  // namespace mixt
