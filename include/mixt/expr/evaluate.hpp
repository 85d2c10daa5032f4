// Evaluation points of fused expressions: NDArray(expr), `x += expr` and friends, x.assign(expr). Each one checks
// the operands (dtype, context, broadcast), builds the plan for the destination's dtype and pushes ONE kernel to
// the engine, reading every leaf's variable and writing the destination's.
#pragma once

#include <type_traits>

#include "../core/source_location.hpp"
#include "../memory/copy.hpp"
#include "cpu/evaluate.hpp"
#include "expr_dtypes.hpp"
#include "nodes.hpp"
#include "savers.hpp"
#if MIXT_USE_CUDA
#include "cuda/evaluate.cuh"
#endif

namespace mixt::expr {

/// The array leaves of an expression with their views.
struct LeafList {
  detail::InlineVector<const NDArray*, kInlineLeaves> arrays;
  LeafViews views;
};

/// The first array leaf, or a mixt::Error naming `op` when the expression has none.
inline const NDArray& first_array(const LeafList& leaves, const char* op) {
  if (leaves.arrays.empty()) detail::fail(op, "an expression needs at least one NDArray operand");
  return *leaves.arrays.front();
}

/// Appends one leaf (out of line: the same code for every leaf of every expression); `op` and `where` name the
/// evaluation in the error for an operand without storage.
[[gnu::noinline]] inline void add_leaf(LeafList& l, const NDArray& a, const LeafView& v, const char* op,
                                       const mixt::source_location& where) {
  if (a.is_none())
    detail::fail_at(where, op, "an operand of the expression is an empty NDArray (default-constructed, no storage)");
  l.arrays.push_back(&a);
  l.views.push_back(v);
}

template <FusedNode E>
LeafList collect_leaves(const E& e, const char* op, const mixt::source_location& where) {
  LeafList l;
  e.for_each_leaf([&](const NDArray& a, const LeafView& v) { add_leaf(l, a, v, op, where); });
  return l;
}

/// Checks that every leaf has `dtype` and lives on `ctx`.
inline void check_leaves(const LeafList& l, DType dtype, const Context& ctx, const char* op,
                         const mixt::source_location& where) {
  for (const NDArray* a : l.arrays) {
    if (a->dtype() != dtype)
      detail::fail_at(where, op, "operands have different dtypes: expected ", dtype_name(dtype), " (the destination's, "
                      "or the first operand's for a new array), received ", dtype_name(a->dtype()),
                      " from an operand of shape ", a->shape(), " (convert one with astype())");
    if (!(a->ctx() == ctx))
      detail::fail_at(where, op, "operands live on different contexts: expected ", ctx.to_string(), ", received ",
                      a->ctx().to_string(), " (move one with copyto() or as_in_context())");
  }
}

/// True when some leaf reads out's storage through a mapping other than out's own (an offset, a broadcast,
/// a transpose): then the value must be computed into a temporary first.
inline bool aliases_unsafely(const LeafList& l, const NDArray& out) {
  Strides own = contiguous_strides(out.shape());
  for (size_t i = 0; i < l.arrays.size(); ++i) {
    const NDArray* a = l.arrays[i];
    if (a->chunk() != out.chunk()) continue;
    if (a->byte_offset() != out.byte_offset() || !(l.views[i].shape == out.shape())) return true;
    for (int d = 0; d < out.ndim(); ++d)
      if (out.shape()[d] != 1 && l.views[i].strides[d] != own[d]) return true;
  }
  return false;
}

/// Pushes a copy of src's values into dst, which has the same size and dtype and may live on another device (a
/// byte copy: every array is contiguous). copyto between equal dtypes and the write-back of an expression's
/// temporary both use it.
[[gnu::noinline]] inline void push_byte_copy(const NDArray& src, const NDArray& dst, const char* op,
                                             const mixt::source_location& where) {
  const bool to_gpu = dst.ctx().is_gpu() && !src.ctx().is_gpu();
  const Context run_on = src.ctx().is_gpu() ? src.ctx() : dst.ctx();
  const auto prop = to_gpu ? engine::FnProperty::copy_to_gpu
                           : (src.ctx().is_gpu() ? engine::FnProperty::copy_from_gpu : engine::FnProperty::normal);
  engine::Engine::get().push(
      [from = src.raw_data(), from_ctx = src.ctx(), to = dst.raw_data(), to_ctx = dst.ctx(),
       bytes = size_t(dst.size()) * dtype_size(dst.dtype())](engine::RunContext rc) {
        memory::copy_bytes(to, to_ctx, from, from_ctx, bytes, rc);
      },
      run_on, {src.var()}, {dst.var()}, prop, op, where);
}

/// What an evaluation needs beyond the expression's type: computed once, by non-template code.
struct Prepared {
  Layout layout;
  detail::InlineVector<engine::Var*, kInlineLeaves> reads;
  bool nothing_to_do = false;  ///< the destination is empty
  bool needs_temporary = false;  ///< a leaf aliases the destination through another mapping
};

inline Prepared prepare(const NDArray& out, const LeafList& leaves, const Shape& value_shape, const char* op,
                        const mixt::source_location& where) {
  if (out.is_none()) detail::fail_at(where, op, "the destination is an empty NDArray");
  check_leaves(leaves, out.dtype(), out.ctx(), op, where);
  if (!broadcasts_to(value_shape, out.shape()))  // named as a write: the value's shape, then the destination's
    detail::fail_at(where, op, "a value of shape ", value_shape, " cannot be written to an array of shape ",
                    out.shape());
  Prepared p;
  if (out.size() == 0) {
    p.nothing_to_do = true;
    return p;
  }
  if (aliases_unsafely(leaves, out)) {
    p.needs_temporary = true;
    return p;
  }
  p.layout = make_layout(out.shape(), leaves.views);
  for (const NDArray* a : leaves.arrays) p.reads.push_back(a->var());  // the engine drops duplicates and out's
  return p;
}

/// The shape of e's value; a broadcast error is reported at the user's call.
template <FusedNode E>
Shape value_shape(const E& e, const mixt::source_location& where) {
  return detail::at_location(where, [&] { return e.shape(); });
}

/// Pushes out = Saver(out, e) as one kernel, given e's leaves and value shape (which must broadcast to out's).
template <class Saver, FusedNode E>
void evaluate_into(const NDArray& out, const E& e, const LeafList& leaves, const Shape& shape,
                   const mixt::source_location& where, const char* op) {
  Prepared prep = prepare(out, leaves, shape, op, where);
  if (prep.nothing_to_do) return;
  if (prep.needs_temporary) {  // evaluated into a fresh array first (no recording: this is one evaluation)
    NDArray tmp(out.shape(), out.ctx(), out.dtype());
    evaluate_into<save_write>(tmp, e, leaves, shape, where, op);
    if constexpr (std::is_same_v<Saver, save_write>) push_byte_copy(tmp, out, op, where);
    else evaluate_into<Saver>(out, ArrayLeaf{{}, tmp}, where, op);
    return;
  }
  expr_dtype_switch(out.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    using ET = compute_type_t<T>;
    int k = 0;
    auto plan = e.template plan<ET, T>(prep.layout, k);
    T* dst = out.data<T>();
    engine::Engine::get().push(
        // Raw pointers suffice: memory is freed through the engine, after every operation on its variable.
        [plan, dst, extents = Extents(prep.layout)](engine::RunContext rc) {
#if MIXT_USE_CUDA
          if (rc.ctx.is_gpu()) return cuda::run<Saver>(plan, dst, extents, rc.stream);
#endif
          (void)rc;
          cpu::run<Saver>(plan, dst, extents);
        },
        out.ctx(), prep.reads, {out.var()}, engine::FnProperty::normal, op, where);
  }, where);
}

