// Recording onto the tape. A fused expression evaluated while recording becomes ONE node holding the expression as
// a program (expr/program.hpp). Its backward derives each leaf's adjoint at run time (program_derivatives.hpp) and
// evaluates it as one fused kernel, reduced over the axes the leaf was broadcast along; while recording (autograd
// grad with create_graph) those kernels are recorded in turn, so gradients of any order work. Library operators
// record their registered backward; views of recorded arrays record how to put the view's gradient back into the
// base's shape.
//
// DESIGN.md (contract 7) has the backward derived at compile time from the expression's type. mixt did that until
// 2026-12-02; it cost each recorded expression about 0.4 s of g++ time and kept the compile-time target out of
// reach (benchmarks/RESULTS.md). The derivative is still one fused kernel per leaf, its rules live in one place
// (program_derivatives.hpp), and, being run-time rules, they can also serve a Symbol gradient pass.
#pragma once

#include <memory>
#include <vector>

#include "../core/source_location.hpp"
#include "../expr/evaluate_program.hpp"
#include "../expr/program.hpp"
#include "node.hpp"
#include "program_derivatives.hpp"
#include "state.hpp"
#include "sum_to.hpp"

namespace mixt::autograd::detail {

inline std::shared_ptr<Node> new_node(const char* name, const NDArray& out) {
  auto n = std::make_shared<Node>();
  n->name = name;
  n->out_shapes = {out.shape()};
  n->dtype = out.dtype();
  n->ctx = out.ctx();
  return n;
}

/// Notes that n's backward reads a's values (Node::saved).
inline void save_read(Node& n, const NDArray& a) {
  if (!a.is_none()) n.saved.emplace_back(a.var(), a.var()->writes_pushed.load(std::memory_order_relaxed));
}

/// Makes `out` the output of a new tape node, returned so that the caller can note what its backward reads (out
/// of line: the same for every expression and operator).
[[gnu::noinline]] inline Node& record_node(const char* name, NDArray& out, std::vector<Entry> inputs,
                                           Node::Backward backward) {
  std::shared_ptr<Node> node = new_node(name, out);
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  Node& n = *node;
  out.set_autograd_entry(Entry{std::move(node), 0});
  return n;
}

inline void record_program(expr::Program&& p, NDArray& out);

/// p evaluated into a new array, and recorded when recording is on.
[[gnu::noinline]] inline NDArray evaluate_recorded(const expr::Program& p) {
  NDArray out = expr::evaluate_program(p, "backward");
  if (is_recording()) record_program(expr::Program(p), out);
  return out;
}

/// The backward of one recorded expression: one fused kernel per leaf that needs a gradient.
struct ProgramBackward {
  std::shared_ptr<const expr::Program> forward;  ///< holds the leaves' handles
  std::vector<bool> needs;                       ///< per leaf: whether it is tracked

