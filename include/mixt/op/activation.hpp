// Activation (relu, sigmoid, tanh, softrelu, softsign) and LeakyReLU (leaky, elu, selu, gelu; prelu with its
// learned gamma; rrelu), forward and backward, each a fused expression. rrelu, as in MXNet, multiplies negative
// inputs by a slope drawn uniformly from [lower_bound, upper_bound] per element in training, and by their mean
// otherwise; the slopes are its hidden second output, which the backward reads.
#pragma once

#include <cmath>

#include "../expr/reduce.hpp"
#include "../ndarray/random.hpp"
#include "operator.hpp"

namespace mixt::op {

/// Applies f to the activation named by `type`, or fails naming the operator and the accepted values.
template <class F>
void with_act_type(const char* op, const std::string& type, const std::vector<const char*>& allowed, F&& f) {
  for (const char* a : allowed)
    if (type == a) return f(type);
  std::string list;
  for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
  mixt::detail::fail(op, "attribute 'act_type': expected one of ", list, "; received '", type, "'");
}

template <class = void>
struct ActivationOp {
  static constexpr const char* name = "Activation";
  struct Param {
    std::string act_type = "relu";
  };
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static std::vector<std::pair<int, int>> inplace(const Param&) { return {{0, 0}}; }
  static void check(const Param& p) {
    with_act_type(name, p.act_type, {"relu", "sigmoid", "tanh", "softrelu", "softsign"}, [](const std::string&) {});
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    check(p);
    same_shape(name, in, out);
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const NDArray& x = in[0];
    const std::string& t = p.act_type;
    if (t == "relu") write(out[0], req[0], relu(x));
    else if (t == "sigmoid") write(out[0], req[0], sigmoid(x));
    else if (t == "tanh") write(out[0], req[0], tanh(x));
    else if (t == "softrelu") write(out[0], req[0], softrelu(x));
    else if (t == "softsign") write(out[0], req[0], x / (abs(x) + 1.f));
    else check(p);
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>& out, const std::vector<Req>& req,
                       const std::vector<NDArray>& ig, const std::vector<NDArray>&) {
    const NDArray &g = og[0], &x = in[0], &y = out[0];
    const std::string& t = p.act_type;
    if (t == "relu") write(ig[0], req[0], g * (x > 0.f));
    else if (t == "sigmoid") write(ig[0], req[0], g * y * (1.f - y));
    else if (t == "tanh") write(ig[0], req[0], g * (1.f - square(y)));
    else if (t == "softrelu") write(ig[0], req[0], g * sigmoid(x));
    else if (t == "softsign") write(ig[0], req[0], g / square(abs(x) + 1.f));
    else check(p);
  }
};
using Activation = ActivationOp<>;
template <class V> void visit(Activation::Param& p, V&& v) { v("act_type", p.act_type); }

template <class = void>
struct LeakyReLUOp {
  static constexpr const char* name = "LeakyReLU";
  struct Param {
    std::string act_type = "leaky";
    float slope = 0.25f;
    float lower_bound = 0.125f;
    float upper_bound = 0.334f;
  };
  static constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
  static constexpr double kSeluLambda = 1.0507009873554804934193349852946;

