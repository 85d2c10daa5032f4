// Recording onto the tape. A fused expression evaluated while recording becomes ONE node whose backward is
// generated from the expression's type (derivatives.hpp): one fused kernel per array leaf that needs a gradient,
// reduced over the axes the leaf was broadcast along. Library operators record their registered backward; views
// of recorded arrays record how to put the view's gradient back into the base's shape.
#pragma once

#include <memory>
#include <source_location>
#include <vector>

#include "../expr/evaluate.hpp"
#include "../expr/reduce.hpp"
#include "derivatives.hpp"
#include "node.hpp"
#include "state.hpp"

namespace mixt::autograd::detail {

inline std::shared_ptr<Node> new_node(const char* name, const NDArray& out) {
  auto n = std::make_shared<Node>();
  n->name = name;
  n->out_shapes = {out.shape()};
  n->dtype = out.dtype();
  n->ctx = out.ctx();
  return n;
}

/// Sums g (shaped like the expression's output) over the axes `leaf` was broadcast along: the leaf's gradient.
inline NDArray reduce_to(const NDArray& g, const Shape& leaf) {
  if (g.shape() == leaf) return g;
  std::vector<int> axes;
  const int off = g.ndim() - leaf.ndim();
  for (int d = 0; d < g.ndim(); ++d)
    if (d < off || (leaf[d - off] == 1 && g.shape()[d] != 1)) axes.push_back(d);
  NDArray s = axes.empty() ? g : NDArray(nd::sum(g, axes, true));
  return s.reshape(leaf.to_vector());
}

template <expr::FusedNode E>
void record_expression(const E& e, NDArray& out) {
  std::vector<Entry> inputs;
  bool any = false;
  e.for_each_leaf([&](const NDArray& a, const expr::LeafView&) {
    inputs.push_back(a.autograd_entry());
    any = any || bool(a.autograd_entry());
  });
  if (!any) return;
  std::shared_ptr<Node> node = new_node("expression", out);
  std::vector<bool> needs;
  for (const Entry& in : inputs) needs.push_back(bool(in));
  node->inputs = std::move(inputs);
  node->backward = [e, needs](const std::vector<NDArray>& og) {
    std::vector<NDArray> grads(needs.size());
    std::vector<Shape> leaf_shapes;
    e.for_each_leaf([&](const NDArray& a, const expr::LeafView&) { leaf_shapes.push_back(a.shape()); });
    auto visit = [&](int k, const auto& adjoint, bool transposed) {
      if (!needs[size_t(k)]) return;
      NDArray g = adjoint;  // one fused kernel (recorded too, when building a graph for higher order)
      if (transposed) {
        Shape view;  // the leaf seen transposed had the reversed shape
        for (int d = leaf_shapes[size_t(k)].ndim() - 1; d >= 0; --d) view.push_back(leaf_shapes[size_t(k)][d]);
        grads[size_t(k)] = NDArray(reduce_to(g, view).T());
      } else {
        grads[size_t(k)] = reduce_to(g, leaf_shapes[size_t(k)]);
      }
    };
    backprop(e, expr::as_node(og[0]), visit);
    return grads;
  };
  out.set_autograd_entry(Entry{std::move(node), 0});
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
    if (rel == 0 && g.size() == base_shape.size()) return std::vector<NDArray>{g.reshape(base_shape.to_vector())};
    NDArray full = nd::zeros(base_shape, g.ctx(), g.dtype());
    full.view(g.shape(), full.byte_offset() + rel).assign(g);
    return std::vector<NDArray>{full};
  };
  v.set_autograd_entry(Entry{std::move(node), 0});
}

}  // namespace mixt::autograd::detail
