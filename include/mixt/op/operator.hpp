// The operator library's common shape. An operator is a struct with
//   name                          MXNet's operator name
//   Param                         an aggregate with MXNet's attribute names and defaults (designated initializers),
//                                 plus a free function visit(Param&, V) listing its fields (op/attrs.hpp)
//   arguments(p), outputs(p), aux_states(p)   names of inputs, visible outputs, auxiliary states
//   num_outputs(p) (optional)     all outputs, visible ones first, where some are hidden (MXNet's NumOutputs:
//                                 Dropout's mask, BatchNorm's mean and var); outputs(p).size() without it
//   infer_shape(p, in, out, aux)  fills unknown shapes (ndim 0 = unknown, extent 0 = unknown extent), forward and
//                                 backward; throws mixt::Error on inconsistency
//   forward(p, ctx, in, req, out, aux) and backward(p, ctx, out_grad, in, out, req, in_grad, aux)
// and optionally
//   infer_type(p, in, out, aux)   fills the dtypes (default: every output takes input 0's dtype)
//   inplace(p)                    (input, output) pairs that may share storage (default: none)
// Kernels are written with NDArray expressions, reductions and dot, so each operator runs on every device and
// every step goes through the engine. `invoke<Op>` is the imperative call behind mx::nd::NAME.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "../autograd/node.hpp"
#include "../autograd/state.hpp"
#include "../core/source_location.hpp"
#include "../ndarray/creation.hpp"
#include "attrs.hpp"

