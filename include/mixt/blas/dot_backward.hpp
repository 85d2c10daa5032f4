// Recording dot and batch_dot for backward (MXNet records them as it does every nd operation). For the product
// C = alpha * op(A) . op(B), where A and B are the operands as the GEMM sees them (matrices, or batches of
// matrices, in their stored layout) and op() applies the transpose flag:
//   dA = alpha * dC . op(B)^T, or alpha * op(B) . dC^T stored transposed (transpose_a)
//   dB = alpha * op(A)^T . dC, or alpha * dC^T . op(A) stored transposed (transpose_b)
// Each is one dot (batch_dot) over views of the same storage, so it is recorded in turn under autograd::grad's
// create_graph, and second derivatives through products work.
#pragma once

#include <vector>

#include "dot_expr.hpp"

namespace mixt::expr {

namespace dot_detail {

/// The backward of one product; `gemm` as the forward computed it.
struct ProductBackward {
  NDArray lhs, rhs;
  GemmShape gemm;
  double alpha;
  bool batched, need_lhs, need_rhs;

  /// x viewed as (rows, cols), or (batch, rows, cols) for batch_dot.
  NDArray as_matrices(const NDArray& x, int64_t rows, int64_t cols) const {
    return x.view(batched ? Shape{gemm.batch, rows, cols} : Shape{rows, cols}, x.byte_offset());
  }
  NDArray product(const NDArray& a, const NDArray& b, bool ta, bool tb, const Shape& shape) const {
    NDArray r = batched ? NDArray(alpha * batch_dot(a, b, ta, tb)) : NDArray(alpha * dot(a, b, ta, tb));
    return r.view(shape, r.byte_offset());
  }

  std::vector<NDArray> operator()(const std::vector<NDArray>& og) const {
    const GemmShape& g = gemm;
    const NDArray A = as_matrices(lhs, g.ta ? g.K : g.M, g.ta ? g.M : g.K),
                  B = as_matrices(rhs, g.tb ? g.N : g.K, g.tb ? g.K : g.N), dC = as_matrices(og[0], g.M, g.N);
    std::vector<NDArray> grads(2);
    if (need_lhs)
      grads[0] = g.ta ? product(B, dC, g.tb, true, lhs.shape()) : product(dC, B, false, !g.tb, lhs.shape());
    if (need_rhs)
      grads[1] = g.tb ? product(dC, A, true, g.ta, rhs.shape()) : product(A, dC, !g.ta, false, rhs.shape());
    return grads;
  }
};

}  // namespace dot_detail

inline void DotExpr::record(NDArray& out) const {
  const bool batched = gemm.run == &dot_detail::run_products<true>;
  autograd::detail::record_node(
      op, out, {lhs.autograd_entry(), rhs.autograd_entry()},
      dot_detail::ProductBackward{lhs, rhs, gemm, alpha, batched, bool(lhs.autograd_entry()),
                                  bool(rhs.autograd_entry())});
}

}  // namespace mixt::expr