  static std::vector<std::string> arguments(const Param& p) {
    if (p.act_type == "prelu") return {"data", "gamma"};
    return {"data"};
  }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static int num_outputs(const Param& p) { return p.act_type == "rrelu" ? 2 : 1; }  // rrelu's slopes: hidden
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static std::vector<std::pair<int, int>> inplace(const Param&) { return {{0, 0}}; }
  static void check(const Param& p) {
    with_act_type(name, p.act_type, {"leaky", "elu", "selu", "gelu", "prelu", "rrelu"}, [](const std::string&) {});
    if (p.act_type == "rrelu" && !(p.lower_bound <= p.upper_bound))
      mixt::detail::fail(name, "attribute 'upper_bound': expected at least lower_bound ", p.lower_bound,
                         ", received ", p.upper_bound);
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    check(p);
    same_shape(name, in, out);
    if (p.act_type == "prelu" && in[0].ndim() >= 2) assign_shape(name, "gamma", in[1], Shape{in[0][1]});
    if (p.act_type == "rrelu") assign_shape(name, "mask", out[1], in[0]);
  }
  /// gamma of shape (C,) viewed as (1, C, 1, ...) so that it broadcasts along axis 1 of data.
  static NDArray channel_view(const NDArray& gamma, int ndim) {
    Shape s;
    for (int d = 0; d < ndim; ++d) s.push_back(d == 1 ? gamma.size() : 1);
    return gamma.reshape(s.to_vector());
  }
  static void forward(const Param& p, const OpContext& ctx, const std::vector<NDArray>& in,
                      const std::vector<Req>& req, const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const NDArray& x = in[0];
    const std::string& t = p.act_type;
    if (t == "rrelu") {
      NDArray slopes = out[1];
      if (ctx.is_train && p.lower_bound < p.upper_bound)
        slopes.assign(nd::random::uniform(p.lower_bound, p.upper_bound, x.shape(), x.ctx(), x.dtype()));
      else
        slopes.assign((double(p.lower_bound) + double(p.upper_bound)) / 2);
      write(out[0], req[0], where(x > 0.f, x, x * slopes));
      return;
    }
    if (t == "leaky") write(out[0], req[0], where(x > 0.f, x, x * p.slope));
    else if (t == "elu") write(out[0], req[0], where(x > 0.f, x, (exp(x) - 1.f) * p.slope));
    else if (t == "selu") write(out[0], req[0], where(x > 0.f, x, (exp(x) - 1.f) * kSeluAlpha) * kSeluLambda);
    else if (t == "gelu") write(out[0], req[0], x * (erf(x * M_SQRT1_2) + 1.f) * 0.5f);
    else if (t == "prelu") write(out[0], req[0], where(x > 0.f, x, x * channel_view(in[1], x.ndim())));
    else check(p);
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>& out, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&);
};
using LeakyReLU = LeakyReLUOp<>;
template <class V> void visit(LeakyReLU::Param& p, V&& v) {
  v("act_type", p.act_type); v("slope", p.slope); v("lower_bound", p.lower_bound); v("upper_bound", p.upper_bound);
}

}  // namespace mixt::op

namespace mixt::op {

template <class T>
void LeakyReLUOp<T>::backward(const Param& p, const OpContext&, const std::vector<NDArray>& og,
                                const std::vector<NDArray>& in, const std::vector<NDArray>& out,
                                const std::vector<Req>& req, const std::vector<NDArray>& ig,
                                const std::vector<NDArray>&) {
  const NDArray &g = og[0], &x = in[0];
  const std::string& t = p.act_type;
  if (t == "leaky") write(ig[0], req[0], g * where(x > 0.f, 1.f, p.slope));
  else if (t == "rrelu") write(ig[0], req[0], g * where(x > 0.f, 1.f, out[1]));
  else if (t == "elu") write(ig[0], req[0], g * where(x > 0.f, 1.f, exp(x) * p.slope));
  else if (t == "selu") write(ig[0], req[0], g * where(x > 0.f, 1.f, exp(x) * kSeluAlpha) * kSeluLambda);
  else if (t == "gelu")
    write(ig[0], req[0], g * ((erf(x * M_SQRT1_2) + 1.f) * 0.5f + x * exp(square(x) * -0.5f) * (0.5 * M_2_SQRTPI * M_SQRT1_2)));
  else if (t == "prelu") {
    NDArray gamma = channel_view(in[1], x.ndim());
    write(ig[0], req[0], g * where(x > 0.f, 1.f, gamma));
    if (req.size() > 1 && req[1] != Req::null)
      write(ig[1], req[1], nd::sum(where(x > 0.f, 0.f, x * g), {1}, false, true));
  } else {
    check(p);
  }
}

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray Activation(const NDArray& data, const op::Activation::Param& p,
                   mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Activation>(p, {data}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray LeakyReLU(const NDArray& data, const op::LeakyReLU::Param& p = {},
                  mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::LeakyReLU>(p, {data}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray LeakyReLU(const NDArray& data, const NDArray& gamma, const op::LeakyReLU::Param& p,
                  mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::LeakyReLU>(p, {data, gamma}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
