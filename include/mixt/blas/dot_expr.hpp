// nd::dot and nd::batch_dot: lazy matrix products (expr::DotExpr) that become ONE GEMM where they are evaluated.
//
//   NDArray c = dot(a, b);              GEMM, beta = 0
//   c += dot(a, b);                     GEMM, beta = 1 (c is read and written by the one operation)
//   w -= lr * dot(x.T(), g);            GEMM with alpha = -lr, beta = 1, transA folded from x.T()
//   dot(a, b) + bias                    the product is materialized, then the element-wise kernel runs
//
// Scalars multiplying or dividing a product (and unary minus) fold into alpha. Semantics are MXNet's (dot.cc):
//   1-D . 1-D: inner product, shape (1,); 1-D operands are vectors (their transpose flags change nothing).
//   N-D . M-D: sums over the last axis of lhs and the first axis of rhs: (n,m,k) . (k,r,s) -> (n,m,r,s), one GEMM
//     on the operands viewed as matrices. transpose_a views lhs as (shape[0], rest) transposed, i.e. sums over its
//     FIRST axis and keeps shape[1:]; transpose_b views rhs as (rest, shape[-1]) transposed, i.e. sums over its
//     LAST axis and keeps shape[:-1] — as MXNet does.
//   batch_dot: (B,M,K) . (B,K,N) -> (B,M,N); transpose_a takes lhs as (B,K,M), transpose_b rhs as (B,N,K).
// Operands must share dtype (float32 or float64) and context. Everything that does not depend on the element type
// (shapes, checks, the engine push) is plain non-template code.
#pragma once

#include <algorithm>
#include <vector>

#include "../core/source_location.hpp"
#include "../expr/nodes.hpp"
#include "../expr/operators.hpp"
#include "../expr/savers.hpp"
#include "../ndarray/ndarray_impl.hpp"
#include "gemm.hpp"

