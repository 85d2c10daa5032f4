// Recording onto the tape. A fused expression evaluated while recording becomes ONE node whose backward is
// generated from the expression's type (derivatives.hpp): one fused kernel per array leaf that needs a gradient,
// reduced over the axes the leaf was broadcast along. Library operators record their registered backward; views
// of recorded arrays record how to put the view's gradient back into the base's shape.
#pragma once

#include <array>
#include <memory>
#include <source_location>
#include <vector>

#include "../expr/evaluate.hpp"
#include "derivatives.hpp"
#include "node.hpp"
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

/// The highest order of derivative that fused expressions support. Each order multiplies the kernels compiled
/// for every expression (order 1: one per leaf; order 2: one per pair of leaves), so the default is 1 and
/// -DMIXT_AUTOGRAD_MAX_ORDER=2 opts into second derivatives of element-wise expressions (autograd::grad with
/// create_graph). Library operators' backward passes are not differentiated again.
#ifndef MIXT_AUTOGRAD_MAX_ORDER
#define MIXT_AUTOGRAD_MAX_ORDER 1
#endif

template <int Order, expr::FusedNode E>
void record_expression(const E& e, const expr::LeafList& leaves, NDArray& out);

/// Evaluates an adjoint into a new array; recorded (for the next order) only while the order allows.
template <int Order, class A>
NDArray evaluate_adjoint(const A& adjoint) {
  auto node = expr::as_node(adjoint);
  const expr::LeafList leaves = expr::collect_leaves(node);
  NDArray out = expr::evaluate(node, leaves, {}, "backward");
  if constexpr (Order < MIXT_AUTOGRAD_MAX_ORDER) {
    if (is_recording()) record_expression<Order + 1>(node, leaves, out);
  }
  return out;
}

/// leaf's gradient from g, the evaluated adjoint of the expression that read it (see sum_to).
[[gnu::noinline]] inline NDArray gradient_for_leaf(NDArray g, const Shape& leaf, bool transposed) {
  if (!transposed && g.shape() == leaf) return g;
  return sum_to(g, leaf, transposed);
}

/// Receives each array leaf's adjoint from backprop and turns it into that leaf's gradient.
template <int Order>
struct AdjointVisitor {
  const bool* needs;
  std::vector<NDArray>& grads;
  const Shape* leaf_shapes;

  template <class A>
  void operator()(int k, const A& adjoint, bool transposed) {
    if (!needs[k]) return;
    NDArray g = evaluate_adjoint<Order>(adjoint);  // one fused kernel
    const Shape& leaf = leaf_shapes[k];
    if constexpr (Order < MIXT_AUTOGRAD_MAX_ORDER) {  // keep a transposed leaf's gradient differentiable
      if (transposed && is_recording() && g.ndim() == leaf.ndim() && g.size() == leaf.size()) {
        grads[size_t(k)] = evaluate_adjoint<Order>(g.T());
        return;
      }
    }
    grads[size_t(k)] = gradient_for_leaf(std::move(g), leaf, transposed);
  }
  void unsupported(int k) {
    if (needs[k])
      mixt::detail::fail("backward", "gradients through strided views read inside an expression (transpose with "
                         "axes, slice_axis) are not supported yet; materialize the view with copy() first");
  }
};

/// The tape entries of an expression's array leaves, in tree order; empty when none of them is tracked.
[[gnu::noinline]] inline std::vector<Entry> leaf_entries(const expr::LeafList& leaves) {
  std::vector<Entry> inputs;
  bool any = false;
  for (const NDArray* a : leaves.arrays) {
    inputs.push_back(a->autograd_entry());
    any = any || bool(a->autograd_entry());
  }
  if (!any) inputs.clear();
  return inputs;
}

/// Makes `out` the output of a new tape node (out of line: the same for every expression and operator).
[[gnu::noinline]] inline void record_node(const char* name, NDArray& out, std::vector<Entry> inputs,
                                          Node::Backward backward) {
  std::shared_ptr<Node> node = new_node(name, out);
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  out.set_autograd_entry(Entry{std::move(node), 0});
}

/// The backward of one fused expression: backprop over its type, one fused kernel per leaf that needs a gradient.
template <int Order, expr::FusedNode E>
struct ExpressionBackward {
  static constexpr size_t kLeaves = size_t(E::leaf_count);
  E e;
  std::array<bool, kLeaves> needs{};
  std::array<Shape, kLeaves> leaf_shapes{};  ///< each leaf array's own shape (not as the expression read it)

  std::vector<NDArray> operator()(const std::vector<NDArray>& og) const {
    std::vector<NDArray> grads(kLeaves);
    AdjointVisitor<Order> visit{needs.data(), grads, leaf_shapes.data()};
    backprop(e, expr::as_node(og[0]), visit);
    return grads;
  }
};

/// Puts out = e on the tape; `leaves` are e's array leaves in tree order (expr::collect_leaves).
template <int Order, expr::FusedNode E>
void record_expression(const E& e, const expr::LeafList& leaves, NDArray& out) {
  std::vector<Entry> inputs = leaf_entries(leaves);
  if (inputs.empty()) return;
  ExpressionBackward<Order, E> backward{e};
  for (size_t k = 0; k < inputs.size() && k < backward.kLeaves; ++k) {
    backward.needs[k] = bool(inputs[k]);
    backward.leaf_shapes[k] = leaves.arrays[k]->shape();
  }
  record_node("expression", out, std::move(inputs), std::move(backward));
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
    return std::vector<NDArray>{full};
  };
  v.set_autograd_entry(Entry{std::move(node), 0});
}

}  // namespace mixt::autograd::detail