/// Pushes out = Saver(out, e) as one kernel. e's shape must broadcast to out's shape.
template <class Saver, FusedNode E>
void evaluate_into(const NDArray& out, const E& e, const mixt::source_location& where, const char* op = nullptr) {
  if (!op) op = Saver::name;
  evaluate_into<Saver>(out, e, collect_leaves(e, op, where), value_shape(e, where), where, op);
}

/// A new array of `shape` with the dtype and context of the first leaf (every leaf shares them, as evaluation
/// checks).
inline NDArray array_for(const LeafList& leaves, const Shape& shape, const char* op) {
  const NDArray& first = first_array(leaves, op);
  return NDArray(shape, first.ctx(), first.dtype());
}

/// e evaluated into a new array, never recorded by autograd. Library code (operators run with recording off)
/// uses it instead of NDArray(e), which would compile e's recording (its conversion to a program) for nothing.
/// `op` names the evaluation in errors.
template <FusedNode E>
NDArray evaluate(const E& e, const LeafList& leaves, const mixt::source_location& where, const char* op) {
  const Shape shape = value_shape(e, where);
  NDArray out = array_for(leaves, shape, op);
  evaluate_into<save_write>(out, e, leaves, shape, where, op);
  return out;
}
template <FusedNode E>
NDArray evaluate(const E& e, const mixt::source_location& where = mixt::source_location::current(),
                 const char* op = "assign") {
  return evaluate(e, collect_leaves(e, op, where), where, op);
}

}  // namespace mixt::expr