namespace mixt::expr {

namespace dot_detail {
struct GemmCall;
/// Runs a product in its engine operation. dot and batch_dot each set their own, so that a program using only
/// dot does not compile the batched loops.
using GemmRunner = void (*)(const engine::RunContext&, const GemmCall&);
template <bool Batched> void run_products(const engine::RunContext& rc, const GemmCall& c);
}  // namespace dot_detail

/// The GEMM (or batch of GEMMs) a product amounts to, in gemm.hpp's conventions; ldc == N.
struct GemmShape {
  Shape out;
  int64_t batch = 1, M = 0, N = 0, K = 0, lda = 1, ldb = 1;
  bool ta = false, tb = false;
  dot_detail::GemmRunner run = nullptr;
};

namespace dot_detail {

inline int64_t product(const int64_t* first, const int64_t* last) {
  int64_t n = 1;
  for (; first != last; ++first) n *= *first;
  return n;
}

inline void check_operands(const char* op, const NDArray& lhs, const NDArray& rhs, const mixt::source_location& where) {
  if (lhs.is_none() || rhs.is_none()) detail::fail_at(where, op, "an operand is an empty NDArray (no storage)");
  if (lhs.dtype() != rhs.dtype())
    detail::fail_at(where, op, "operands have different dtypes: lhs ", dtype_name(lhs.dtype()), ", rhs ",
                    dtype_name(rhs.dtype()), " (convert one with astype())");
  if (lhs.dtype() != DType::float32 && lhs.dtype() != DType::float64)
    detail::fail_at(where, op, "dtype ", dtype_name(lhs.dtype()), " is not supported (expected float32 or float64)");
  if (!(lhs.ctx() == rhs.ctx()))
    detail::fail_at(where, op, "operands live on different contexts: lhs ", lhs.ctx(), ", rhs ", rhs.ctx(),
                    " (move one with copyto() or as_in_context())");
}

[[noreturn]] inline void not_aligned(const char* op, const NDArray& lhs, const NDArray& rhs, int64_t kl, int la,
                                     int64_t kr, int ra, bool ta, bool tb, const mixt::source_location& where) {
  detail::fail_at(where, op, "shapes ", lhs.shape(), " and ", rhs.shape(), " are not aligned: ", kl, " (lhs axis ",
                  la, ta ? ", transpose_a" : "", ") != ", kr, " (rhs axis ", ra, tb ? ", transpose_b" : "", ")");
}

/// Checks dot's operands and works out its GEMM.
inline GemmShape dot_shape(const NDArray& lhs, const NDArray& rhs, bool ta, bool tb,
                           const mixt::source_location& where) {
  check_operands("dot", lhs, rhs, where);
  const Shape &l = lhs.shape(), &r = rhs.shape();
  if (l.ndim() == 0 || r.ndim() == 0)
    detail::fail_at(where, "dot", "operands must have at least 1 dimension, received shapes ", l, " and ", r);
  GemmShape g;
  Shape out;
  int64_t kl, kr;
  int la, ra;
  if (l.ndim() == 1) {  // a row vector
    g.M = 1, kl = l[0], la = 0, ta = false;
  } else if (!ta) {
    g.M = product(l.begin(), l.end() - 1), kl = l[l.ndim() - 1], la = l.ndim() - 1;
    for (int d = 0; d < l.ndim() - 1; ++d) out.push_back(l[d]);
  } else {
    kl = l[0], g.M = product(l.begin() + 1, l.end()), la = 0;
    for (int d = 1; d < l.ndim(); ++d) out.push_back(l[d]);
  }
  if (r.ndim() == 1) {  // a column vector
    g.N = 1, kr = r[0], ra = 0, tb = false;
  } else if (!tb) {
    kr = r[0], g.N = product(r.begin() + 1, r.end()), ra = 0;
    for (int d = 1; d < r.ndim(); ++d) out.push_back(r[d]);
  } else {
    g.N = product(r.begin(), r.end() - 1), kr = r[r.ndim() - 1], ra = r.ndim() - 1;
    for (int d = 0; d < r.ndim() - 1; ++d) out.push_back(r[d]);
  }
  if (kl != kr) not_aligned("dot", lhs, rhs, kl, la, kr, ra, ta, tb, where);
  if (l.ndim() == 1 && r.ndim() == 1) out = Shape{1};
  g.K = kl;
  g.ta = ta, g.tb = tb;
  g.lda = std::max<int64_t>(1, ta ? g.M : g.K);
  g.ldb = std::max<int64_t>(1, tb ? g.K : g.N);
  g.out = out;
  g.run = &run_products<false>;
  return g;
}

/// Checks batch_dot's operands and works out its batch of GEMMs.
inline GemmShape batch_dot_shape(const NDArray& lhs, const NDArray& rhs, bool ta, bool tb,
                                 const mixt::source_location& where) {
  check_operands("batch_dot", lhs, rhs, where);
  const Shape &l = lhs.shape(), &r = rhs.shape();
  if (l.ndim() != 3 || r.ndim() != 3)
    detail::fail_at(where, "batch_dot", "operands must be 3-D (batch, rows, columns), received shapes ", l, " and ", r);
  if (l[0] != r[0])
    detail::fail_at(where, "batch_dot", "batch sizes differ: lhs ", l, " has ", l[0], ", rhs ", r, " has ", r[0]);
  GemmShape g;
  g.batch = l[0];
  g.M = ta ? l[2] : l[1];
  g.N = tb ? r[1] : r[2];
  const int64_t kl = ta ? l[1] : l[2], kr = tb ? r[2] : r[1];
  if (kl != kr) not_aligned("batch_dot", lhs, rhs, kl, ta ? 1 : 2, kr, tb ? 2 : 1, ta, tb, where);
  g.K = kl;
  g.ta = ta, g.tb = tb;
  g.lda = std::max<int64_t>(1, ta ? g.M : g.K);
  g.ldb = std::max<int64_t>(1, tb ? g.K : g.N);
  g.out = Shape{g.batch, g.M, g.N};
  g.run = &run_products<true>;
  return g;
}

/// One product as its engine operation runs it: trivially copyable, with raw pointers (memory is freed through
/// the engine, after every operation on its variable).
struct GemmCall {
  int64_t batch, M, N, K, lda, ldb;
  bool ta, tb, f32;
  const void* A;
  const void* B;
  void* C;
  double alpha, beta;
};

template <class T, bool Batched>
void run_gemm(const engine::RunContext& rc, const GemmCall& c) {
  const T* A = static_cast<const T*>(c.A);
  const T* B = static_cast<const T*>(c.B);
  T* C = static_cast<T*>(c.C);
  const int64_t ldc = std::max<int64_t>(1, c.N);
  if constexpr (!Batched)
    blas::gemm<T>(rc, c.ta, c.tb, c.M, c.N, c.K, T(c.alpha), A, c.lda, B, c.ldb, T(c.beta), C, ldc);
  else
    blas::gemm_strided_batched<T>(rc, c.ta, c.tb, c.M, c.N, c.K, T(c.alpha), A, c.lda, c.M * c.K, B, c.ldb,
                                  c.K * c.N, T(c.beta), C, ldc, c.M * c.N, c.batch);
}

template <bool Batched>
void run_products(const engine::RunContext& rc, const GemmCall& c) {
  if (c.f32) run_gemm<float, Batched>(rc, c);
  else run_gemm<double, Batched>(rc, c);
}

/// out = alpha * product (+ out when accumulating), element-wise.
template <class T>
struct ScaledAddKernel {
  const T* product;
  T* out;
  T alpha;
  bool accumulate;
  MIXT_HD void operator()(int64_t i) const {
    const T scaled = alpha * product[i];
    out[i] = accumulate ? out[i] + scaled : scaled;
  }
};

/// Pushes out = alpha * lhs . rhs + beta * out (beta 0 or 1; 0: out is not read) as one engine operation (reads
/// lhs, rhs; writes out). A zero alpha (`dot(a, b) * 0`, a learning rate of 0) takes two: a BLAS may read no
/// operand when alpha is 0 (the portable GEMM does not), so an inf or NaN in the product would vanish where the
/// unfused `* 0` gives NaN. The product is computed in full and then scaled.
inline void push_gemm(const GemmShape& g, const NDArray& lhs, const NDArray& rhs, const NDArray& out, double alpha,
                      double beta, const char* op, const mixt::source_location& where) {
  if (out.size() == 0) return;
  if (alpha == 0) {
    NDArray product(out.shape(), out.ctx(), out.dtype());
    push_gemm(g, lhs, rhs, product, 1, 0, op, where);
    engine::Engine::get().push(
        [p = product.raw_data(), o = out.raw_data(), n = out.size(), f32 = out.dtype() == DType::float32, alpha,
         accumulate = beta != 0](engine::RunContext rc) {
          auto run = [&](auto zero) {
            using T = decltype(zero);
            launch(rc, n, ScaledAddKernel<T>{static_cast<const T*>(p), static_cast<T*>(o), T(alpha), accumulate});
          };
          if (f32) run(0.f);
          else run(0.0);
        },
        out.ctx(), {product.var()}, {out.var()}, engine::FnProperty::normal, op, where);
    return;
  }
  const GemmCall call{g.batch, g.M, g.N, g.K, g.lda, g.ldb, g.ta, g.tb, out.dtype() == DType::float32,
                      lhs.raw_data(), rhs.raw_data(), out.raw_data(), alpha, beta};
  engine::Engine::get().push([call, run = g.run](engine::RunContext rc) { run(rc, call); }, out.ctx(),
                             {lhs.var(), rhs.var()}, {out.var()}, engine::FnProperty::normal, op, where);
}

/// Checks that `out` can receive the product, and whether it shares storage with an operand.
inline bool check_destination(const GemmShape& g, const NDArray& lhs, const NDArray& rhs, const NDArray& out,
                              const char* op, const char* saver, const mixt::source_location& where) {
  if (out.is_none()) detail::fail_at(where, op, "the destination of ", saver, " is an empty NDArray");
  if (!(out.shape() == g.out))
    detail::fail_at(where, op, "the product has shape ", g.out, ", the destination of ", saver, " has shape ",
                    out.shape());
  if (out.dtype() != lhs.dtype())
    detail::fail_at(where, op, "the product is ", dtype_name(lhs.dtype()), ", the destination of ", saver, " is ",
                    dtype_name(out.dtype()));
  if (!(out.ctx() == lhs.ctx()))
    detail::fail_at(where, op, "the product lives on ", lhs.ctx(), ", the destination of ", saver, " on ", out.ctx());
  return out.chunk() == lhs.chunk() || out.chunk() == rhs.chunk();
}

/// dst = src for arrays of one shape, dtype and context: a byte copy (NDArray::copy() would also compile every
/// dtype conversion into each user of dot).
inline void copy_values(const NDArray& src, const NDArray& dst, const char* op, const mixt::source_location& where) {
  if (dst.size() == 0) return;
  engine::Engine::get().push(
      [src, dst](engine::RunContext rc) {
        memory::copy_bytes(dst.raw_data(), dst.ctx(), src.raw_data(), src.ctx(),
                           size_t(src.size()) * dtype_size(src.dtype()), rc);
      },
      dst.ctx(), {src.var()}, {dst.var()}, engine::FnProperty::normal, op, where);
}

/// out = alpha * product + beta * out, where out shares storage with an operand: through a temporary.
inline void gemm_via_temporary(const GemmShape& g, const NDArray& lhs, const NDArray& rhs, const NDArray& out,
                               double alpha, double beta, const char* op, const mixt::source_location& where) {
  NDArray tmp(out.shape(), out.ctx(), out.dtype());
  if (beta != 0) copy_values(out, tmp, op, where);
  push_gemm(g, lhs, rhs, tmp, alpha, beta, op, where);
  copy_values(tmp, out, op, where);
}

}  // namespace dot_detail

/// A pending product alpha * op(lhs) . op(rhs) (or a batch of them). Materializable: evaluation points call
/// materialize() or assign_into<Saver>(out); inside element-wise expressions it is materialized first.
struct DotExpr : ExprTag {
  NDArray lhs, rhs;
  GemmShape gemm;
  double alpha = 1;
  const char* op = "dot";
  mixt::source_location where;

