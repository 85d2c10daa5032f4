// Operators by name (MXNet's NNVM registry, for the symbol JSON loader and string-attribute calls): each operator
// type is erased into an OpInfo whose functions take MXNet's string attributes. Not included by op.hpp: it
// instantiates every registered operator, so only a translation unit that looks operators up pays for it.
//   op::find_op("FullyConnected").invoke({x, w, b}, {{"num_hidden", "8"}})
#pragma once

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "op.hpp"

namespace mixt::op {

/// One operator, type-erased: every function reads MXNet's string attributes (unknown keys are an error; keys
/// starting with "__" are ignored, as MXNet ignores __shape__ and friends).
struct OpInfo {
  std::string name;
  std::vector<std::string> aliases;
  std::function<std::vector<std::string>(const Attrs&)> arguments, outputs, aux_states;
  /// Fills unknown shapes in place (as Op::infer_shape).
  std::function<void(const Attrs&, std::vector<Shape>&, std::vector<Shape>&, std::vector<Shape>&)> infer_shape;
  /// Fills the output dtypes from the input dtypes (as op::infer_type<Op>).
  std::function<void(const Attrs&, std::vector<DType>&, std::vector<DType>&, std::vector<DType>&)> infer_type;
  /// (input, output) pairs that may share storage.
  std::function<std::vector<std::pair<int, int>>(const Attrs&)> inplace;
  /// Parses and checks the attributes, then prints every field (defaults included) as MXNet would.
  std::function<Attrs(const Attrs&)> parse_attrs;
  /// What invoke calls (a member function, so that errors can name the caller's line).
  std::function<std::vector<NDArray>(const std::vector<NDArray>&, const Attrs&, const mixt::source_location&)>
      invoke_at;

