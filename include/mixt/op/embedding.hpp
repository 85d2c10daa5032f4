// Embedding (MXNet's tensor/indexing_op.h): row lookup in weight (input_dim, output_dim).
//
// data holds indices stored as numbers (of weight's dtype, as MXNet's type inference gives); output has shape
// data.shape + (output_dim,). An index is truncated toward zero and clipped into [0, input_dim - 1], as MXNet's
// Take<clip>. Backward: weight's gradient row k is the sum of the output-gradient rows whose index is k, in their
// order (each weight row written by one thread that finds its indices among them sorted by row: index_groups.hpp;
// no atomics, no races); data gets no gradient (zeros).
#pragma once

#include "../expr/launch.hpp"
#include "index_groups.hpp"
#include "operator.hpp"

namespace mixt::op {

namespace detail {

/// The row an index value selects: truncated toward zero, clipped into [0, rows - 1] (NaN reads as 0).
template <class T>
MIXT_HD inline int64_t embedding_row(T v, int64_t rows) {
  const double d = static_cast<double>(static_cast<compute_type_t<T>>(v));
  if (!(d > 0)) return 0;
  if (d >= double(rows - 1)) return rows - 1;
  return int64_t(d);
}

/// out[i] = weight[row(idx[i / dim]), i % dim]: one thread per output element.
template <class T>
struct EmbeddingGather {
  const T* idx;
  const T* weight;
  T* out;
  int64_t rows, dim;
  MIXT_HD void operator()(int64_t i) const {
    const int64_t n = i / dim, c = i - n * dim;
    out[i] = weight[embedding_row(idx[n], rows) * dim + c];
  }
};

/// keys[n] = the weight row index n reads.
template <class T>
struct EmbeddingKeys {
  const T* idx;
  int64_t* keys;
  int64_t rows;
  MIXT_HD void operator()(int64_t n) const { keys[n] = embedding_row(idx[n], rows); }
};

/// grad row k (+)= sum of og rows n with keys[n] == k, in n's order: one thread per weight row, which finds its
/// indices by binary search among them sorted by row (index_groups.hpp).
template <class T>
struct EmbeddingScatterRows {
  const int64_t* keys;
  const int64_t* sorted;
  const T* og;
  T* grad;
  int64_t n_idx, dim;
  bool add;
  MIXT_HD void operator()(int64_t k) const {
    T* g = grad + k * dim;
    if (!add)
      for (int64_t c = 0; c < dim; ++c) g[c] = static_cast<T>(compute_type_t<T>(0));
    for (int64_t p = index_detail::group_begin(keys, sorted, n_idx, k); p < n_idx && keys[sorted[p]] == k; ++p) {
      const T* src = og + sorted[p] * dim;
      for (int64_t c = 0; c < dim; ++c)
        g[c] = static_cast<T>(static_cast<compute_type_t<T>>(g[c]) + static_cast<compute_type_t<T>>(src[c]));
    }
  }
};

}  // namespace detail

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
    static const char* const known[] = {"float32", "float64", "float16", "bfloat16", "uint8", "int8", "int32", "int64"};
    for (const char* k : known)
      if (p.dtype == k) return;
    mixt::detail::fail(name, "attribute 'dtype': expected a dtype name such as float32, received '", p.dtype, "'");
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
  static void check_dtypes(const Param& p, const NDArray& data, const NDArray& weight) {
    if (std::string(dtype_name(weight.dtype())) != p.dtype)
      mixt::detail::fail(name, "argument 'weight': expected dtype ", p.dtype, " (attribute 'dtype'), received ",
                         dtype_name(weight.dtype()));
    if (data.dtype() != weight.dtype())
      mixt::detail::fail(name, "argument 'data': expected dtype ", dtype_name(weight.dtype()),
                         " (the weight's), received ", dtype_name(data.dtype()));
  }

  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    check(p);
    check_dtypes(p, in[0], in[1]);
    index_detail::check_has_axis(name, "data", in[0]);
    if (req[0] == Req::null || out[0].size() == 0) return;
    // NDArrays are contiguous (views are offsets into their base): the kernel reads raw_data() directly.
    const NDArray idx = in[0], weight = in[1];
    const NDArray y = req[0] == Req::add ? NDArray(out[0].shape(), out[0].ctx(), out[0].dtype()) : out[0];
    const int64_t rows = p.input_dim, dim = p.output_dim;
    engine::Engine::get().push(
        [idx, weight, y, rows, dim](engine::RunContext rc) {
          dtype_switch(y.dtype(), [&](auto tag) {
            using T = decltype(tag);
            expr::launch(rc, y.size(),
                         detail::EmbeddingGather<T>{static_cast<const T*>(idx.raw_data()),
                                                    static_cast<const T*>(weight.raw_data()),
                                                    static_cast<T*>(y.raw_data()), rows, dim});
          });
        },
        y.ctx(), {idx.var(), weight.var()}, {y.var()}, engine::FnProperty::normal, name);
    if (req[0] == Req::add) write(out[0], req[0], y);
  }

  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>&, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    if (req[0] != Req::null) write(ig[0], req[0], 0.f);
    if (req.size() < 2 || req[1] == Req::null || ig[1].size() == 0) return;
    const NDArray idx = in[0], g = og[0], dw = ig[1];
    const int64_t rows = p.input_dim, dim = p.output_dim, n_idx = idx.size();
    const NDArray keys(Shape{n_idx}, idx.ctx(), DType::int64);
    dtype_switch(idx.dtype(), [&](auto tag) {
      using T = decltype(tag);
      index_detail::push_launch(name, n_idx, detail::EmbeddingKeys<T>{static_cast<const T*>(idx.raw_data()),
                                                                       keys.data<int64_t>(), rows},
                                {idx}, {keys});
    });
    const NDArray ws = index_detail::group_by_key(keys, name);
    dtype_switch(dw.dtype(), [&](auto tag) {
      using T = decltype(tag);
      index_detail::push_launch("Embedding_backward", rows,
                                detail::EmbeddingScatterRows<T>{keys.data<int64_t>(), ws.data<int64_t>(),
                                                                static_cast<const T*>(g.raw_data()),
                                                                static_cast<T*>(dw.raw_data()), n_idx, dim,
                                                                req[1] == Req::add},
                                {keys, ws, g}, {dw});
    });
  }
};
using Embedding = EmbeddingOp<>;
template <class V> void visit(Embedding::Param& p, V&& v) {
  v("input_dim", p.input_dim); v("output_dim", p.output_dim); v("dtype", p.dtype); v("sparse_grad", p.sparse_grad);
}

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray Embedding(const NDArray& data, const NDArray& weight, const op::Embedding::Param& p,
                  std::source_location where = std::source_location::current()) {
  return op::invoke<op::Embedding>(p, {data, weight}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
