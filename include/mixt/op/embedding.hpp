// Embedding (MXNet's tensor/indexing_op.h): row lookup in weight (input_dim, output_dim).
//
// Embedding(data, weight) is take(weight, data, axis = 0, mode = "clip"), as in MXNet: output has shape
// data.shape + (output_dim,) and the weight's dtype. data holds indices of any dtype (MXNet casts them; newer
// versions feed int32 or int64): an index is truncated toward zero (NaN reads as 0) and clipped into
// [0, input_dim - 1]. Backward: weight's gradient row k is the sum of the output-gradient rows whose index is k,
// in their order (take's kernels: no atomics, no races); data gets no gradient (zeros).
#pragma once

#include "indexing_ops.hpp"

namespace mixt::op {

template <class = void>
struct EmbeddingOp {
  static constexpr const char* name = "Embedding";
  struct Param {
    int input_dim = 0;
    int output_dim = 0;
    std::string dtype = "float32";
    bool sparse_grad = false;  ///< accepted; the gradient is dense
  };
  static std::vector<std::string> arguments(const Param&) { return {"data", "weight"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }

  static void check(const Param& p) {
    if (p.input_dim < 1) mixt::detail::fail(name, "attribute 'input_dim': expected >= 1, received ", p.input_dim);
    if (p.output_dim < 1) mixt::detail::fail(name, "attribute 'output_dim': expected >= 1, received ", p.output_dim);
    index_detail::dtype_attr(name, p.dtype);
  }
  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    check(p);
    assign_shape(name, "weight", in[1], Shape{int64_t(p.input_dim), int64_t(p.output_dim)});
    if (in[0].ndim() != 0) {
      Shape o = in[0];
      o.push_back(p.output_dim);
      assign_shape(name, "output", out[0], o);
    } else if (out[0].ndim() >= 2) {
      // Backward inference: data is the output's shape without the last axis.
      if (out[0][out[0].ndim() - 1] != 0 && out[0][out[0].ndim() - 1] != p.output_dim)
        mixt::detail::fail(name, "argument 'output': expected last extent ", p.output_dim, ", received shape ",
                           out[0].to_string());
      in[0] = Shape(out[0].begin(), out[0].end() - 1);
      out[0][out[0].ndim() - 1] = p.output_dim;
    }
  }
  /// The output has the weight's dtype (attribute 'dtype'), whatever the indices' dtype.
  static void infer_type(const Param& p, std::vector<DType>&, std::vector<DType>& out, std::vector<DType>&) {
    out[0] = index_detail::dtype_attr(name, p.dtype);
  }

  static void forward(const Param& p, const OpContext& ctx, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>& aux) {
    check(p);
    if (std::string(dtype_name(in[1].dtype())) != p.dtype)
      mixt::detail::fail(name, "argument 'weight': expected dtype ", p.dtype, " (attribute 'dtype'), received ",
                         dtype_name(in[1].dtype()));
    index_detail::check_has_axis(name, "data", in[0]);
    Take::forward(as_take, ctx, {in[1], in[0]}, req, out, aux);
  }

  static void backward(const Param&, const OpContext& ctx, const std::vector<NDArray>& og,
                       const std::vector<NDArray>& in, const std::vector<NDArray>& out, const std::vector<Req>& req,
                       const std::vector<NDArray>& ig, const std::vector<NDArray>& aux) {
    Take::backward(as_take, ctx, og, {in[1], in[0]}, out, {req[1], req[0]}, {ig[1], ig[0]}, aux);
  }

 private:
  static inline const Take::Param as_take{.axis = 0, .mode = "clip"};
};
using Embedding = EmbeddingOp<>;
template <class V> void visit(Embedding::Param& p, V&& v) {
  v("input_dim", p.input_dim); v("output_dim", p.output_dim); v("dtype", p.dtype); v("sparse_grad", p.sparse_grad);
}

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray Embedding(const NDArray& data, const NDArray& weight, const op::Embedding::Param& p,
                  mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Embedding>(p, {data, weight}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
