// The cuDNN paths (op/cuda/cudnn_*.hpp) against the CPU, forward and backward, for the configurations cuDNN takes,
// and the same with cuDNN off (cudnn_off, or the process-wide switch for softmax) so that the GPU's own kernels
// stay covered too. Each case also checks that cuDNN was (or was not) reached: the fallback is silent.
// Built into the GPU test binary only (tests/meson.build); without cuDNN the file is empty.
#include "testing.hpp"

#if MIXT_TEST_GPU && MIXT_USE_CUDNN

#include <mixt/op/op.hpp>
#include <mixt/test/gradient_check.hpp>
#include <string>

using namespace mixt;

namespace {

NDArray random_cpu(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return nd::array(mixt::testing::as_stored(mixt::testing::random_values(size_t(s.size()), lo, hi, seed)), s, cpu());
}

uint64_t cudnn_ops() { return op::cudnn::pushed().load(); }

/// CPU versus GPU through check_consistency (forward, aux states, backward with Req::write), and whether the GPU
/// run reached cuDNN.
template <class Op>
void compare(const typename Op::Param& p, const std::vector<NDArray>& in, bool expect_cudnn,
             const std::vector<NDArray>& aux = {}, double rtol = 1e-3, double atol = 1e-4) {
  const uint64_t before = cudnn_ops();
  test::GradCheckResult r = test::check_consistency<Op>(p, in, cpu(), gpu(0), rtol, atol, aux);
  CHECK_MESSAGE(r.ok, r.report);
  if (expect_cudnn) CHECK_MESSAGE(cudnn_ops() > before, "the GPU run did not reach cuDNN");
  else CHECK_MESSAGE(cudnn_ops() == before, "the GPU run reached cuDNN");
}

/// Runs `compare` with cuDNN (when `cudnn` says the case is cuDNN's) and with cudnn_off.
template <class Op>
void compare_both(typename Op::Param p, const std::vector<NDArray>& in, bool cudnn = true,
                  const std::vector<NDArray>& aux = {}) {
  p.cudnn_off = false;
  compare<Op>(p, in, cudnn, aux);
  p.cudnn_off = true;
  compare<Op>(p, in, false, aux);
}

/// For an operator with one output: forward and backward with Req::add onto ones equal Req::write plus one.
template <class Op>
void check_req_add(const typename Op::Param& p, const std::vector<NDArray>& cpu_in, const std::vector<bool>& grads,
                   const std::vector<NDArray>& aux = {}) {
  auto ctx = gpu(0);
  std::vector<NDArray> in;
  for (const NDArray& a : cpu_in) in.push_back(a.copyto(ctx));
  std::vector<NDArray> out = op::invoke<Op>(p, in, aux, true);
  NDArray y = nd::ones(out[0].shape(), ctx);
  std::vector<NDArray> outs{y};
  std::vector<op::Req> reqs{op::Req::add};
  for (size_t k = 1; k < out.size(); ++k) {  // hidden outputs (BatchNorm's mean, var): written, not added
    outs.push_back(nd::zeros(out[k].shape(), ctx));
    reqs.push_back(op::Req::write);
  }
  Op::forward(p, op::OpContext{true, {}}, in, reqs, outs, aux);
  auto want = out[0].to_vector<double>();
  for (auto& v : want) v += 1;
  mixt::testing::check_close(y, want, 1e-4, 1e-5);
  std::vector<NDArray> heads;
  for (size_t k = 0; k < out.size(); ++k) heads.push_back(random_cpu(out[k].shape(), 50 + k).copyto(ctx));
  std::vector<NDArray> gw, ga;
  std::vector<op::Req> rw, ra;
  for (size_t i = 0; i < in.size(); ++i) {
    const bool on = i < grads.size() && grads[i];
    gw.push_back(on ? nd::zeros(in[i].shape(), ctx) : NDArray());
    ga.push_back(on ? nd::ones(in[i].shape(), ctx) : NDArray());
    rw.push_back(on ? op::Req::write : op::Req::null);
    ra.push_back(on ? op::Req::add : op::Req::null);
  }
  Op::backward(p, op::OpContext{true, {}}, heads, in, out, rw, gw, aux);
  Op::backward(p, op::OpContext{true, {}}, heads, in, out, ra, ga, aux);
  for (size_t i = 0; i < in.size(); ++i) {
    if (gw[i].is_none()) continue;
    CAPTURE(i);
    auto v = gw[i].to_vector<double>();
    for (auto& e : v) e += 1;
    mixt::testing::check_close(ga[i], v, 1e-4, 1e-5);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Convolution and Deconvolution

TEST_CASE("cudnn: Convolution against the CPU: stride, dilation, padding, groups, 1-D, 2-D, 3-D, bias") {
  struct Case {
    const char* label;
    Shape data;
    op::Convolution::Param p;
  };
  std::vector<Case> cases = {
      {"2-D 3x3 with bias", Shape{2, 3, 7, 6}, {.kernel = {3, 3}, .num_filter = 4}},
      {"2-D stride 2 pad 1", Shape{2, 4, 9, 8}, {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}, .num_filter = 5}},
      {"2-D dilation 2", Shape{1, 2, 9, 9}, {.kernel = {3, 3}, .dilate = {2, 2}, .pad = {2, 1}, .num_filter = 3}},
      {"2-D 2 groups, no bias", Shape{2, 4, 6, 6},
       {.kernel = {3, 2}, .stride = {1, 2}, .num_filter = 6, .num_group = 2, .no_bias = true}},
      {"2-D depthwise", Shape{2, 6, 5, 5}, {.kernel = {3, 3}, .pad = {1, 1}, .num_filter = 6, .num_group = 6}},
      {"1-D stride 2 dilation 2", Shape{3, 4, 17}, {.kernel = {3}, .stride = {2}, .dilate = {2}, .pad = {1}, .num_filter = 5}},
      {"1-D groups", Shape{2, 6, 10}, {.kernel = {4}, .num_filter = 9, .num_group = 3}},
      {"3-D", Shape{1, 2, 4, 5, 4}, {.kernel = {2, 3, 2}, .stride = {1, 2, 1}, .pad = {1, 0, 1}, .num_filter = 3}},
      {"1x1", Shape{4, 8, 3, 3}, {.kernel = {1, 1}, .num_filter = 2}},
  };
  uint64_t seed = 1;
  for (Case& c : cases) {
    CAPTURE(c.label);
    Shape w{int64_t(c.p.num_filter), c.data[1] / c.p.num_group};
    for (int64_t k : c.p.kernel) w.push_back(k);
    std::vector<NDArray> in{random_cpu(c.data, ++seed), random_cpu(w, ++seed)};
    if (!c.p.no_bias) in.push_back(random_cpu(Shape{int64_t(c.p.num_filter)}, ++seed));
    compare_both<op::Convolution>(c.p, in);
  }
}

TEST_CASE("cudnn: Convolution with Req::add and null requests") {
  op::Convolution::Param p{.kernel = {3, 3}, .stride = {2, 1}, .pad = {1, 1}, .num_filter = 4, .num_group = 2};
  std::vector<NDArray> in{random_cpu(Shape{2, 4, 6, 5}, 1), random_cpu(Shape{4, 2, 3, 3}, 2), random_cpu(Shape{4}, 3)};
  for (bool off : {false, true}) {
    CAPTURE(off);
    p.cudnn_off = off;
    check_req_add<op::Convolution>(p, in, {true, true, true});
    check_req_add<op::Convolution>(p, in, {false, true, false});  // weight gradient only
    check_req_add<op::Convolution>(p, in, {true, false, true});
  }
}

TEST_CASE("cudnn: Deconvolution against the CPU") {
  struct Case {
    const char* label;
    Shape data;
    op::Deconvolution::Param p;
  };
  std::vector<Case> cases = {
      {"2-D stride 2 with bias", Shape{2, 3, 4, 5},
       {.kernel = {3, 3}, .stride = {2, 2}, .pad = {1, 1}, .adj = {1, 0}, .num_filter = 4, .no_bias = false}},
      {"2-D groups, dilation", Shape{1, 4, 5, 5}, {.kernel = {2, 3}, .dilate = {2, 1}, .num_filter = 6, .num_group = 2}},
      {"1-D", Shape{2, 3, 7}, {.kernel = {4}, .stride = {3}, .pad = {1}, .num_filter = 2, .no_bias = false}},
  };
  uint64_t seed = 20;
  for (Case& c : cases) {
    CAPTURE(c.label);
    Shape w{c.data[1], int64_t(c.p.num_filter / c.p.num_group)};
    for (int64_t k : c.p.kernel) w.push_back(k);
    std::vector<NDArray> in{random_cpu(c.data, ++seed), random_cpu(w, ++seed)};
    if (!c.p.no_bias) in.push_back(random_cpu(Shape{int64_t(c.p.num_filter)}, ++seed));
    compare_both<op::Deconvolution>(c.p, in);
    c.p.cudnn_off = false;
    check_req_add<op::Deconvolution>(c.p, in, std::vector<bool>(in.size(), true));
  }
}

TEST_CASE("cudnn: float64 convolution") {
  NDArray x = random_cpu(Shape{2, 3, 6, 6}, 5).astype(DType::float64), w = random_cpu(Shape{4, 3, 3, 3}, 6).astype(DType::float64);
  compare_both<op::Convolution>({.kernel = {3, 3}, .pad = {1, 1}, .num_filter = 4, .no_bias = true}, {x, w});
}

// ---------------------------------------------------------------------------------------------------------------
// Pooling

TEST_CASE("cudnn: Pooling against the CPU: max, avg with and without pad counting, global, 1-D to 3-D") {
  struct Case {
    const char* label;
    Shape data;
    op::Pooling::Param p;
    bool cudnn;
  };
  // Params are made by a function, every optional given: nvcc leaves std::optional<bool>'s default constructor
  // undefined when it is implied inside a braced list of these cases.
  auto pool = [](op::IntTuple k, const char* type, op::IntTuple s, op::IntTuple pad,
                 std::optional<bool> include_pad = std::nullopt, bool global = false, const char* convention = "valid") {
    return op::Pooling::Param{.kernel = k, .pool_type = type, .global_pool = global, .cudnn_off = false,
                              .pooling_convention = convention, .stride = s, .pad = pad, .p_value = std::nullopt,
                              .count_include_pad = include_pad, .layout = std::nullopt};
  };
  std::vector<Case> cases;
  cases.push_back({"max 2x2 stride 2", Shape{2, 3, 6, 6}, pool({2, 2}, "max", {2, 2}, {}), true});
  cases.push_back({"max 3x3 pad 1", Shape{2, 2, 5, 7}, pool({3, 3}, "max", {2, 1}, {1, 1}), true});
  cases.push_back({"avg pad, count_include_pad", Shape{2, 2, 5, 5}, pool({3, 3}, "avg", {2, 2}, {1, 1}), true});
  cases.push_back({"avg pad, no count_include_pad", Shape{2, 2, 5, 5}, pool({3, 3}, "avg", {2, 2}, {1, 1}, false), true});
  cases.push_back({"1-D max", Shape{2, 3, 11}, pool({3}, "max", {2}, {1}), true});
  cases.push_back({"1-D avg", Shape{2, 3, 11}, pool({4}, "avg", {3}, {}), true});
  cases.push_back({"3-D max", Shape{1, 2, 4, 5, 6}, pool({2, 2, 3}, "max", {1, 2, 2}, {0, 1, 1}), true});
  cases.push_back({"3-D avg", Shape{1, 2, 4, 5, 6}, pool({2, 2, 2}, "avg", {2, 2, 2}, {}), true});
  cases.push_back({"global max", Shape{2, 3, 4, 5}, pool({}, "max", {}, {}, std::nullopt, true), true});
  cases.push_back({"global avg", Shape{2, 3, 4, 5}, pool({}, "avg", {}, {}, std::nullopt, true), true});
  cases.push_back({"global avg 1-D", Shape{2, 3, 9}, pool({}, "avg", {}, {}, std::nullopt, true), true});
  // Left to the own kernels.
  cases.push_back({"full convention", Shape{2, 2, 7, 6}, pool({3, 3}, "max", {2, 2}, {}, std::nullopt, false, "full"), false});
  cases.push_back({"sum", Shape{2, 2, 6, 6}, pool({2, 2}, "sum", {2, 2}, {}), false});
  uint64_t seed = 40;
  for (const Case& c : cases) {
    CAPTURE(c.label);
    compare_both<op::Pooling>(c.p, {random_cpu(c.data, ++seed)}, c.cudnn);
  }
  check_req_add<op::Pooling>(pool({3, 3}, "avg", {2, 2}, {1, 1}, false), {random_cpu(Shape{2, 2, 5, 5}, 60)}, {true});
  check_req_add<op::Pooling>(pool({2, 2}, "max", {2, 2}, {}), {random_cpu(Shape{2, 2, 6, 4}, 61)}, {true});
}

// ---------------------------------------------------------------------------------------------------------------
// BatchNorm

TEST_CASE("cudnn: BatchNorm training against the CPU, moving statistics included") {
  struct Case {
    const char* label;
    Shape data;
    op::BatchNorm::Param p;
    bool cudnn;
  };
  std::vector<Case> cases = {
      {"4-D", Shape{4, 3, 5, 6}, {.eps = 1e-3, .momentum = 0.9f, .fix_gamma = false}, true},
      {"4-D fix_gamma", Shape{4, 3, 5, 6}, {.eps = 1e-3, .momentum = 0.9f, .fix_gamma = true}, true},
      {"4-D output_mean_var", Shape{3, 4, 2, 5}, {.eps = 1e-5, .momentum = 0.7f, .fix_gamma = false, .output_mean_var = true}, true},
      {"2-D", Shape{16, 5}, {.eps = 2e-3, .fix_gamma = false}, true},
      {"3-D", Shape{4, 3, 7}, {.fix_gamma = false}, true},
      {"axis -1", Shape{6, 4, 3}, {.fix_gamma = false, .axis = -1}, true},
      // use_global_stats: the forward runs cuDNN's inference path, the backward (the affine gradient) the own kernels.
      {"use_global_stats", Shape{4, 3, 5, 6}, {.fix_gamma = false, .use_global_stats = true}, true},
  };
  uint64_t seed = 70;
  for (const Case& c : cases) {
    CAPTURE(c.label);
    const int axis = c.p.axis < 0 ? c.p.axis + c.data.ndim() : c.p.axis;
    const int64_t C = c.data[axis];
    std::vector<NDArray> in{random_cpu(c.data, ++seed, -2, 3), random_cpu(Shape{C}, ++seed, 0.5, 2),
                            random_cpu(Shape{C}, ++seed)};
    std::vector<NDArray> aux{random_cpu(Shape{C}, ++seed, -0.5, 0.5), random_cpu(Shape{C}, ++seed, 0.5, 1.5)};
    compare_both<op::BatchNorm>(c.p, in, c.cudnn, aux);
  }
  op::BatchNorm::Param p{.fix_gamma = false};
  std::vector<NDArray> in{random_cpu(Shape{4, 3, 5, 6}, 90, -2, 3), random_cpu(Shape{3}, 91, 0.5, 2), random_cpu(Shape{3}, 92)};
  std::vector<NDArray> aux{nd::zeros({3}, gpu(0)), nd::ones({3}, gpu(0))};
  check_req_add<op::BatchNorm>(p, in, {true, true, true}, aux);
  check_req_add<op::BatchNorm>(p, in, {true, false, true}, aux);
  p.fix_gamma = true;
  check_req_add<op::BatchNorm>(p, in, {true, true, true}, aux);
}

TEST_CASE("cudnn: BatchNorm inference against the CPU, mean and var outputs included") {
  const Shape s{4, 3, 5, 6};
  NDArray x = random_cpu(s, 1, -2, 3), gamma = random_cpu(Shape{3}, 2, 0.5, 2), beta = random_cpu(Shape{3}, 3);
  NDArray mm = random_cpu(Shape{3}, 4, -0.5, 0.5), mv = random_cpu(Shape{3}, 5, 0.5, 1.5);
  for (bool fix_gamma : {false, true})
    for (bool off : {false, true}) {
      CAPTURE(fix_gamma);
      CAPTURE(off);
      op::BatchNorm::Param p{.fix_gamma = fix_gamma, .output_mean_var = true, .cudnn_off = off};
      auto run = [&](Context ctx) {
        return op::invoke<op::BatchNorm>(p, {x.copyto(ctx), gamma.copyto(ctx), beta.copyto(ctx)},
                                         {mm.copyto(ctx), mv.copyto(ctx)}, false);
      };
      const uint64_t before = cudnn_ops();
      auto want = run(cpu()), got = run(gpu(0));
      for (size_t k = 0; k < 3; ++k) mixt::testing::check_close(got[k], want[k].to_vector<double>(), 1e-4, 1e-5);
      CHECK((cudnn_ops() > before) == !off);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// softmax and log_softmax

TEST_CASE("cudnn: softmax and log_softmax against the CPU on every axis, with cuDNN on and off") {
  NDArray x = random_cpu(Shape{3, 5, 4}, 7, -3, 3);
  for (bool on : {true, false}) {
    const bool was = op::cudnn::set_enabled(on);
    for (int axis : {0, 1, -1}) {
      CAPTURE(on);
      CAPTURE(axis);
      compare<op::Softmax>({.axis = axis, .temperature = std::nullopt}, {x}, on, {}, 1e-4, 1e-6);
      compare<op::LogSoftmax>({.axis = axis, .temperature = std::nullopt}, {x}, on, {}, 1e-4, 1e-6);
    }
    // A temperature stays on the own kernels.
    compare<op::Softmax>({.axis = 1, .temperature = 2.0}, {x}, false, {}, 1e-4, 1e-6);
    check_req_add<op::Softmax>({.axis = 1, .temperature = std::nullopt}, {x}, {true});
    check_req_add<op::LogSoftmax>({.axis = 0, .temperature = std::nullopt}, {x}, {true});
    op::cudnn::set_enabled(was);
  }
}

#endif  // MIXT_TEST_GPU && MIXT_USE_CUDNN
