// SoftmaxOutput (MXNet's softmax_output-inl.h) and softmax_cross_entropy.
//
// SoftmaxOutput's forward is a softmax over axis 1 of data read as (N, prod(rest)) — over axis 1 of (n, k, rest)
// with multi_output, over the last axis with preserve_shape. Its backward ignores the head gradient unless
// out_grad is set, which multiplies the gradient below by it:
//   label shaped like the output:  (out - label) * grad_scale
//   class labels:                  (out - onehot(label)) with smoothing (1 - a on the label, a / (k - 1) elsewhere),
//                                  rows whose label is ignore_label zeroed when use_ignore, then
//                                  * grad_scale / valid_cnt, valid_cnt = 1 (null), N (batch) or the number of
//                                  labels != ignore_label, at least 1 (valid); multi_output without valid also
//                                  divides by the spatial size.
// softmax_cross_entropy(data, label) returns sum_i -log softmax(data_i)[label_i] as shape (1,).
#pragma once

#include "../expr/reduce.hpp"
#include "one_hot_helpers.hpp"
#include "operator.hpp"

namespace mixt::op {

template <class = void>
struct SoftmaxOutputOp {
  static constexpr const char* name = "SoftmaxOutput";
  static constexpr bool is_loss = true;
  struct Param {
    float grad_scale = 1;
    float ignore_label = -1;
    bool multi_output = false;
    bool use_ignore = false;
    bool preserve_shape = false;
    std::string normalization = "null";
    bool out_grad = false;
    float smooth_alpha = 0;
  };
  static std::vector<std::string> arguments(const Param&) { return {"data", "label"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }

  static void check(const Param& p) {
    if (p.normalization != "null" && p.normalization != "batch" && p.normalization != "valid")
      mixt::detail::fail(name, "attribute 'normalization': expected null, batch or valid; received '", p.normalization, "'");
  }
  /// The label shape for class labels: data's shape without the class axis.
  static Shape label_shape(const Param& p, const Shape& d) {
    if (p.preserve_shape) return Shape(d.begin(), d.end() - 1);
    if (p.multi_output) {
      Shape s{d[0]};
      for (int i = 2; i < d.ndim(); ++i) s.push_back(d[i]);
      return s;
    }
    return Shape{d[0]};
  }
  /// The label shapes accepted besides label_shape and data's own shape: with multi_output, MXNet also takes
  /// (n, prod(rest)) and (n, 1, rest...).
  static std::vector<Shape> other_label_shapes(const Param& p, const Shape& d) {
    if (!p.multi_output || p.preserve_shape || d.ndim() < 2) return {};
    auto per = [](int64_t total, int64_t part) { return part ? total / part : 0; };
    Shape kept = d;
    kept[1] = 1;
    return {Shape{d[0], per(d.size(), d[0] * d[1])}, kept};
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    check(p);
    same_shape(name, in, out);
    if (!shape_known(in[0])) return;
    std::vector<Shape> accepted = {label_shape(p, in[0]), in[0]};
    for (const Shape& s : other_label_shapes(p, in[0])) accepted.push_back(s);
    if (in[1].ndim() == 0) {
      in[1] = accepted[0];
      return;
    }
    // A label extent of 0 is unknown and takes the accepted shape's (as assign_shape does).
    for (const Shape& s : accepted) {
      bool fits = s.ndim() == in[1].ndim();
      for (int d = 0; fits && d < s.ndim(); ++d) fits = in[1][d] == 0 || in[1][d] == s[d];
      if (fits) {
        in[1] = s;
        return;
      }
    }
    std::string expected = accepted[0].to_string();
    for (size_t i = 1; i < accepted.size(); ++i)
      expected += (i + 1 == accepted.size() ? " or " : ", ") + accepted[i].to_string();
    mixt::detail::fail(name, "argument 'label': expected shape ", expected, ", received ", in[1]);
  }
  /// (rows, classes, inner): the view the softmax runs over, on axis 1.
  static Shape view3(const Param& p, const Shape& d) {
    const int need = p.multi_output ? 2 : 1;
    if (d.ndim() < need)
      mixt::detail::fail(name, "argument 'data': expected at least ", need, " dimension", need > 1 ? "s" : "",
                         ", received shape ", d);
    auto per = [](int64_t total, int64_t part) { return part ? total / part : 0; };  // empty axes divide by 0
    if (p.preserve_shape) return Shape{per(d.size(), d[d.ndim() - 1]), d[d.ndim() - 1], 1};
    if (p.multi_output) return Shape{d[0], d[1], per(d.size(), d[0] * d[1])};
    return Shape{d[0], per(d.size(), d[0]), 1};
  }
  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    check(p);
    Shape v = view3(p, in[0].shape());
    if (in[0].size() == 0) return;  // an empty batch or class axis: the output is empty too
    NDArray x = in[0].reshape(v.to_vector());
    NDArray shifted = expr::evaluate(x - nd::max(x, {1}, true));
    NDArray e = expr::evaluate(exp(shifted));
    write(out[0].reshape(v.to_vector()), req[0], e / nd::sum(e, {1}, true));
  }
  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>& out, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const NDArray& label = in[1];
    if (out[0].size() == 0) return;  // nothing flowed: the input gradient is empty
    // out_grad: the loss's gradient times the head gradient (MXNet ignores the head gradient otherwise).
    auto put = [&](const NDArray& dst, const auto& grad) {
      if (p.out_grad) write(dst, req[0], grad * og[0].view(dst.shape(), og[0].byte_offset()));
      else write(dst, req[0], grad);
    };
    if (label.shape() == out[0].shape()) {
      put(ig[0], (out[0] - label) * p.grad_scale);
    } else {
      Shape v = view3(p, out[0].shape());
      const int64_t k = v[1];
      NDArray y = out[0].reshape(v.to_vector());
      NDArray lab = label.reshape({v[0], 1, v[2]});
      NDArray onehot = expr::evaluate(lab == detail::class_index(k, 3, 1, y.ctx(), y.dtype()));
      double on = 1.0 - p.smooth_alpha, off = k > 1 ? p.smooth_alpha / double(k - 1) : 0.0;
      NDArray grad = expr::evaluate(y - (onehot * (on - off) + off));
      if (p.use_ignore) grad = expr::evaluate(grad * (lab != p.ignore_label));
      double scale = p.grad_scale;
      if (p.normalization == "batch") scale /= double(v[0]);
      if (p.multi_output && p.normalization != "valid") scale /= double(v[2]);
      if (p.normalization == "valid") {
        NDArray valid = expr::evaluate(maximum(nd::sum(label != p.ignore_label), 1.f));
        put(ig[0].reshape(v.to_vector()), grad * scale / valid);
      } else {
        put(ig[0].reshape(v.to_vector()), grad * scale);
      }
    }
    if (req.size() > 1) write(ig[1], req[1], 0.f);
  }
};
using SoftmaxOutput = SoftmaxOutputOp<>;
template <class V> void visit(SoftmaxOutput::Param& p, V&& v) {
  v("grad_scale", p.grad_scale); v("ignore_label", p.ignore_label); v("multi_output", p.multi_output);
  v("use_ignore", p.use_ignore); v("preserve_shape", p.preserve_shape); v("normalization", p.normalization);
  v("out_grad", p.out_grad); v("smooth_alpha", p.smooth_alpha);
}

