// Backpropagation over the tape (MXNet's autograd.backward / autograd.grad): the nodes reachable from the heads
// run their backward in reverse topological order; gradients meeting at a node are summed; variables receive
// theirs per grad_req. Without retain_graph the graph's saved values are released, and a second backward through
// it is a mixt::Error.
#pragma once

#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "../ndarray/creation.hpp"
#include "record.hpp"

namespace mixt::autograd {

namespace detail {

/// Nodes reachable from `heads`, each after all of its inputs (a topological order).
inline std::vector<Node*> topological_order(const std::vector<Node*>& heads) {
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack;
  for (Node* h : heads) {
    if (!seen.insert(h).second) continue;
    stack.push_back({h, 0});
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      if (next < n->inputs.size()) {
        Node* in = n->inputs[next++].node.get();
        if (in && seen.insert(in).second) stack.push_back({in, 0});
      } else {
        order.push_back(n);
        stack.pop_back();
      }
    }
  }
  return order;
}

inline void accumulate(std::vector<NDArray>& slots, int index, const NDArray& g) {
  NDArray& s = slots[size_t(index)];
  s = s.is_none() ? g : NDArray(s + g);
}

/// Runs backward from heads. With `variables` empty, gradients go to the variables' grad() buffers; otherwise
/// the gradients of those variables are returned and no buffer is touched.
inline std::vector<NDArray> run_backward(const std::vector<NDArray>& heads, const std::vector<NDArray>& head_grads,
                                         const std::vector<NDArray>& variables, bool retain_graph, bool create_graph,
                                         bool train_mode) {
  std::vector<Node*> head_nodes;
  std::unordered_map<Node*, std::vector<NDArray>> grads;
  for (size_t i = 0; i < heads.size(); ++i) {
    const Entry& e = heads[i].autograd_entry();
    if (!e)
      mixt::detail::fail("backward", "head ", i, " was not computed from a variable inside autograd::record "
                         "(call attach_grad() on the inputs and compute the head while recording)");
    NDArray hg = i < head_grads.size() && !head_grads[i].is_none()
                     ? head_grads[i]
                     : nd::ones(heads[i].shape(), heads[i].ctx(), heads[i].dtype());
    if (!(hg.shape() == heads[i].shape()))
      mixt::detail::fail("backward", "head gradient ", i, ": expected shape ", heads[i].shape(), ", received ", hg.shape());
    if (hg.dtype() != heads[i].dtype() || !(hg.ctx() == heads[i].ctx()))
      mixt::detail::fail("backward", "head gradient ", i, ": expected ", dtype_name(heads[i].dtype()), " on ",
                         heads[i].ctx(), ", received ", dtype_name(hg.dtype()), " on ", hg.ctx());
    auto& slots = grads[e.node.get()];
    slots.resize(std::max(slots.size(), e.node->out_shapes.size()));
    accumulate(slots, e.index, hg);
    head_nodes.push_back(e.node.get());
  }
  std::vector<Node*> order = topological_order(head_nodes);
  const bool old_recording = set_recording(create_graph), old_training = set_training(train_mode);
  struct Restore {
    bool r, t;
    ~Restore() { set_recording(r); set_training(t); }
  } restore{old_recording, old_training};

  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    auto found = grads.find(n);
    if (n->is_variable || found == grads.end()) continue;
    if (n->freed || !n->backward)
      mixt::detail::fail("backward", "the graph through '", n->name, "' was freed by an earlier backward; pass "
                         "retain_graph = true to the first backward to run another");
    for (const auto& [var, writes] : n->saved)
      if (var->writes_pushed.load(std::memory_order_relaxed) != writes)
        mixt::detail::fail("backward", "an array that '", n->name, "' read while recording was written in place "
                           "since (+=, assign, copyto, an update), so its gradient would come from the new values; "
                           "call backward before writing it, or write a new array instead");
    std::vector<NDArray> og = found->second;
    og.resize(n->out_shapes.size());
    for (size_t k = 0; k < og.size(); ++k)
      if (og[k].is_none()) og[k] = nd::zeros(n->out_shapes[k], n->ctx, n->dtype);
    std::vector<NDArray> ig = n->backward(og);
    for (size_t i = 0; i < n->inputs.size() && i < ig.size(); ++i) {
      const Entry& in = n->inputs[i];
      if (!in || ig[i].is_none()) continue;
      auto& slots = grads[in.node.get()];
      slots.resize(std::max(slots.size(), in.node->out_shapes.size()));
      accumulate(slots, in.index, ig[i]);
    }
  }

