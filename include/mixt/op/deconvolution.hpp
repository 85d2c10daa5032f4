// Deconvolution (MXNet's nn/deconvolution-inl.h): the transpose (gradient) of Convolution, run by the same
// GEMM + col2im. Data (N, C, x...), weight (C, num_filter/num_group, k...), bias (num_filter; no_bias defaults to
// True as in MXNet). Output extent (x-1)*s - 2p + d(k-1) + 1 + adj; with target_shape set, pad and adj are
// worked out so that the output has that shape (MXNet's InferPad). On a GPU with cuDNN (and cudnn_off false) the
// same cuDNN passes as Convolution's run it, roles swapped: forward is cuDNN's backward data, the data gradient
// its forward (op/cuda/cudnn_convolution.hpp).
#pragma once

#include "convolution.hpp"

namespace mixt::op {

template <class = void>
struct DeconvolutionOp {
  static constexpr const char* name = "Deconvolution";
  struct Param {
    IntTuple kernel{};
    IntTuple stride{};
    IntTuple dilate{};
    IntTuple pad{};
    IntTuple adj{};
    IntTuple target_shape{};
    int num_filter = 0;
    int num_group = 1;
    int64_t workspace = 512;
    bool no_bias = true;
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

  /// kernel/stride/dilate/pad checked, plus adj (in the last nd entries of `adj`).
  static conv_detail::Spatial spatial(const Param& p, int64_t* adj) {
    conv_detail::Spatial sp = conv_detail::resolve_spatial(name, p.kernel, p.stride, p.dilate, p.pad);
    conv_detail::check_groups(name, p.num_filter, p.num_group);
    conv_detail::check_layout(name, p.layout, sp.nd);
    for (int i = 0; i < 3; ++i) adj[i] = 0;
    conv_detail::spatial_attr(name, "adj", p.adj, sp.nd, 0, 0, adj);
    for (int i = 3 - sp.nd; i < 3; ++i)
      if (adj[i] >= sp.s[i] && adj[i] != 0)
        mixt::detail::fail(name, "attribute 'adj': expected values smaller than stride ", attr::format(p.stride),
                           ", received ", attr::format(p.adj));
    int64_t ts[3] = {0, 0, 0};
    conv_detail::spatial_attr(name, "target_shape", p.target_shape, sp.nd, 0, 0, ts);
    return sp;
  }

  /// The geometry once the data shape is known: target_shape (when set) replaces pad and adj.
  static conv_detail::Spatial resolved(const Param& p, const Shape& data, int64_t* adj) {
    conv_detail::Spatial sp = spatial(p, adj);
    const bool target = !p.target_shape.empty() &&
                        std::any_of(p.target_shape.begin(), p.target_shape.end(), [](int64_t v) { return v != 0; });
    if (target)
      for (int i = 0; i < sp.nd; ++i) {
        const int j = 3 - sp.nd + i;
        const int64_t full = sp.s[j] * (data[2 + i] - 1) + sp.d[j] * (sp.k[j] - 1) + 1, t = p.target_shape[size_t(i)];
        if (data[2 + i] == 0) continue;
        if (full < t)
          mixt::detail::fail(name, "attribute 'target_shape': expected extents <= ", full, " on axis ", 2 + i,
                             " for data shape ", data.to_string(), ", received ", attr::format(p.target_shape));
        sp.p[j] = (full - t + 1) / 2;
        adj[j] = (full - t) % 2;
      }
    return sp;
  }

  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    int64_t adj[3];
    conv_detail::Spatial sp = spatial(p, adj);
    const int nd = sp.nd;
    const int64_t F = p.num_filter, G = p.num_group;
    Shape& data = in[0];
    expect_ndim(name, "data", data, nd + 2);
    expect_ndim(name, "weight", in[1], nd + 2);
    Shape wshape{0, F / G};
    for (int i = 0; i < nd; ++i) wshape.push_back(p.kernel[size_t(i)]);
    if (data.ndim() != 0) {
      if (data[1] == 0 && in[1].ndim() != 0 && in[1][0] != 0) data[1] = in[1][0];
      const int64_t C = data[1];
      if (C % G)
        mixt::detail::fail(name, "argument 'data': expected channels divisible by num_group (", G, "), received shape ",
                           data.to_string());
      wshape[0] = C;
      assign_shape(name, "weight", in[1], wshape);
      sp = resolved(p, data, adj);
      Shape o{data[0], F};
      for (int i = 0; i < nd; ++i) {
        const int64_t x = data[2 + i], j = 3 - nd + i;
        const int64_t y = (x - 1) * sp.s[j] - 2 * sp.p[j] + sp.d[j] * (sp.k[j] - 1) + 1 + adj[j];
        if (x != 0 && y < 1)
          mixt::detail::fail(name, "argument 'data': output extent ", y, " on axis ", 2 + i,
                             " is not positive (padding too large), received shape ", data.to_string());
        o.push_back(x == 0 ? 0 : y);
      }
      assign_shape(name, "output", out[0], o);
    } else if (in[1].ndim() != 0) {
      assign_shape(name, "weight", in[1], wshape);
    }
    if (!p.no_bias) assign_shape(name, "bias", in[2], Shape{F});
  }

