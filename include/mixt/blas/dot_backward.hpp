// Recording dot and batch_dot for backward (MXNet records them as it does every nd operation). For the product
// C = alpha * op(A) . op(B), where A and B are the operands as the GEMM sees them (matrices, or batches of
// matrices, in their stored layout) and op() applies the transpose flag:
//   dA = alpha * dC . op(B)^T, or alpha * op(B) . dC^T stored transposed (transpose_a)
//   dB = alpha * op(A)^T . dC, or alpha * dC^T . op(A) stored transposed (transpose_b)
// Each is one product over the operands' own storage, recorded in turn under autograd::grad's create_graph, so
// second derivatives through products work.
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
  const char* op;
  bool need_lhs, need_rhs;

  /// alpha * op(L) . op(R) as a new array of shape `out`, for L stored as (batches of) Lr x Lc matrices and R as
  /// Rr x Rc ones: a DotExpr on the forward's own runner (so a program using only dot compiles no batched
  /// loops), whose materialize() records it in turn.
  NDArray product(const NDArray& L, int64_t Lr, int64_t Lc, bool tL, const NDArray& R, int64_t Rr, int64_t Rc,
                  bool tR, const Shape& out) const {
    DotExpr d;
    d.lhs = L;
    d.rhs = R;
    d.gemm.out = out;
    d.gemm.batch = gemm.batch;
    d.gemm.M = tL ? Lc : Lr;
    d.gemm.K = tL ? Lr : Lc;
    d.gemm.N = tR ? Rr : Rc;
    d.gemm.lda = std::max<int64_t>(1, Lc);
    d.gemm.ldb = std::max<int64_t>(1, Rc);
    d.gemm.ta = tL;
    d.gemm.tb = tR;
    d.gemm.run = gemm.run;
    d.alpha = alpha;
    d.op = op;
    return d.materialize();
  }

  std::vector<NDArray> operator()(const std::vector<NDArray>& og) const {
    const GemmShape& g = gemm;
    const int64_t Ar = g.ta ? g.K : g.M, Ac = g.ta ? g.M : g.K, Br = g.tb ? g.N : g.K, Bc = g.tb ? g.K : g.N;
    const NDArray& dC = og[0];  // (batches of) M x N
    std::vector<NDArray> grads(2);
    if (need_lhs)
      grads[0] = g.ta ? product(rhs, Br, Bc, g.tb, dC, g.M, g.N, true, lhs.shape())
                      : product(dC, g.M, g.N, false, rhs, Br, Bc, !g.tb, lhs.shape());
    if (need_rhs)
      grads[1] = g.tb ? product(dC, g.M, g.N, true, lhs, Ar, Ac, g.ta, rhs.shape())
                      : product(lhs, Ar, Ac, !g.ta, dC, g.M, g.N, false, rhs.shape());
    return grads;
  }
};

}  // namespace dot_detail

}  // namespace mixt::expr

namespace mixt::autograd::detail {

inline void record_product(const expr::DotExpr& d, NDArray& out) {
  Node& node = record_node(d.op, out, {d.lhs.autograd_entry(), d.rhs.autograd_entry()},
                           expr::dot_detail::ProductBackward{d.lhs, d.rhs, d.gemm, d.alpha, d.op,
                                                             bool(d.lhs.autograd_entry()),
                                                             bool(d.rhs.autograd_entry())});
  save_read(node, d.lhs);
  save_read(node, d.rhs);
}

}  // namespace mixt::autograd::detail