  std::vector<NDArray> operator()(const std::vector<NDArray>& og) const {
    expr::Program p = *forward;
    const int value = p.output();
    const int g = p.add_leaf(og[0], expr::contiguous_view(og[0].shape()), 0, expr::LeafKind::plain);
    const std::vector<int> adjoint = append_adjoints(p, value, g);
    std::vector<NDArray> grads(forward->leaves.size());
    for (size_t k = 0; k < grads.size(); ++k) {
      if (!needs[k]) continue;
      const expr::ProgramLeaf& leaf = forward->leaves[k];
      if (leaf.kind == expr::LeafKind::strided)
        mixt::detail::fail("backward", "gradients through strided views read inside an expression (transpose "
                           "with axes, slice_axis) are not supported yet; materialize the view with copy() first");
      if (adjoint[k] < 0) continue;  // no gradient flows to this leaf
      NDArray gk = evaluate_recorded(p.pruned(adjoint[k]));
      const Shape& own = leaf.array.shape();
      const bool transposed = leaf.kind == expr::LeafKind::transposed;
      if (transposed && is_recording() && gk.ndim() == own.ndim() && gk.size() == own.size()) {
        expr::Program t;  // transposed back by a recorded copy, to stay differentiable
        t.add_leaf(gk, expr::reversed_view(gk.shape()), 0, expr::LeafKind::transposed);
        grads[k] = evaluate_recorded(t);
        continue;
      }
      if (!transposed && gk.shape() == own) {
        grads[k] = std::move(gk);
        continue;
      }
      // Summed over the axes the leaf was broadcast along (and transposed back); while recording, that sum is
      // on the tape too, with a broadcast as its backward.
      grads[k] = sum_to(gk, own, transposed);
      record_copy("sum_to", gk, grads[k], [shape = gk.shape(), transposed](const NDArray& h) {
        return (transposed ? h.transpose() : h).broadcast_to(shape);
      });
    }
    return grads;
  }
};

inline void record_program(expr::Program&& p, NDArray& out) {
  std::vector<Entry> inputs;
  std::vector<bool> needs;
  bool any = false;
  for (const expr::ProgramLeaf& l : p.leaves) {
    inputs.push_back(l.array.autograd_entry());
    needs.push_back(bool(inputs.back()));
    any = any || needs.back();
  }
  if (!any) return;
  auto forward = std::make_shared<const expr::Program>(std::move(p));
  Node& node = record_node("expression", out, std::move(inputs), ProgramBackward{forward, std::move(needs)});
  for (const expr::ProgramLeaf& l : forward->leaves) save_read(node, l.array);
}

/// Whether any array p reads is on the tape (a variable or recorded).
inline bool any_tracked(const expr::ProgramDraft& p) {
  for (const NDArray* a : p.arrays)
    if (a->autograd_entry()) return true;
  return false;
}

/// Checks that the backward of p will fit a plan (program_plan.hpp), so that the error comes while recording
/// rather than in backward, where nothing could be done about it. The backward adds a leaf (the head gradient);
/// its size depends on the rules (erf's derivative takes 6 instructions, a sum 1), so beyond a size whose backward
/// surely fits, the backward programs are built and scheduled here as backward will.
inline void check_backward_fits(const expr::ProgramDraft& p) {
  constexpr size_t kLeaves = expr::kProgramMaxLeaves - 1, kSurelyFits = 20;
  if (p.arrays.size() > kLeaves)
    mixt::detail::fail("autograd", "an expression recorded for backward may have at most ", kLeaves,
                       " array operands; received ", p.arrays.size(), " (evaluate part of it into an NDArray first)");
  if (p.code.size() <= kSurelyFits && p.constants.size() <= kSurelyFits) return;
  expr::Program prog(p);
  const int value = prog.output();
  const int g = prog.add_leaf(*p.arrays[0], expr::contiguous_view(Shape{}), 0, expr::LeafKind::plain);
  const std::vector<int> adjoint = append_adjoints(prog, value, g);
  for (size_t k = 0; k < p.arrays.size(); ++k) {  // the head gradient's leaf, last, needs no adjoint
    if (adjoint[k] < 0 || !p.arrays[k]->autograd_entry()) continue;
    try {
      expr::schedule(prog.pruned(adjoint[k]), "autograd");
    } catch (const Error& e) {
      mixt::detail::fail("autograd", "the backward of an expression recorded here would be too big: ", e.message());
    }
  }
}

/// Records an expression of the user's.
inline void record_draft(const expr::ProgramDraft& p, NDArray& out, const mixt::source_location& where) {
  if (!any_tracked(p)) return;
  mixt::detail::at_location(where, [&] { check_backward_fits(p); });
  record_program(expr::Program(p), out);
}

/// Puts out = e on the tape. Only the conversion to a program is compiled per expression; the rest goes through
/// the recorder, which set_recording installs.
template <expr::FusedNode E>
void record_expression(const E& e, NDArray& out, const mixt::source_location& where) {
  expr::ProgramDraft p;
  expr::to_program(p, e);
  state().recorder(p, out, where);
}

/// Records `out`, a copy of `in` moved, converted or rearranged (copy, copyto, astype, transpose, slice_axis,
/// broadcast_to), whose gradient is back(out's gradient). These backward copies are recorded in turn where they
/// are themselves recorded operations.
template <class Back>
void record_copy(const char* name, const NDArray& in, NDArray& out, Back back) {
  if (!is_recording() || !in.autograd_entry()) return;
  record_node(name, out, {in.autograd_entry()},
              [back](const std::vector<NDArray>& og) { return std::vector<NDArray>{back(og[0])}; });
}

/// A view `v` of `base` (contiguous, at a byte offset): its gradient lands in the matching part of base's.
inline void record_view(const NDArray& base, NDArray& v) {
  if (!base.autograd_entry() || !is_recording()) {
    v.set_autograd_entry({});
    return;
  }
  auto node = new_node("view", v);
  node->inputs = {base.autograd_entry()};
  const Shape base_shape = base.shape();
  const size_t rel = v.byte_offset() - base.byte_offset();
  node->backward = [base_shape, rel](const std::vector<NDArray>& og) {
    const NDArray& g = og[0];
    // Plain views, fills and copies: this backward is compiled into every program that takes a view.
    if (rel == 0 && g.size() == base_shape.size()) return std::vector<NDArray>{g.view(base_shape, g.byte_offset())};
    NDArray full(base_shape, g.ctx(), g.dtype());
    mixt::detail::fill(full, 0.0, {});
    mixt::detail::copy_array(g, full.view(g.shape(), full.byte_offset() + rel), {});
    record_copy("view", g, full, [shape = g.shape(), rel](const NDArray& h) {  // the same view of full's gradient
      return h.view(shape, h.byte_offset() + rel);
    });
    return std::vector<NDArray>{full};
  };
  v.set_autograd_entry(Entry{std::move(node), 0});
}

/// Whether Saver's in-place write of `e` into `out`, made while recording, puts `out` on the tape (MXNet's rules).
/// An array already on the tape, a variable included, may not be overwritten: the backward reads the values the
/// tape saved. An array outside the tape that receives a recorded value by assign, += or -= (of its own shape)
/// joins the tape with that value's node; its old contents are a constant. Errors, raised before anything is
/// written: *= and /= of a recorded value and a value that reads its destination (the backward would need the
/// overwritten values), a broadcast write (no node to join), a write into a view (its base stays off the tape).
/// Arrays the tape read that are written later (through a view taken before recording, say) are caught by
/// backward (Node::saved).
template <class Saver, class E>
bool in_place_records(const NDArray& out, const E& e, const mixt::source_location& where, const char* op) {
  if (out.autograd_entry())
    mixt::detail::fail_at(where, op, "in-place operations (+=, -=, *=, /=, assign) are not supported while "
                          "recording on an array autograd recorded or that has attach_grad(): the backward reads "
                          "its values; compute a new array instead");
  if constexpr (std::is_arithmetic_v<E>) {
    return false;
  } else {
    bool tracked = false, reads_out = false;
    Shape shape;
    auto see = [&](const NDArray& a) {
      tracked = tracked || bool(a.autograd_entry());
      reads_out = reads_out || a.chunk() == out.chunk();
    };
    if constexpr (expr::Materializable<E>) {
      see(e.lhs);
      see(e.rhs);
      shape = e.shape();
    } else {
      const auto node = expr::as_node(e);
      node.for_each_leaf([&](const NDArray& a, const auto&) { see(a); });
      if (tracked) shape = node.shape();
    }
    if (!tracked) return false;
    if (reads_out)
      mixt::detail::fail_at(where, op, "a value autograd records cannot be written in place into an array it reads "
                            "(its backward would read the overwritten values); compute a new array instead");
    if (out.byte_offset() != 0 || size_t(out.size()) * dtype_size(out.dtype()) != out.chunk()->bytes())
      mixt::detail::fail_at(where, op, "a value autograd records cannot be written into part of an array (a view) "
                            "while recording: the rest of the array would stay off the tape; compute a new array");
    constexpr bool additive = std::is_same_v<Saver, expr::save_write> || std::is_same_v<Saver, expr::save_add> ||
                              std::is_same_v<Saver, expr::save_sub>;
    if (!additive)
      mixt::detail::fail_at(where, op, "a value autograd records cannot be multiplied or divided into an "
                            "array in place while recording (the backward would need the overwritten values); "
                            "write c = c * value instead");
    if (!(shape == out.shape()))
      mixt::detail::fail_at(where, op, "a value autograd records, of shape ", shape, ", cannot be ",
                            "broadcast into an array of shape ", out.shape(), " in place while recording; ",
                            "broadcast it first (broadcast_to) or compute a new array");
    return true;
  }
}

/// Puts `out` on the tape after Saver wrote the recorded value `e` into it (in_place_records said so): with the
/// node of e (assign, +=) or of -e (-=).
template <class Saver, class E>
void record_in_place(const E& e, NDArray& out, const mixt::source_location& where) {
  constexpr bool negated = std::is_same_v<Saver, expr::save_sub>;
  if constexpr (expr::Materializable<E>) {
    E d = e;  // a product (expr::DotExpr, the one materializable node)
    if (negated) d.alpha = -d.alpha;
    state().product_recorder(d, out);
  } else if constexpr (!std::is_arithmetic_v<E>) {
    const auto node = expr::as_node(e);  // the draft points at its arrays: it must outlive the recorder's call
    expr::ProgramDraft p;
    const int value = expr::to_program(p, node);
    if (negated) p.add(expr::Op::negative, value);
    state().recorder(p, out, where);
  }
}

}  // namespace mixt::autograd::detail