  static conv_detail::ConvGeom geometry(const Param& p, const Shape& data, const Shape& output) {
    int64_t adj[3];
    // Image side: the output (F channels); column side: the data (C channels), weight (C, F/G, k...).
    return conv_detail::geometry(resolved(p, data, adj), output, data, p.num_group);
  }

  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    conv_detail::check_inputs(name, in);
    if (req[0] == Req::null) return;
    const conv_detail::ConvGeom g = geometry(p, in[0].shape(), out[0].shape());
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (!p.cudnn_off) {
      std::vector<cudnn::ConvStep> steps{{cudnn::ConvStep::backward_data, in[0], in[1], out[0], req[0]}};
      if (!p.no_bias) steps.push_back({cudnn::ConvStep::add_bias, in[2], NDArray(), out[0]});
      if (cudnn::convolution(name, g, int(p.kernel.size()), steps, p.workspace)) return;
    }
#endif
    conv_detail::gemm_col2im(name, g, in[0], in[1], out[0], req[0] == Req::add);
    if (!p.no_bias) {
      NDArray y = out[0];
      y += in[2].reshape(conv_detail::bias_shape(p.num_filter, y.ndim()));
    }
  }

  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    const conv_detail::ConvGeom g = geometry(p, in[0].shape(), og[0].shape());
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (!p.cudnn_off) {
      std::vector<cudnn::ConvStep> steps;
      if (req[0] != Req::null) steps.push_back({cudnn::ConvStep::forward, og[0], in[1], ig[0], req[0]});
      if (req[1] != Req::null) steps.push_back({cudnn::ConvStep::backward_filter, og[0], in[0], ig[1], req[1]});
      if (!p.no_bias && req[2] != Req::null) steps.push_back({cudnn::ConvStep::bias_grad, og[0], NDArray(), ig[2], req[2]});
      if (cudnn::convolution(name, g, int(p.kernel.size()), steps, p.workspace)) return;
    }
#endif
    const NDArray col = req[0] != Req::null || req[1] != Req::null ? conv_detail::col_buffer(g, og[0]) : NDArray();
    if (req[0] != Req::null) conv_detail::im2col_gemm(name, g, og[0], in[1], ig[0], req[0] == Req::add, col);
    if (req[1] != Req::null) conv_detail::weight_grad(name, g, og[0], in[0], ig[1], req[1] == Req::add, col);
    if (!p.no_bias && req[2] != Req::null) write(ig[2], req[2], conv_detail::channel_sum(og[0]));
  }
};
using Deconvolution = DeconvolutionOp<>;
template <class V> void visit(Deconvolution::Param& p, V&& v) {
  v("kernel", p.kernel); v("stride", p.stride); v("dilate", p.dilate); v("pad", p.pad); v("adj", p.adj);
  v("target_shape", p.target_shape); v("num_filter", p.num_filter); v("num_group", p.num_group);
  v("workspace", p.workspace); v("no_bias", p.no_bias); v("cudnn_tune", p.cudnn_tune); v("cudnn_off", p.cudnn_off);
  v("layout", p.layout);
}

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray Deconvolution(const NDArray& data, const NDArray& weight, const NDArray& bias,
                      const op::Deconvolution::Param& p,
                      mixt::source_location where = mixt::source_location::current()) {
  op::Deconvolution::Param q = p;
  q.no_bias = false;
  return op::invoke<op::Deconvolution>(q, {data, weight, bias}, {}, autograd::is_training(), where)[0];
}
template <int = 0>
NDArray Deconvolution(const NDArray& data, const NDArray& weight, const op::Deconvolution::Param& p,
                      mixt::source_location where = mixt::source_location::current()) {
  op::Deconvolution::Param q = p;
  q.no_bias = true;
  return op::invoke<op::Deconvolution>(q, {data, weight}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