  Shape shape() const { return gemm.out; }

  NDArray materialize() const {
    NDArray out(gemm.out, lhs.ctx(), lhs.dtype());
    dot_detail::push_gemm(gemm, lhs, rhs, out, alpha, 0, op, where);
    // Through the recorder autograd::record installs: a program that never records compiles no tape code.
    if (autograd::is_recording() && (lhs.autograd_entry() || rhs.autograd_entry()))
      autograd::detail::state().product_recorder(*this, out);
    return out;
  }

  /// out = Saver(out, value): `=`, `+=` and `-=` are one GEMM (beta 0 or 1, alpha negated for `-=`); `*=` and
  /// `/=` compute the product into a temporary and apply it element-wise.
  template <class Saver>
  void assign_into(const NDArray& out) const {
    constexpr bool is_write = std::is_same_v<Saver, save_write>, is_add = std::is_same_v<Saver, save_add>,
                   is_sub = std::is_same_v<Saver, save_sub>;
    if constexpr (is_write || is_add || is_sub) {
      const bool aliased = dot_detail::check_destination(gemm, lhs, rhs, out, op, Saver::name, where);
      const double a = is_sub ? -alpha : alpha, beta = is_write ? 0 : 1;
      if (aliased) dot_detail::gemm_via_temporary(gemm, lhs, rhs, out, a, beta, op, where);
      else dot_detail::push_gemm(gemm, lhs, rhs, out, a, beta, op, where);
    } else {
      // Checked before the GEMM runs, so that the error names the product (and no work is wasted).
      if (out.is_none() || !broadcasts_to(gemm.out, out.shape()))
        detail::fail_at(where, op, "the product has shape ", gemm.out, ", which does not broadcast to the ",
                        "destination of ", Saver::name, ", of shape ", out.is_none() ? Shape() : out.shape());
      NDArray value = materialize();
      evaluate_into<Saver>(out, ArrayLeaf{{}, value}, where, Saver::name);
    }
  }
};

// --- folding scalars into alpha (more specialized than the generic operators of operators.hpp) ----------------
template <ScalarOperand S>
DotExpr operator*(const S& s, const DotExpr& d) {
  DotExpr r = d;
  r.alpha *= static_cast<double>(s);
  return r;
}
template <ScalarOperand S>
DotExpr operator*(const DotExpr& d, const S& s) {
  return s * d;
}
template <ScalarOperand S>
DotExpr operator/(const DotExpr& d, const S& s) {
  DotExpr r = d;
  r.alpha /= static_cast<double>(s);
  return r;
}
inline DotExpr operator-(const DotExpr& d) {
  DotExpr r = d;
  r.alpha = -r.alpha;
  return r;
}

namespace dot_detail {

/// An operand of dot as an array, and whether it arrived lazily transposed (x.T()): the flag folds into the GEMM.
struct Operand {
  NDArray array;
  bool transposed = false;
};
inline Operand operand(const NDArray& a) { return {a, false}; }
inline Operand operand(const Transposed<NDArray>& t) {
  // Only a matrix transpose folds into a GEMM flag. Materializing N-D reversed axes here would compile the
  // element-wise evaluator into every user of dot; the caller can write NDArray(x.T()) where that is meant.
  if (t.array.ndim() > 2)
    detail::fail("dot", "x.T() folds into dot only for 1-D and 2-D arrays, x has shape ", t.array.shape(),
                 " (use transpose_a / transpose_b, or pass NDArray(x.T()) to reverse all axes)");
  return {t.array, t.array.ndim() == 2};  // a vector is its own transpose
}
template <ExprNode E>
Operand operand(const E& e) { return {NDArray(e), false}; }

template <class T>
concept DotOperand = ExprNode<T> || std::same_as<std::remove_cvref_t<T>, NDArray>;

}  // namespace dot_detail

/// MXNet's dot(lhs, rhs, transpose_a, transpose_b): a lazy product (see the top of this file). x.T() operands of
/// 1 or 2 dimensions fold into the transpose flags (of more, they are rejected); other expressions are evaluated
/// first.
template <dot_detail::DotOperand A, dot_detail::DotOperand B>
DotExpr dot(const A& lhs, const B& rhs, bool transpose_a = false, bool transpose_b = false,
            mixt::source_location where = mixt::source_location::current()) {
  dot_detail::Operand l = dot_detail::operand(lhs), r = dot_detail::operand(rhs);
  DotExpr d;
  d.gemm = dot_detail::dot_shape(l.array, r.array, transpose_a != l.transposed, transpose_b != r.transposed, where);
  d.lhs = std::move(l.array);
  d.rhs = std::move(r.array);
  d.where = where;
  return d;
}

/// MXNet's batch_dot: (B,M,K) . (B,K,N) -> (B,M,N), with transpose_a / transpose_b on each matrix of the batch.
template <dot_detail::DotOperand A, dot_detail::DotOperand B>
DotExpr batch_dot(const A& lhs, const B& rhs, bool transpose_a = false, bool transpose_b = false,
                  mixt::source_location where = mixt::source_location::current()) {
  DotExpr d;
  d.lhs = NDArray(lhs);
  d.rhs = NDArray(rhs);
  d.gemm = dot_detail::batch_dot_shape(d.lhs, d.rhs, transpose_a, transpose_b, where);
  d.op = "batch_dot";
  d.where = where;
  return d;
}

}  // namespace mixt::expr

namespace mixt {
using expr::batch_dot;
using expr::dot;
namespace nd {
using expr::batch_dot;
using expr::dot;
}  // namespace nd
}  // namespace mixt

#include "dot_backward.hpp"