  /// The imperative call: `inputs` are the arguments followed by the auxiliary states; returns the outputs.
  std::vector<NDArray> invoke(const std::vector<NDArray>& inputs, const Attrs& attrs,
                              mixt::source_location where = mixt::source_location::current()) const {
    return invoke_at(inputs, attrs, where);
  }
};

namespace registry_detail {

struct Registry {
  std::map<std::string, OpInfo> ops;             ///< by canonical name
  std::map<std::string, std::string> names;      ///< every name and alias -> canonical name
  std::mutex m;
  static Registry& get() {
    static Registry r;
    return r;
  }
};

inline size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const bool same = std::tolower((unsigned char)a[i - 1]) == std::tolower((unsigned char)b[j - 1]);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace registry_detail

/// The OpInfo of an operator type.
template <class Op>
OpInfo make_op_info(std::vector<std::string> aliases = {}) {
  using P = typename Op::Param;
  auto parse = [](const Attrs& a) { return parse_attrs<P>(Op::name, a); };
  OpInfo info;
  info.name = Op::name;
  info.aliases = std::move(aliases);
  info.arguments = [parse](const Attrs& a) { return Op::arguments(parse(a)); };
  info.outputs = [parse](const Attrs& a) { return Op::outputs(parse(a)); };
  info.aux_states = [parse](const Attrs& a) { return Op::aux_states(parse(a)); };
  info.infer_shape = [parse](const Attrs& a, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>& aux) {
    const P p = parse(a);
    in.resize(Op::arguments(p).size());
    out.resize(num_outputs<Op>(p));  // hidden outputs too: infer_shape fills them all
    aux.resize(Op::aux_states(p).size());
    Op::infer_shape(p, in, out, aux);
  };
  info.infer_type = [parse](const Attrs& a, std::vector<DType>& in, std::vector<DType>& out, std::vector<DType>& aux) {
    const P p = parse(a);
    out.resize(num_outputs<Op>(p), DType::float32);
    op::infer_type<Op>(p, in, out, aux);
  };
  info.inplace = [parse](const Attrs& a) { return inplace_pairs<Op>(parse(a)); };
  info.invoke_at = [parse](const std::vector<NDArray>& inputs, const Attrs& a, const mixt::source_location& where) {
    const P p = mixt::detail::at_location(where, [&] { return parse(a); });
    const size_t n_args = Op::arguments(p).size(), n_aux = Op::aux_states(p).size();
    if (inputs.size() != n_args + n_aux)
      mixt::detail::fail_at(where, Op::name, "expected ", n_args, " inputs and ", n_aux, " auxiliary states, received ",
                            inputs.size(), " arrays");
    std::vector<NDArray> args(inputs.begin(), inputs.begin() + long(n_args));
    std::vector<NDArray> aux(inputs.begin() + long(n_args), inputs.end());
    return op::invoke<Op>(p, args, aux, autograd::is_training(), where);
  };
  info.parse_attrs = [parse](const Attrs& a) { return to_attrs(parse(a)); };
  return info;
}

/// Adds an operator under its name and the given aliases (replacing an earlier registration of that name).
template <class Op>
void register_op(std::vector<std::string> aliases = {}) {
  OpInfo info = make_op_info<Op>(std::move(aliases));
  auto& r = registry_detail::Registry::get();
  std::lock_guard<std::mutex> lk(r.m);
  r.names[info.name] = info.name;
  for (const std::string& a : info.aliases) r.names[a] = info.name;
  r.ops[info.name] = std::move(info);
}

/// Registers every operator of the library (called once, on first lookup).
template <int = 0>
void register_builtin_ops() {
  register_op<FullyConnected>();
  register_op<Activation>();
  register_op<LeakyReLU>();
  register_op<Softmax>();
  register_op<LogSoftmax>();
  register_op<Softmin>();
  register_op<SoftmaxOutput>({"Softmax"});
  register_op<SoftmaxCrossEntropy>();
  register_op<LinearRegressionOutput>();
  register_op<LogisticRegressionOutput>();
  register_op<MAERegressionOutput>();
  register_op<Flatten>({"flatten"});
  register_op<Reshape>({"reshape"});
  register_op<Transpose>();
  register_op<SliceAxis>();
  register_op<Concat>({"concat"});
  register_op<SliceChannel>({"split"});
  register_op<Take>();
  register_op<Pick>();
  register_op<OneHot>();
  register_op<Clip>();
  register_op<Where>();
  register_op<TopK>();
  register_op<Sort>();
  register_op<ArgSort>();
  register_op<BatchNorm>();
  register_op<LayerNorm>();
  register_op<Dropout>();
  register_op<Embedding>();
  register_op<Convolution>();
  register_op<Deconvolution>();
  register_op<Pooling>();
}

namespace registry_detail {
inline void ensure_builtin_ops() {
  static std::once_flag once;
  std::call_once(once, [] { register_builtin_ops(); });
}
}  // namespace registry_detail

/// The operator registered under `name` (or an alias); throws mixt::Error listing the nearest names otherwise.
inline const OpInfo& find_op(const std::string& name) {
  registry_detail::ensure_builtin_ops();
  auto& r = registry_detail::Registry::get();
  std::lock_guard<std::mutex> lk(r.m);
  auto it = r.names.find(name);
  if (it != r.names.end()) return r.ops.at(it->second);
  std::vector<std::pair<size_t, std::string>> near;
  for (const auto& [n, canonical] : r.names) {
    const size_t d = registry_detail::edit_distance(name, n);
    if (d <= std::max<size_t>(2, name.size() / 3)) near.emplace_back(d, n);
  }
  std::sort(near.begin(), near.end());
  std::string list;
  for (size_t i = 0; i < near.size() && i < 5; ++i) list += (i ? ", " : "") + near[i].second;
  mixt::detail::fail("find_op", "unknown operator '", name, "'",
                     list.empty() ? std::string("") : "; did you mean: " + list, " (",
                     r.ops.size(), " operators registered)");
}

/// The canonical names of every registered operator, sorted.
inline std::vector<std::string> registered_ops() {
  registry_detail::ensure_builtin_ops();
  auto& r = registry_detail::Registry::get();
  std::lock_guard<std::mutex> lk(r.m);
  std::vector<std::string> v;
  for (const auto& [n, info] : r.ops) v.push_back(n);
  return v;
}

}  // namespace mixt::op
