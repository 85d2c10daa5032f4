// LayerNorm (MXNet's nn/layer_norm-inl.h): normalization over one axis of each item.
//
// Inputs data, gamma, beta (gamma and beta of shape (C,), C = data.shape[axis]). Outputs: output, mean, std, the
// last two of data's shape with axis set to 1, hidden unless output_mean_var (saved for backward either way).
//   mean and biased variance over `axis`, std = sqrt(var + eps), y = (x - mean) / std * gamma + beta.
// Backward, xhat = (x - mean) / std, g = dy * gamma:
//   dx = (g - mean_axis(g) - xhat * mean_axis(g * xhat)) / std, dgamma = sum(dy * xhat), dbeta = sum(dy)
// over every axis but `axis`. Gradients flowing into the mean / std outputs are ignored.
#pragma once

#include "../expr/reduce.hpp"
#include "operator.hpp"

namespace mixt::op {

template <class = void>
struct LayerNormOp {
  static constexpr const char* name = "LayerNorm";
  struct Param {
    int axis = -1;
    float eps = 1e-5f;
    bool output_mean_var = false;
  };
  static std::vector<std::string> arguments(const Param&) { return {"data", "gamma", "beta"}; }
  static std::vector<std::string> outputs(const Param& p) {
    if (p.output_mean_var) return {"output", "mean", "std"};
    return {"output"};
  }
  static int num_outputs(const Param&) { return 3; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }

  static int norm_axis(const Param& p, int ndim) {
    int a = p.axis < 0 ? p.axis + ndim : p.axis;
    if (a < 0 || a >= ndim)
      mixt::detail::fail(name, "attribute 'axis': expected a value in [", -ndim, ", ", ndim, ") for data of ", ndim,
                         " dimensions, received ", p.axis);
    return a;
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    if (!(p.eps >= 0)) mixt::detail::fail(name, "attribute 'eps': expected >= 0, received ", p.eps);
    same_shape(name, in, out);
    if (in[0].ndim() == 0) {
      // Only the per-channel shapes can be told apart without data.
      if (in[1].ndim() != 0) assign_shape(name, "beta", in[2], in[1]);
      else if (in[2].ndim() != 0) assign_shape(name, "gamma", in[1], in[2]);
      return;
    }
    const int a = norm_axis(p, in[0].ndim());
    if (in[0][a] == 0) {
      for (const Shape* s : {&in[1], &in[2]})
        if (s->ndim() == 1 && (*s)[0] != 0) in[0][a] = (*s)[0];
      same_shape(name, in, out);
    }
    assign_shape(name, "gamma", in[1], Shape{in[0][a]});
    assign_shape(name, "beta", in[2], Shape{in[0][a]});
    Shape stat = in[0];
    stat[a] = 1;
    assign_shape(name, "mean", out[1], stat);
    assign_shape(name, "std", out[2], stat);
  }
  /// (pre, C, post): the 3-D view in which the normalized axis is axis 1.
  static std::vector<int64_t> view3(const Param& p, const Shape& s) {
    int a = norm_axis(p, s.ndim());
    int64_t pre = 1, post = 1;
    for (int d = 0; d < a; ++d) pre *= s[d];
    for (int d = a + 1; d < s.ndim(); ++d) post *= s[d];
    return {pre, s[a], post};
  }

  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    auto v = view3(p, in[0].shape());
    const int64_t C = v[1];
    NDArray x = in[0].reshape(v);
    NDArray mean = nd::mean(x, {1}, true);
    NDArray sd = expr::evaluate(sqrt(nd::mean(square(x - mean), {1}, true) + p.eps));
    write(out[0].reshape(v), req[0],
          (x - mean) / sd * in[1].reshape({1, C, 1}) + in[2].reshape({1, C, 1}));
    if (out.size() > 1) write(out[1].reshape({v[0], 1, v[2]}), req.size() > 1 ? req[1] : Req::write, mean);
    if (out.size() > 2) write(out[2].reshape({v[0], 1, v[2]}), req.size() > 2 ? req[2] : Req::write, sd);
  }

  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og,
                       const std::vector<NDArray>& in, const std::vector<NDArray>& out, const std::vector<Req>& req,
                       const std::vector<NDArray>& ig, const std::vector<NDArray>&) {
    auto v = view3(p, in[0].shape());
    const int64_t C = v[1];
    NDArray x = in[0].reshape(v), dy = og[0].reshape(v);
    NDArray mean, sd;
    if (out.size() == 3) {
      mean = out[1].reshape({v[0], 1, v[2]});
      sd = out[2].reshape({v[0], 1, v[2]});
    } else {
      mean = nd::mean(x, {1}, true);
      sd = expr::evaluate(sqrt(nd::mean(square(x - mean), {1}, true) + p.eps));
    }
    NDArray xhat = expr::evaluate((x - mean) / sd);
    if (req[0] != Req::null) {
      NDArray g = expr::evaluate(dy * in[1].reshape({1, C, 1}));
      NDArray mg = nd::mean(g, {1}, true), mgx = nd::mean(g * xhat, {1}, true);
      write(ig[0].reshape(v), req[0], (g - mg - xhat * mgx) / sd);
    }
    if (req[1] != Req::null) write(ig[1], req[1], nd::sum(dy * xhat, {0, 2}));
    if (req[2] != Req::null) write(ig[2], req[2], nd::sum(dy, {0, 2}));
  }
};
using LayerNorm = LayerNormOp<>;
template <class V> void visit(LayerNorm::Param& p, V&& v) {
  v("axis", p.axis); v("eps", p.eps); v("output_mean_var", p.output_mean_var);
}

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray LayerNorm(const NDArray& data, const NDArray& gamma, const NDArray& beta, const op::LayerNorm::Param& p = {},
                  mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::LayerNorm>(p, {data, gamma, beta}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
