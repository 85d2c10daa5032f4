// Checking tools shipped with the library (dlib's test_layer, MXNet's test_utils): check_numeric_gradient
// compares an operator's backward with central differences; check_consistency runs an operator on two contexts
// (cpu() and gpu(0), say) and compares forward and backward.
#pragma once

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "../ndarray/creation.hpp"
#include "../op/operator.hpp"

namespace mixt::test {

struct GradCheckOptions {
  double eps = 1e-3;   ///< central-difference step (MXNet's numeric_eps for float32)
  double rtol = 1e-2;  ///< MXNet's float32 defaults
  double atol = 1e-4;
  uint64_t seed = 7;   ///< for the random head gradient
};

struct GradCheckResult {
  bool ok = true;
  double max_error = 0;  ///< largest |analytic - numeric| - tol over all checked elements (<= 0 when ok)
  std::string report;    ///< the first mismatches, "input 'x' element 3: analytic 0.5, numeric 0.49"
};

namespace detail {
inline std::vector<double> random_head(size_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}
/// Fresh copies of the auxiliary states: every evaluation sees the caller's values, which stay unchanged.
inline std::vector<NDArray> copies(const std::vector<NDArray>& a) {
  std::vector<NDArray> c;
  for (const NDArray& x : a) c.push_back(x.copy());
  return c;
}
}  // namespace detail

/// Checks d/d(inputs) of sum_k <out_k, head_k> (head_k random) against central differences, input by input.
/// `check_input[i] == false` skips input i (labels, say). Not for loss heads, whose backward ignores head_k.
/// Only the visible outputs (Op::outputs) get a head; hidden ones (BatchNorm's saved mean, say) get zeros. `aux`
/// holds the auxiliary states (BatchNorm's moving statistics): each evaluation gets fresh copies of them. The
/// operator's errors (bad input, a dtype it lacks) name the caller's line.
template <class Op>
GradCheckResult check_numeric_gradient(const typename Op::Param& p, const std::vector<NDArray>& inputs,
                                       std::vector<bool> check_input = {}, GradCheckOptions o = {},
                                       bool is_train = true, const std::vector<NDArray>& aux = {},
                                       mixt::source_location where = mixt::source_location::current()) {
  check_input.resize(inputs.size(), true);
  std::vector<NDArray> out = op::invoke<Op>(p, inputs, detail::copies(aux), is_train, where);
  const size_t visible = Op::outputs(p).size();
  std::vector<std::vector<double>> heads;
  std::vector<NDArray> head_arrays;
  for (size_t k = 0; k < out.size(); ++k) {
    heads.push_back(k < visible ? detail::random_head(size_t(out[k].size()), o.seed + k)
                                : std::vector<double>(size_t(out[k].size()), 0.0));
    head_arrays.push_back(nd::array(heads[k], out[k].shape(), out[k].ctx(), out[k].dtype()));
  }
  std::vector<NDArray> grads;
  std::vector<op::Req> req;
  for (size_t i = 0; i < inputs.size(); ++i) {
    grads.push_back(nd::zeros(inputs[i].shape(), inputs[i].ctx(), inputs[i].dtype()));
    req.push_back(check_input[i] ? op::Req::write : op::Req::null);
  }
  Op::backward(p, op::OpContext{is_train, {}}, head_arrays, inputs, out, req, grads, detail::copies(aux));
  auto objective = [&](const std::vector<NDArray>& in) {
    std::vector<NDArray> y = op::invoke<Op>(p, in, detail::copies(aux), is_train, where);
    double s = 0;
    for (size_t k = 0; k < visible; ++k) {
      std::vector<double> v = y[k].to_vector<double>();
      for (size_t e = 0; e < v.size(); ++e) s += v[e] * heads[k][e];
    }
    return s;
  };
  auto args = Op::arguments(p);
  GradCheckResult r;
  r.max_error = -INFINITY;
  int reported = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!check_input[i]) continue;
    std::vector<double> x = inputs[i].to_vector<double>(), analytic = grads[i].to_vector<double>();
    for (size_t e = 0; e < x.size(); ++e) {
      std::vector<NDArray> in = inputs;
      std::vector<double> xp = x;
      xp[e] = x[e] + o.eps;
      in[i] = nd::array(xp, inputs[i].shape(), inputs[i].ctx(), inputs[i].dtype());
      double fp = objective(in);
      xp[e] = x[e] - o.eps;
      in[i] = nd::array(xp, inputs[i].shape(), inputs[i].ctx(), inputs[i].dtype());
      double fm = objective(in);
      double numeric = (fp - fm) / (2 * o.eps);
      double err = std::abs(analytic[e] - numeric) - (o.atol + o.rtol * std::abs(numeric));
      r.max_error = std::max(r.max_error, err);
      if (err > 0) {
        r.ok = false;
        if (reported++ < 5)
          r.report += std::string(Op::name) + " input '" + args[i] + "' element " + std::to_string(e) +
                      ": analytic " + std::to_string(analytic[e]) + ", numeric " + std::to_string(numeric) + "\n";
      }
    }
  }
  return r;
}

/// Runs forward (and backward with a fixed random head gradient) on ctx_a and ctx_b and compares the results.
template <class Op>
GradCheckResult check_consistency(const typename Op::Param& p, const std::vector<NDArray>& inputs,
                                  const Context& ctx_a, const Context& ctx_b, double rtol = 1e-4,
                                  double atol = 1e-5, const std::vector<NDArray>& aux = {},
                                  mixt::source_location where = mixt::source_location::current()) {
  auto run = [&](const Context& ctx) {
    std::vector<NDArray> in, aux_in;
    for (const NDArray& a : inputs) in.push_back(a.copyto(ctx));
    for (const NDArray& a : aux) aux_in.push_back(a.copyto(ctx));
    std::vector<NDArray> out = op::invoke<Op>(p, in, aux_in, true, where);
    std::vector<NDArray> heads, grads;
    std::vector<op::Req> req(in.size(), op::Req::write);
    for (size_t k = 0; k < out.size(); ++k)
      heads.push_back(nd::array(detail::random_head(size_t(out[k].size()), 11 + k), out[k].shape(), ctx, out[k].dtype()));
    for (const NDArray& a : in) grads.push_back(nd::zeros(a.shape(), ctx, a.dtype()));
    Op::backward(p, op::OpContext{true, {}}, heads, in, out, req, grads, aux_in);
    std::vector<std::vector<double>> values;
    for (const NDArray& a : out) values.push_back(a.to_vector<double>());
    for (const NDArray& a : aux_in) values.push_back(a.to_vector<double>());  // updated in place by forward
    for (const NDArray& a : grads) values.push_back(a.to_vector<double>());
    return values;
  };
  auto va = run(ctx_a), vb = run(ctx_b);
  GradCheckResult r;
  for (size_t k = 0; k < va.size(); ++k)
    for (size_t e = 0; e < va[k].size(); ++e) {
      double err = std::abs(va[k][e] - vb[k][e]) - (atol + rtol * std::abs(va[k][e]));
      r.max_error = std::max(r.max_error, err);
      if (err > 0 && r.ok) {
        r.ok = false;
        r.report = std::string(Op::name) + ": result " + std::to_string(k) + " element " + std::to_string(e) + " is " +
                   std::to_string(va[k][e]) + " on " + ctx_a.to_string() + " and " + std::to_string(vb[k][e]) +
                   " on " + ctx_b.to_string();
      }
    }
  return r;
}

}  // namespace mixt::test