  std::vector<NDArray> result;
  if (variables.empty()) {
    for (Node* n : order) {
      if (!n->is_variable || n->req == GradReq::null) continue;
      auto found = grads.find(n);
      NDArray& buf = *n->grad;
      if (found == grads.end() || found->second.empty() || found->second[0].is_none()) {
        // Reached, but no gradient flowed (floor, sign, comparisons): zeros, as MXNet writes. Keeping the last
        // backward's values would let an optimizer apply them again.
        if (n->req == GradReq::write) buf.assign(0.0);
        continue;
      }
      if (n->req == GradReq::add) buf += found->second[0];
      else buf.assign(found->second[0]);
    }
  } else {
    for (const NDArray& v : variables) {
      const Entry& e = v.autograd_entry();
      auto found = e ? grads.find(e.node.get()) : grads.end();
      if (found != grads.end() && size_t(e.index) < found->second.size() && !found->second[size_t(e.index)].is_none())
        result.push_back(found->second[size_t(e.index)]);
      else
        result.push_back(nd::zeros(v.shape(), v.ctx(), v.dtype()));
    }
  }
  if (!retain_graph)
    for (Node* n : order)
      if (!n->is_variable) {
        n->backward.reset();  // releases the values it saved
        n->freed = true;
      }
  return result;
}

}  // namespace detail

/// Backpropagates from several heads at once (MXNet's autograd.backward); empty head gradients mean ones.
inline void backward(const std::vector<NDArray>& heads, const std::vector<NDArray>& head_grads = {},
                     bool retain_graph = false, bool train_mode = true,
                     mixt::source_location where = mixt::source_location::current()) {
  mixt::detail::at_location(where, [&] {
    detail::run_backward(heads, head_grads, {}, retain_graph, false, train_mode);
  });
}

/// The gradients of heads with respect to `variables`, without touching their grad() buffers (MXNet's
/// autograd.grad). With create_graph the computation of the gradients is itself recorded, so they can be
/// differentiated again. retain_graph defaults to create_graph, as in MXNet.
inline std::vector<NDArray> grad(const std::vector<NDArray>& heads, const std::vector<NDArray>& variables,
                                 const std::vector<NDArray>& head_grads = {}, std::optional<bool> retain_graph = {},
                                 bool create_graph = false, bool train_mode = true,
                                 mixt::source_location where = mixt::source_location::current()) {
  if (variables.empty()) mixt::detail::fail_at(where, "autograd::grad", "no variables given");
  for (const NDArray& v : variables)
    if (!v.autograd_entry())
      mixt::detail::fail_at(where, "autograd::grad", "a variable has no gradient attached (call attach_grad())");
  return mixt::detail::at_location(where, [&] {
    return detail::run_backward(heads, head_grads, variables, retain_graph.value_or(create_graph), create_graph,
                                train_mode);
  });
}

}  // namespace mixt::autograd

namespace mixt {

inline void NDArray::attach_grad(GradReq req) {
  auto n = std::make_shared<autograd::Node>();
  n->name = "variable";
  n->is_variable = true;
  n->req = req;
  n->out_shapes = {shape_};
  n->dtype = dtype_;
  n->ctx = ctx_;
  n->grad = std::make_shared<NDArray>(nd::zeros(shape_, ctx_, dtype_));
  // Written into the shared place, so that every copy of this handle is the variable too. The variable node
  // holds no other node, so no copy saved by the tape can close a cycle through it.
  if (!ag_) ag_ = std::make_shared<autograd::Entry>();
  *ag_ = autograd::Entry{std::move(n), 0};
}

inline NDArray NDArray::grad() const {
  const autograd::Entry& e = autograd_entry();
  if (e && e.node->is_variable && e.node->grad) return *e.node->grad;
  return NDArray();
}

inline void NDArray::backward(const NDArray& head_grad, bool retain_graph, bool train_mode,
                              mixt::source_location where) const {
  detail::at_location(where, [&] {
    autograd::detail::run_backward({*this}, {head_grad}, {}, retain_graph, false, train_mode);
  });
}
inline void NDArray::backward(mixt::source_location where) const { backward(NDArray(), false, true, where); }

}  // namespace mixt