namespace mixt::op {

/// How an output is written (MXNet's OpReqType).
enum class Req { null, write, inplace, add };

struct OpContext {
  bool is_train = false;
  mixt::source_location where{};
};

/// out (per req) = value: value may be an NDArray, an expression or a scalar. An expression compiles one kernel:
/// for Req::add (rare: grad_req add, shared inputs) it is evaluated first and the array added, which costs a
/// pass but keeps a second, accumulating kernel per expression out of every operator's compiled code.
template <class E>
void write(const NDArray& out, Req req, const E& value) {
  NDArray o = out;
  switch (req) {
    case Req::null: return;
    case Req::write:
    case Req::inplace: o.assign(value); return;
    case Req::add:
      if constexpr (expr::FusedNode<E>) o += expr::evaluate(value);
      else o += value;
      return;
  }
}

/// The engine variables of an operation on `reads` and `writes`: each once, the reads without those also written
/// (the engine wants the two lists disjoint); arrays that are none are skipped.
struct OpVars {
  std::vector<engine::Var*> reads, writes;
};
inline OpVars op_vars(const std::vector<NDArray>& reads, const std::vector<NDArray>& writes) {
  OpVars v;
  auto has = [](const std::vector<engine::Var*>& list, engine::Var* x) {
    return std::find(list.begin(), list.end(), x) != list.end();
  };
  for (const NDArray& a : writes)
    if (!a.is_none() && !has(v.writes, a.var())) v.writes.push_back(a.var());
  for (const NDArray& a : reads)
    if (!a.is_none() && !has(v.writes, a.var()) && !has(v.reads, a.var())) v.reads.push_back(a.var());
  return v;
}

/// Checks that a shape has the expected number of dimensions (or is unknown).
inline void expect_ndim(const char* op, const char* arg, const Shape& s, int ndim) {
  if (s.ndim() != 0 && s.ndim() != ndim)
    mixt::detail::fail(op, "argument '", arg, "': expected ", ndim, " dimensions, received shape ", s.to_string());
}

/// Fills `known` into `slot` if slot is unknown, checks they agree otherwise (extent 0 = unknown).
inline void assign_shape(const char* op, const char* arg, Shape& slot, const Shape& known) {
  if (slot.ndim() == 0) { slot = known; return; }
  if (known.ndim() == 0) return;
  bool ok = slot.ndim() == known.ndim();
  Shape merged = slot;
  for (int d = 0; ok && d < slot.ndim(); ++d) {
    if (slot[d] == 0) merged[d] = known[d];
    else ok = known[d] == 0 || known[d] == slot[d];
  }
  if (!ok) mixt::detail::fail(op, "argument '", arg, "': expected shape ", known.to_string(), ", received ", slot.to_string());
  slot = merged;
}

/// Output 0 has the shape of input 0, in either direction.
inline void same_shape(const char* op, std::vector<Shape>& in, std::vector<Shape>& out) {
  assign_shape(op, "output", out[0], in[0]);
  assign_shape(op, "data", in[0], out[0]);
}

/// True when a shape is fully known.
inline bool shape_known(const Shape& s) {
  if (s.ndim() == 0) return false;
  for (int64_t d : s) if (d == 0) return false;
  return true;
}

/// The number of outputs an operator produces, hidden ones included.
template <class Op>
size_t num_outputs(const typename Op::Param& p) {
  if constexpr (requires { Op::num_outputs(p); }) return size_t(Op::num_outputs(p));
  else return Op::outputs(p).size();
}

/// Every input and auxiliary state has input 0's dtype (MXNet's ElemwiseType): otherwise a kernel would read one
/// dtype's bits as another's, or a step inside would fail under its own name. The error names the argument.
template <class Op>
void expect_same_dtypes(const typename Op::Param& p, const std::vector<DType>& in, const std::vector<DType>& aux) {
  if (in.empty()) return;
  const std::vector<std::string> args = Op::arguments(p), aux_names = Op::aux_states(p);
  auto check = [&](const char* kind, const std::vector<std::string>& names, size_t k, DType t) {
    if (t != in[0])
      mixt::detail::fail(Op::name, kind, " '", k < names.size() ? names[k] : std::to_string(k), "': expected dtype ",
                         dtype_name(in[0]), " (the ", args.empty() ? "data" : args[0], "'s), received ",
                         dtype_name(t));
  };
  for (size_t k = 1; k < in.size(); ++k) check("argument", args, k, in[k]);
  for (size_t k = 0; k < aux.size(); ++k) check("auxiliary state", aux_names, k, aux[k]);
}

/// Op::infer_type when the operator declares one (operators that read indices or a condition of any dtype);
/// otherwise every input and auxiliary state must have input 0's dtype, and every output takes it (float32
/// without inputs).
template <class Op>
void infer_type(const typename Op::Param& p, std::vector<DType>& in, std::vector<DType>& out, std::vector<DType>& aux) {
  if constexpr (requires { Op::infer_type(p, in, out, aux); }) {
    Op::infer_type(p, in, out, aux);
  } else {
    expect_same_dtypes<Op>(p, in, aux);
    for (DType& t : out) t = in.empty() ? DType::float32 : in[0];
  }
}

/// Op::inplace(p) when declared: pairs (input, output) whose storage an executor may share; default none. A hint,
/// as MXNet's FInplaceOption: a memory planner shares only when nothing reads the input afterwards (backward
/// included).
template <class Op>
std::vector<std::pair<int, int>> inplace_pairs(const typename Op::Param& p) {
  if constexpr (requires { Op::inplace(p); }) return Op::inplace(p);
  else return {};
}

/// The imperative call: checks the inputs, infers the output shapes, allocates the outputs on the first input's
/// context and dtype, and runs the forward pass (is_train from the autograd state when recording).
/// Records an operator call: its backward is the operator's registered backward.
template <class Op>
void record_op(const typename Op::Param& p, const std::vector<NDArray>& in, std::vector<NDArray>& out,
               const std::vector<NDArray>& aux, bool is_train) {
  std::vector<autograd::Entry> entries;
  bool any = false;
  for (const NDArray& a : in) {
    entries.push_back(a.autograd_entry());
    any = any || bool(a.autograd_entry());
  }
  if (!any) return;
  auto node = std::make_shared<autograd::Node>();
  node->name = Op::name;
  node->inputs = entries;
  for (const NDArray& o : out) node->out_shapes.push_back(o.shape());
  node->dtype = out[0].dtype();
  node->ctx = out[0].ctx();
  std::vector<bool> needs;
  for (const auto& e : entries) needs.push_back(bool(e));
  // Not aux: the next forward updates BatchNorm's moving statistics before this backward may run.
  for (const NDArray& a : in) autograd::detail::save_read(*node, a);
  for (const NDArray& a : out) autograd::detail::save_read(*node, a);
  node->backward = [p, in, out, aux, is_train, needs](const std::vector<NDArray>& og) {
    std::vector<NDArray> ig(in.size());
    std::vector<Req> req(in.size(), Req::null);
    for (size_t i = 0; i < in.size(); ++i)
      if (needs[i]) {
        ig[i] = NDArray(in[i].shape(), in[i].ctx(), in[i].dtype());
        req[i] = Req::write;
      }
    Op::backward(p, OpContext{is_train, {}}, og, in, out, req, ig, aux);
    if (autograd::is_recording()) {  // create_graph: an operator's backward is not differentiable (yet), so a
      std::vector<autograd::Entry> from;  // second derivative through it is an error rather than a silent 0
      for (const NDArray& a : og) from.push_back(a.autograd_entry());
      for (const NDArray& a : in) from.push_back(a.autograd_entry());
      for (NDArray& g : ig)
        if (!g.is_none())
          autograd::detail::record_node(Op::name, g, from, [](const std::vector<NDArray>&) -> std::vector<NDArray> {
            mixt::detail::fail("backward", "second derivatives through ", Op::name,
                               " are not supported: its backward is not differentiable yet");
          });
    }
    return ig;
  };
  for (size_t k = 0; k < out.size(); ++k) out[k].set_autograd_entry(autograd::Entry{node, int(k)});
}

template <class Op>
std::vector<NDArray> invoke(const typename Op::Param& p, const std::vector<NDArray>& in,
                            const std::vector<NDArray>& aux = {}, bool is_train = autograd::is_training(),
                            mixt::source_location where = mixt::source_location::current()) {
  auto args = Op::arguments(p);
  if (in.size() != args.size())
    mixt::detail::fail_at(where, Op::name, "expected ", args.size(), " inputs, received ", in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].is_none()) mixt::detail::fail_at(where, Op::name, "input '", args[i], "' is an empty NDArray");
    if (!(in[i].ctx() == in[0].ctx()))
      mixt::detail::fail_at(where, Op::name, "input '", args[i], "' lives on ", in[i].ctx(), ", expected ", in[0].ctx());
  }
  auto aux_names = Op::aux_states(p);
  if (aux.size() != aux_names.size())
    mixt::detail::fail_at(where, Op::name, "expected ", aux_names.size(), " auxiliary states, received ", aux.size());
  for (size_t i = 0; i < aux.size(); ++i)
    if (aux[i].is_none() || !(aux[i].ctx() == in[0].ctx()))
      mixt::detail::fail_at(where, Op::name, "auxiliary state '", aux_names[i], "': expected an array on ", in[0].ctx());
  std::vector<Shape> in_shapes, out_shapes(num_outputs<Op>(p)), aux_shapes;
  for (const NDArray& a : in) in_shapes.push_back(a.shape());
  for (const NDArray& a : aux) aux_shapes.push_back(a.shape());
  mixt::detail::at_location(where, [&] { Op::infer_shape(p, in_shapes, out_shapes, aux_shapes); });
  for (size_t i = 0; i < in.size(); ++i)
    if (!(in_shapes[i] == in[i].shape()))
      mixt::detail::fail_at(where, Op::name, "input '", args[i], "': expected shape ", in_shapes[i], ", received ",
                      in[i].shape());
  for (size_t i = 0; i < aux.size(); ++i)
    if (!(aux_shapes[i] == aux[i].shape()))
      mixt::detail::fail_at(where, Op::name, "auxiliary state '", aux_names[i], "': expected shape ", aux_shapes[i],
                            ", received ", aux[i].shape());
  std::vector<DType> in_types, out_types(out_shapes.size(), in.empty() ? DType::float32 : in[0].dtype()), aux_types;
  for (const NDArray& a : in) in_types.push_back(a.dtype());
  for (const NDArray& a : aux) aux_types.push_back(a.dtype());
  mixt::detail::at_location(where, [&] { op::infer_type<Op>(p, in_types, out_types, aux_types); });
  std::vector<NDArray> out;
  for (size_t k = 0; k < out_shapes.size(); ++k) out.emplace_back(out_shapes[k], in[0].ctx(), out_types[k]);
  std::vector<Req> req(out.size(), Req::write);
  const bool recording = autograd::set_recording(false);  // the kernels inside are not recorded one by one
  try {
    Op::forward(p, OpContext{is_train, where}, in, req, out, aux);
  } catch (const Error& e) {
    autograd::set_recording(recording);
    mixt::detail::rethrow_in(Op::name, e, where);
  } catch (...) {
    autograd::set_recording(recording);
    throw;
  }
  autograd::set_recording(recording);
  if (recording) record_op<Op>(p, in, out, aux, is_train);
  return out;
}

}  // namespace mixt::op
