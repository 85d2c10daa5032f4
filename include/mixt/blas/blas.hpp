// Umbrella header of mixt/blas: GEMM on every back end (cuBLAS, CBLAS, the portable GEMM) and the lazy matrix
// products nd::dot and nd::batch_dot.
#pragma once
#include "gemm.hpp"
#include "dot_expr.hpp"
