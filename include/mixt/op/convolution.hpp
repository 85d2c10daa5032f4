// Convolution (MXNet's nn/convolution-inl.h): 1-D (NCW), 2-D (NCHW) and 3-D (NCDHW) convolution with stride,
// dilation, zero padding and groups, by im2col + GEMM (op/im2col.hpp). Weight (num_filter, C/num_group, k...),
// bias (num_filter); output extent floor((x + 2p - d(k-1) - 1)/s) + 1. On a GPU with cuDNN (and cudnn_off false)
// cuDNN runs it (op/cuda/cudnn_convolution.hpp says which cases; the others keep im2col + GEMM); workspace caps
// cuDNN's workspace (MB), cudnn_tune is accepted and ignored.
#pragma once

#include <optional>
#include <string>

#include "../core/config.hpp"
#include "../expr/reduce.hpp"
#include "im2col.hpp"
#include "operator.hpp"
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
#include "cuda/cudnn_convolution.hpp"
#endif

namespace mixt::op::conv_detail {

/// kernel / stride / dilate / pad of a convolution-like operator, checked and padded to 3 dimensions.
struct Spatial {
  int nd = 0;
  int64_t k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, p[3] = {0, 0, 0};
};

/// Fills a tuple attribute (empty: `fill`) into the last nd entries of dst; checks its length and lower bound.
inline void spatial_attr(const char* op, const char* key, const IntTuple& t, int nd, int64_t fill, int64_t min,
                         int64_t* dst) {
  if (!t.empty() && int(t.size()) != nd)
    mixt::detail::fail(op, "attribute '", key, "': expected ", nd, " values (one per spatial axis of kernel), received ",
                       attr::format(t));
  for (int i = 0; i < nd; ++i) {
    const int64_t v = t.empty() ? fill : t[size_t(i)];
    if (v < min) mixt::detail::fail(op, "attribute '", key, "': expected values >= ", min, ", received ", attr::format(t));
    dst[3 - nd + i] = v;
  }
}

inline Spatial resolve_spatial(const char* op, const IntTuple& kernel, const IntTuple& stride, const IntTuple& dilate,
                               const IntTuple& pad) {
  Spatial r;
  r.nd = int(kernel.size());
  if (r.nd < 1 || r.nd > 3)
    mixt::detail::fail(op, "attribute 'kernel': expected 1, 2 or 3 values, received ", attr::format(kernel));
  spatial_attr(op, "kernel", kernel, r.nd, 1, 1, r.k);
  spatial_attr(op, "stride", stride, r.nd, 1, 1, r.s);
  spatial_attr(op, "dilate", dilate, r.nd, 1, 1, r.d);
  spatial_attr(op, "pad", pad, r.nd, 0, 0, r.p);
  return r;
}

inline void check_layout(const char* op, const std::optional<std::string>& layout, int nd) {
  static const char* names[] = {"NCW", "NCHW", "NCDHW"};
  if (layout && *layout != "None" && *layout != names[nd - 1])
    mixt::detail::fail(op, "attribute 'layout': expected ", names[nd - 1], " for a ", nd,
                       "-D kernel (channels-last layouts are not supported), received '", *layout, "'");
}

inline void check_groups(const char* op, int num_filter, int num_group) {
  if (num_filter < 1) mixt::detail::fail(op, "attribute 'num_filter': expected >= 1, received ", num_filter);
  if (num_group < 1) mixt::detail::fail(op, "attribute 'num_group': expected >= 1, received ", num_group);
  if (num_filter % num_group)
    mixt::detail::fail(op, "attribute 'num_filter': expected a multiple of num_group (", num_group, "), received ",
                       num_filter);
}

/// Geometry for image (N, Ci, in...) and column side (N, Co, out...), both shapes known.
inline ConvGeom geometry(const Spatial& sp, const Shape& image, const Shape& colside, int64_t groups) {
  ConvGeom g;
  g.N = image[0], g.Ci = image[1], g.Co = colside[1], g.G = groups;
  for (int i = 0; i < 3; ++i) {
    g.k[i] = sp.k[i], g.s[i] = sp.s[i], g.d[i] = sp.d[i], g.p[i] = sp.p[i];
  }
  for (int i = 0; i < sp.nd; ++i) {
    g.in[3 - sp.nd + i] = image[2 + i];
    g.out[3 - sp.nd + i] = colside[2 + i];
  }
  return g;
}

/// Shape (1, F, 1, ...) of a bias broadcast against an output of `ndim` dimensions.
inline std::vector<int64_t> bias_shape(int64_t F, int ndim) {
  std::vector<int64_t> s(size_t(ndim), 1);
  s[1] = F;
  return s;
}

/// What infer_shape cannot see: a 0-d data array (MXNet's shape inference reads () as "unknown").
inline void check_inputs(const char* op, const std::vector<NDArray>& in) {
  if (in[0].ndim() < 3)
    mixt::detail::fail(op, "argument 'data': expected 3 to 5 dimensions (batch, channels, spatial axes), received ",
                       "shape ", in[0].shape().to_string());
}

/// Sums an output gradient (N, F, ...) over every axis but 1. A view with the extents spelled out: reshape's codes
/// read 0 as "copy this extent" and cannot infer -1 for an empty batch.
template <int = 0>
NDArray channel_sum(const NDArray& g) {
  const int64_t n = g.shape()[0], f = g.shape()[1];
  return nd::sum(g.view(Shape{n, f, n * f != 0 ? g.size() / (n * f) : 0}, g.byte_offset()), {0, 2});
}

}  // namespace mixt::op::conv_detail

