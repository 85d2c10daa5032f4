// Recording reductions (sum, mean, prod, max, min, norm) for backward, as MXNet records every nd operation. Without
// this, a reduction of a tracked array computed while recording was a constant on the tape: `x * nd::sum(x)` got
// a silently wrong gradient, and `nd::sum(x * x).backward()` found no recorded head.
//
// The reduced value is put on the tape first: an array as it is, an expression as a recorded expression (evaluated
// a second time, by the program evaluator, while recording). The reduction's backward broadcasts the head gradient
// back over the reduced axes, as one program (so it is recorded in turn under autograd::grad's create_graph):
//   sum:  g                       mean: g / count
//   max, min: g * (x == y)        every tied element gets the whole gradient, as in MXNet
//   norm: g * x / y, and 0 where y == 0 (PyTorch's choice; MXNet's x / y would be NaN there)
//   prod: g * y / x, as MXNet computes it: not finite where an element is 0
// where y is the reduction's value. argmax and argmin are not recorded: an index has no gradient.
#pragma once

#include <cstring>
#include <memory>
#include <vector>

#include "record.hpp"

namespace mixt::autograd::detail {

/// `a` (of shape keep, the reduction's value with keepdims) read broadcast to `shape` along the reduced axes.
inline expr::LeafView broadcast_back(const Shape& keep, const Shape& shape) {
  expr::LeafView v{shape, keep.strides()};
  for (int d = 0; d < keep.ndim(); ++d)
    if (keep[d] == 1) v.strides[d] = 0;
  return v;
}

/// The backward of one reduction: x its input (on the tape), y its value, saved without its tape entry (the node
/// would hold itself) and given it back from `self` when the backward is recorded in turn (norm and prod read y).
struct ReductionBackward {
  const char* op;
  NDArray x, y;
  Shape keep;
  std::weak_ptr<Node> self;

  std::vector<NDArray> operator()(const std::vector<NDArray>& og) const {
    using expr::Op;
    const Shape& shape = x.shape();
    expr::Program b;
    const int g = b.add_leaf(og[0].view(keep, og[0].byte_offset()), broadcast_back(keep, shape), 0,
                             expr::LeafKind::plain);
    auto input = [&] { return b.add_leaf(x, expr::contiguous_view(shape), 0, expr::LeafKind::plain); };
    auto value = [&] {
      NDArray v = y;
      if (std::shared_ptr<Node> n = self.lock()) v.set_autograd_entry(Entry{std::move(n), 0});
      return b.add_leaf(v.view(keep, v.byte_offset()), broadcast_back(keep, shape), 0, expr::LeafKind::plain);
    };
    if (std::strcmp(op, "mean") == 0) {
      const double count = keep.size() > 0 ? double(shape.size()) / double(keep.size()) : 0.0;
      b.add(Op::mul, g, b.add_constant(1 / count));
    } else if (std::strcmp(op, "max") == 0 || std::strcmp(op, "min") == 0) {
      b.add(Op::mul, g, b.add(Op::equal, input(), value()));
    } else if (std::strcmp(op, "norm") == 0) {
      const int yi = value(), zero = b.add_constant(0);
      b.add(Op::where, b.add(Op::equal, yi, zero), zero, b.add(Op::mul, g, b.add(Op::div, input(), yi)));
    } else if (std::strcmp(op, "prod") == 0) {
      b.add(Op::mul, g, b.add(Op::div, value(), input()));
    } else if (std::strcmp(op, "sum") != 0) {
      mixt::detail::fail("backward", "no gradient is defined for the reduction ", op);
    }
    return {evaluate_recorded(b)};
  }
};

inline void record_reduction(const expr::ProgramDraft& p, const char* op, const Shape& keep, NDArray& out,
                             const mixt::source_location& where) {
  if (!any_tracked(p)) return;
  const bool whole_array = p.code.size() == 1 && p.reads[0].kind == expr::LeafKind::plain &&
                           p.reads[0].offset == 0 && p.reads[0].view.shape == p.arrays[0]->shape();
  NDArray x;
  if (whole_array) {
    x = *p.arrays[0];
  } else {
    mixt::detail::at_location(where, [&] { check_backward_fits(p); });
    x = evaluate_recorded(expr::Program(p));
  }
  std::shared_ptr<Node> node = new_node(op, out);
  node->inputs = {x.autograd_entry()};
  save_read(*node, x);  // not out: the reduction writes it after this
  node->backward = ReductionBackward{op, x, out.detach(), keep, node};
  out.set_autograd_entry(Entry{std::move(node), 0});
}

}  // namespace mixt::autograd::detail
