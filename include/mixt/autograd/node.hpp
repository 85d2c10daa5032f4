// The tape: every recorded computation is a Node holding what its backward needs; an NDArray produced while
// recording (or marked with attach_grad) carries an Entry pointing at its node. Variables are nodes too, holding
// the gradient buffer and grad_req.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../core/context.hpp"
#include "../core/dtype.hpp"
#include "../core/shape.hpp"
#include "../engine/task.hpp"
#include "../engine/var.hpp"

namespace mixt {
class NDArray;

/// How a gradient is stored (MXNet's grad_req).
enum class GradReq { null, write, add };

/// The same values under DESIGN.md's and MXNet's spelling: `x.attach_grad(mx::grad_req::add)`.
namespace grad_req {
inline constexpr GradReq null = GradReq::null, write = GradReq::write, add = GradReq::add;
}  // namespace grad_req

namespace autograd {

struct Node;

/// A handle's place in the tape: output `index` of `node`.
struct Entry {
  std::shared_ptr<Node> node;
  int index = 0;
  explicit operator bool() const { return bool(node); }
};

struct Node {
  std::string name;                ///< the operator or expression, for error messages
  std::vector<Entry> inputs;       ///< one per input; empty for an input that needs no gradient
  /// Input gradients from output gradients (one per output, never empty: zeros where none flowed). An input
  /// whose gradient is not needed may get an empty NDArray. (A move-only Task rather than std::function: each
  /// recorded operator's closure then compiles a call and a move-or-destroy, not std::function's copy and
  /// type-query manager.)
  using Backward = engine::Task<std::vector<NDArray>(const std::vector<NDArray>&)>;
  Backward backward;
  std::vector<Shape> out_shapes;
  DType dtype = DType::float32;
  Context ctx;
  bool freed = false;              ///< backward ran without retain_graph: the saved values are gone
  /// The storage whose values the backward reads, with its Var::writes_pushed when recorded: a backward after an
  /// in-place write to one of them would compute from the new values, so it is refused (as PyTorch does). The
  /// arrays the backward holds keep these variables alive.
  std::vector<std::pair<engine::Var*, uint64_t>> saved;

  // A variable (attach_grad): where its gradient goes.
  bool is_variable = false;
  std::shared_ptr<NDArray> grad;
  GradReq req = GradReq::write;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  /// Releases the chain of inputs iteratively: destroyed recursively, a tape a million steps deep overflowed the
  /// stack (each node's inputs, and the arrays its backward saved, hold the nodes before it).
  ~Node() {
    std::vector<std::shared_ptr<Node>> pending;
    auto take_inputs = [&pending](Node& n) {
      for (Entry& e : n.inputs)
        if (e.node) pending.push_back(std::move(e.node));
      n.backward.reset();  // its saved arrays' entries are not the last references: pending holds those
    };
    take_inputs(*this);
    while (!pending.empty()) {
      std::shared_ptr<Node> n = std::move(pending.back());
      pending.pop_back();
      if (n.use_count() == 1) take_inputs(*n);  // the last reference: n dies below with nothing left to release
    }
  }
};

namespace detail {
/// Notes that n's backward reads a's values (Node::saved; defined in record.hpp).
inline void save_read(Node& n, const NDArray& a);
}  // namespace detail

}  // namespace autograd
}  // namespace mixt