namespace mixt::op {

template <class = void>
struct ConvolutionOp {
  static constexpr const char* name = "Convolution";
  struct Param {
    IntTuple kernel{};
    IntTuple stride{};
    IntTuple dilate{};
    IntTuple pad{};
    int num_filter = 0;
    int num_group = 1;
    int64_t workspace = 1024;
    bool no_bias = false;
    std::optional<std::string> cudnn_tune{};
    bool cudnn_off = false;
    std::optional<std::string> layout{};
  };
  static std::vector<std::string> arguments(const Param& p) {
    if (p.no_bias) return {"data", "weight"};
    return {"data", "weight", "bias"};
  }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }

  static conv_detail::Spatial spatial(const Param& p) {
    conv_detail::Spatial sp = conv_detail::resolve_spatial(name, p.kernel, p.stride, p.dilate, p.pad);
    conv_detail::check_groups(name, p.num_filter, p.num_group);
    conv_detail::check_layout(name, p.layout, sp.nd);
    return sp;
  }

  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    const conv_detail::Spatial sp = spatial(p);
    const int nd = sp.nd;
    const int64_t F = p.num_filter, G = p.num_group;
    Shape& data = in[0];
    expect_ndim(name, "data", data, nd + 2);
    expect_ndim(name, "weight", in[1], nd + 2);
    Shape wshape{F, 0};
    for (int i = 0; i < nd; ++i) wshape.push_back(p.kernel[size_t(i)]);
    if (data.ndim() != 0) {
      // Backward inference: unknown data channels come from the weight.
      if (data[1] == 0 && in[1].ndim() != 0 && in[1][1] != 0) data[1] = in[1][1] * G;
      const int64_t C = data[1];
      if (C % G)
        mixt::detail::fail(name, "argument 'data': expected channels divisible by num_group (", G, "), received shape ",
                           data.to_string());
      wshape[1] = C / G;
      assign_shape(name, "weight", in[1], wshape);
      Shape o{data[0], F};
      for (int i = 0; i < nd; ++i) {
        const int64_t x = data[2 + i], j = 3 - nd + i;
        const int64_t span = sp.d[j] * (sp.k[j] - 1) + 1;
        if (x != 0 && x + 2 * sp.p[j] < span)
          mixt::detail::fail(name, "argument 'data': spatial extent ", x, " (axis ", 2 + i, ") plus padding ",
                             2 * sp.p[j], " is smaller than the dilated kernel ", span, ", received shape ",
                             data.to_string());
        o.push_back(x == 0 ? 0 : (x + 2 * sp.p[j] - span) / sp.s[j] + 1);
      }
      assign_shape(name, "output", out[0], o);
    } else if (in[1].ndim() != 0) {
      assign_shape(name, "weight", in[1], wshape);
    }
    if (!p.no_bias) assign_shape(name, "bias", in[2], Shape{F});
  }

  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    conv_detail::check_inputs(name, in);
    if (req[0] == Req::null) return;
    const conv_detail::Spatial sp = spatial(p);
    const conv_detail::ConvGeom g = conv_detail::geometry(sp, in[0].shape(), out[0].shape(), p.num_group);
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (!p.cudnn_off) {
      std::vector<cudnn::ConvStep> steps{{cudnn::ConvStep::forward, in[0], in[1], out[0], req[0]}};
      if (!p.no_bias) steps.push_back({cudnn::ConvStep::add_bias, in[2], NDArray(), out[0]});
      if (cudnn::convolution(name, g, sp.nd, steps, p.workspace)) return;
    }
