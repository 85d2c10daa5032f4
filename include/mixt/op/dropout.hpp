// Dropout (MXNet's nn/dropout-inl.h). Active in train mode (mode 'training') or always (mode 'always'):
//   mask = (u < 1 - p) / (1 - p), u uniform in [0, 1) from the seeded generator (nd::random), y = x * mask;
// otherwise the identity. With `axes` the mask has extent 1 along those axes and is shared along them. The mask is
// MXNet's hidden second output (of data's shape; ones when inactive), and backward is dx = dy * mask.
#pragma once

#include "../ndarray/random.hpp"
#include "operator.hpp"

namespace mixt::op {

template <class = void>
struct DropoutOp {
  static constexpr const char* name = "Dropout";
  struct Param {
    float p = 0.5f;
    std::string mode = "training";
    IntTuple axes = {};
    bool cudnn_off = false;  ///< accepted and ignored
  };
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static int num_outputs(const Param&) { return 2; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }

  static void check(const Param& p) {
    if (!(p.p >= 0 && p.p <= 1)) mixt::detail::fail(name, "attribute 'p': expected a value in [0, 1], received ", p.p);
    if (p.mode != "training" && p.mode != "always")
      mixt::detail::fail(name, "attribute 'mode': expected training or always, received '", p.mode, "'");
  }
  /// data's shape with extent 1 along `axes`: the shape of the random mask.
  static Shape mask_shape(const Param& p, const Shape& s) {
    Shape m = s;
    for (int64_t a : p.axes) {
      int64_t d = a < 0 ? a + s.ndim() : a;
      if (d < 0 || d >= s.ndim())
        mixt::detail::fail(name, "attribute 'axes': expected axes in [", -s.ndim(), ", ", s.ndim(), ") for data of ",
                           s.ndim(), " dimensions, received ", a);
      m[int(d)] = 1;
    }
    return m;
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    check(p);
    same_shape(name, in, out);
    if (in[0].ndim() != 0) mask_shape(p, in[0]);
    assign_shape(name, "mask", out[1], in[0]);
    assign_shape(name, "data", in[0], out[1]);
    assign_shape(name, "output", out[0], in[0]);
  }
  static bool active(const Param& p, const OpContext& ctx) { return p.mode == "always" || ctx.is_train; }

  static void forward(const Param& p, const OpContext& ctx, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    check(p);
    const NDArray& x = in[0];
    NDArray mask = out[1];
    if (!active(p, ctx)) {
      mask.assign(1.f);
      write(out[0], req[0], x);
      return;
    }
    const double keep = 1.0 - double(p.p);
    const double scale = keep > 0 ? 1.0 / keep : 0.0;
    NDArray u = nd::random::uniform(0, 1, mask_shape(p, x.shape()), x.ctx(), x.dtype());
    mask.assign(where(u < keep, scale, 0.0));
    write(out[0], req[0], x * mask);
  }
  static void backward(const Param& p, const OpContext& ctx, const std::vector<NDArray>& og,
                       const std::vector<NDArray>&, const std::vector<NDArray>& out, const std::vector<Req>& req,
                       const std::vector<NDArray>& ig, const std::vector<NDArray>&) {
    if (req[0] == Req::null) return;
    if (active(p, ctx) && out.size() > 1) write(ig[0], req[0], og[0] * out[1]);
    else write(ig[0], req[0], og[0]);
  }
};
using Dropout = DropoutOp<>;
template <class V> void visit(Dropout::Param& p, V&& v) {
  v("p", p.p); v("mode", p.mode); v("axes", p.axes); v("cudnn_off", p.cudnn_off);
}

}  // namespace mixt::op

namespace mixt::nd {
/// Dropout's output: active in train mode (autograd::is_training()) or with mode 'always'.
template <int = 0>
NDArray Dropout(const NDArray& data, const op::Dropout::Param& p = {},
                mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Dropout>(p, {data}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