template <class = void>
struct SoftmaxCrossEntropyOp {
  static constexpr const char* name = "softmax_cross_entropy";
  struct Param {};
  static std::vector<std::string> arguments(const Param&) { return {"data", "label"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }
  static void infer_shape(const Param&, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    expect_ndim(name, "data", in[0], 2);
    if (shape_known(in[0])) assign_shape(name, "label", in[1], Shape{in[0][0]});
    assign_shape(name, "output", out[0], Shape{1});
  }
  static NDArray log_probs(const NDArray& x) {
    NDArray shifted = expr::evaluate(x - nd::max(x, {1}, true));
    return expr::evaluate(shifted - log(nd::sum(exp(shifted), {1}, true)));
  }
  static void forward(const Param&, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    const NDArray& x = in[0];
    NDArray onehot =
        expr::evaluate(in[1].reshape({x.shape()[0], 1}) == detail::class_index(x.shape()[1], 2, 1, x.ctx(), x.dtype()));
    write(out[0], req[0], nd::sum(log_probs(x) * onehot * -1.f).reshape({1}));
  }
  static void backward(const Param&, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const NDArray& x = in[0];
    NDArray onehot =
        expr::evaluate(in[1].reshape({x.shape()[0], 1}) == detail::class_index(x.shape()[1], 2, 1, x.ctx(), x.dtype()));
    write(ig[0], req[0], (exp(log_probs(x)) - onehot) * og[0].reshape({1, 1}));
    if (req.size() > 1) write(ig[1], req[1], 0.f);
  }
};
using SoftmaxCrossEntropy = SoftmaxCrossEntropyOp<>;
template <class V> void visit(SoftmaxCrossEntropy::Param&, V&&) {}

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray SoftmaxOutput(const NDArray& data, const NDArray& label, const op::SoftmaxOutput::Param& p = {},
                      mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::SoftmaxOutput>(p, {data, label}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray softmax_cross_entropy(const NDArray& data, const NDArray& label,
                              mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::SoftmaxCrossEntropy>({}, {data, label}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