#endif
    conv_detail::im2col_gemm(name, g, in[0], in[1], out[0], req[0] == Req::add);
    if (!p.no_bias) {
      NDArray y = out[0];
      y += in[2].reshape(conv_detail::bias_shape(p.num_filter, y.ndim()));
    }
  }

  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const conv_detail::Spatial sp = spatial(p);
    const conv_detail::ConvGeom g = conv_detail::geometry(sp, in[0].shape(), og[0].shape(), p.num_group);
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (!p.cudnn_off) {
      std::vector<cudnn::ConvStep> steps;
      if (req[0] != Req::null) steps.push_back({cudnn::ConvStep::backward_data, og[0], in[1], ig[0], req[0]});
      if (req[1] != Req::null) steps.push_back({cudnn::ConvStep::backward_filter, in[0], og[0], ig[1], req[1]});
      if (!p.no_bias && req[2] != Req::null) steps.push_back({cudnn::ConvStep::bias_grad, og[0], NDArray(), ig[2], req[2]});
      if (cudnn::convolution(name, g, sp.nd, steps, p.workspace)) return;
    }
#endif
    const NDArray col = req[0] != Req::null || req[1] != Req::null ? conv_detail::col_buffer(g, in[0]) : NDArray();
    if (req[0] != Req::null) conv_detail::gemm_col2im(name, g, og[0], in[1], ig[0], req[0] == Req::add, col);
    if (req[1] != Req::null) conv_detail::weight_grad(name, g, in[0], og[0], ig[1], req[1] == Req::add, col);
    if (!p.no_bias && req[2] != Req::null) write(ig[2], req[2], conv_detail::channel_sum(og[0]));
  }
};
using Convolution = ConvolutionOp<>;
template <class V> void visit(Convolution::Param& p, V&& v) {
  v("kernel", p.kernel); v("stride", p.stride); v("dilate", p.dilate); v("pad", p.pad);
  v("num_filter", p.num_filter); v("num_group", p.num_group); v("workspace", p.workspace); v("no_bias", p.no_bias);
  v("cudnn_tune", p.cudnn_tune); v("cudnn_off", p.cudnn_off); v("layout", p.layout);
}

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray Convolution(const NDArray& data, const NDArray& weight, const NDArray& bias, const op::Convolution::Param& p,
                    mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Convolution>(p, {data, weight, bias}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray Convolution(const NDArray& data, const NDArray& weight, const op::Convolution::Param& p,
                    mixt::source_location where = mixt::source_location::current()) {
  op::Convolution::Param q = p;
  q.no_bias = true;
  return op::invoke<op::Convolution>(q, {data, weight}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
