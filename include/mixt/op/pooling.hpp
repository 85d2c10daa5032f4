// Pooling (MXNet's nn/pooling-inl.h, nn/pool.h): max, avg, sum and lp pooling over 1-D, 2-D and 3-D windows (NCW /
// NCHW / NCDHW), with stride, zero padding, the valid (floor) and full (ceil) conventions and global pooling. The
// same convention is MXNet's: 1-D only and without pad, ceil(width / stride) outputs whose windows start at o *
// stride and are clipped at the right end (avg divides by the clipped window); MXNet documents it for max.
// output_size (MXNet's adaptive pooling, which only its oneDNN build runs) is read; None is the only value taken.
// Max takes the first maximum of a window, ignoring padding and NaN, from the lowest finite value (a window of -inf
// gives it), as MXNet's kernels and cuDNN without NaN propagation do; avg divides by the window clipped to the
// padded input (count_include_pad, the default) or to the input. Backward gathers: each input element adds the
// gradients of the windows that cover it (max: only those whose first maximum it is), so no atomics. On a GPU with
// cuDNN (and cudnn_off false) max and avg pooling with the valid convention run on cuDNN
// (op/cuda/cudnn_pooling.hpp).
#pragma once

#include <cmath>
#include <optional>
#include <string>

#include "../core/config.hpp"
#include "../engine/engine.hpp"
#include "../expr/launch.hpp"
#include "operator.hpp"
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
#include "cuda/cudnn_pooling.hpp"
#endif

namespace mixt::op::pool_detail {

enum Type { kMax = 0, kAvg = 1, kSum = 2, kLp = 3 };

struct PoolGeom {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, p[3] = {0, 0, 0};
  int type = kMax;
  int p_value = 2;
  bool count_include_pad = true;
};

/// The window of output position o along axis j: [begin, end) clipped to the input, and its divisor factor.
struct Window {
  int64_t b[3], e[3], size;
};

MIXT_HD inline Window window(const PoolGeom& g, const int64_t* o) {
  Window w;
  w.size = 1;
  for (int j = 0; j < 3; ++j) {
    int64_t b = o[j] * g.s[j] - g.p[j];
    int64_t e = b + g.k[j] < g.in[j] + g.p[j] ? b + g.k[j] : g.in[j] + g.p[j];
    const int64_t padded = e - b;
    b = b > 0 ? b : 0;
    e = e < g.in[j] ? e : g.in[j];
    w.b[j] = b, w.e[j] = e;
    w.size *= g.count_include_pad ? padded : (e - b);
  }
  return w;
}

template <class T>
MIXT_HD T lowest() {
  return sizeof(T) == 4 ? T(-3.402823466e+38f) : T(-1.7976931348623157e+308);
}

template <class T>
MIXT_HD T pow_p(T v, int p) {
  return p == 1 ? v : p == 2 ? v * v : v * v * v;
}

/// out[n, c, o] for one output element.
template <class T>
struct PoolForwardKernel {
  const T* in;
  T* out;
  PoolGeom g;
  bool accumulate;
  MIXT_HD void operator()(int64_t i) const {
    int64_t t = i, o[3];
    o[2] = t % g.out[2]; t /= g.out[2];
    o[1] = t % g.out[1]; t /= g.out[1];
    o[0] = t % g.out[0]; t /= g.out[0];
    const T* x = in + t * g.in[0] * g.in[1] * g.in[2];
    const Window w = window(g, o);
    T r;
    if (g.type == kMax) {
      r = lowest<T>();
      for (int64_t a = w.b[0]; a < w.e[0]; ++a)
        for (int64_t b = w.b[1]; b < w.e[1]; ++b)
          for (int64_t c = w.b[2]; c < w.e[2]; ++c) {
            const T v = x[(a * g.in[1] + b) * g.in[2] + c];
            if (v > r) r = v;
          }
    } else {
      T sum = T(0);
      for (int64_t a = w.b[0]; a < w.e[0]; ++a)
        for (int64_t b = w.b[1]; b < w.e[1]; ++b)
          for (int64_t c = w.b[2]; c < w.e[2]; ++c) {
            const T v = x[(a * g.in[1] + b) * g.in[2] + c];
            sum += g.type == kLp ? pow_p(v, g.p_value) : v;
          }
      if (g.type == kAvg) r = w.size > 0 ? T(sum / T(w.size)) : T(0);
      else if (g.type == kLp) r = g.p_value == 1 ? sum : g.p_value == 2 ? T(::sqrt(double(sum))) : T(::cbrt(double(sum)));
      else r = sum;
    }
    out[i] = accumulate ? T(out[i] + r) : r;
  }
};

/// in_grad[n, c, x] for one input element: the sum over the windows covering x.
template <class T>
struct PoolBackwardKernel {
  const T* in;
  const T* out;
  const T* og;
  T* ig;
  PoolGeom g;
  bool accumulate;
  MIXT_HD void operator()(int64_t i) const {
    int64_t t = i, x[3];
    x[2] = t % g.in[2]; t /= g.in[2];
    x[1] = t % g.in[1]; t /= g.in[1];
    x[0] = t % g.in[0]; t /= g.in[0];
    const int64_t S = g.in[0] * g.in[1] * g.in[2], O = g.out[0] * g.out[1] * g.out[2];
    const T* xin = in + t * S;
    const T* yout = out + t * O;
    const T* gout = og + t * O;
    // Output positions o along axis j with o*s - p <= x < o*s - p + k.
    int64_t lo[3], hi[3];
    for (int j = 0; j < 3; ++j) {
      const int64_t a = x[j] + g.p[j] - g.k[j] + 1;  // o*s >= a
      lo[j] = a <= 0 ? 0 : (a + g.s[j] - 1) / g.s[j];
      const int64_t h = (x[j] + g.p[j]) / g.s[j];
      hi[j] = h < g.out[j] - 1 ? h : g.out[j] - 1;
    }
    const int64_t self = (x[0] * g.in[1] + x[1]) * g.in[2] + x[2];
    T sum = T(0);
    int64_t o[3];
    for (o[0] = lo[0]; o[0] <= hi[0]; ++o[0])
      for (o[1] = lo[1]; o[1] <= hi[1]; ++o[1])
        for (o[2] = lo[2]; o[2] <= hi[2]; ++o[2]) {
          const int64_t oi = (o[0] * g.out[1] + o[1]) * g.out[2] + o[2];
          const Window w = window(g, o);
          if (g.type == kMax) {
            T best = lowest<T>();
            int64_t arg = -1;
            for (int64_t a = w.b[0]; a < w.e[0]; ++a)
              for (int64_t b = w.b[1]; b < w.e[1]; ++b)
                for (int64_t c = w.b[2]; c < w.e[2]; ++c) {
                  const int64_t idx = (a * g.in[1] + b) * g.in[2] + c;
                  if (arg < 0 || xin[idx] > best) best = xin[idx], arg = idx;
                }
            if (arg == self) sum += gout[oi];
          } else if (g.type == kAvg) {
            if (w.size > 0) sum += gout[oi] / T(w.size);
          } else if (g.type == kSum) {
            sum += gout[oi];
          } else {  // lp: d/dx (sum x^p)^(1/p) = (x / y)^(p-1)
            const T y = yout[oi];
            if (g.p_value == 1) sum += gout[oi];
            else if (y != T(0)) sum += gout[oi] * pow_p(T(xin[self] / y), g.p_value - 1);
          }
        }
    ig[i] = accumulate ? T(ig[i] + sum) : sum;
  }
};

}  // namespace mixt::op::pool_detail

namespace mixt::op {

template <class = void>
struct PoolingOp {
  static constexpr const char* name = "Pooling";
  struct Param {
    IntTuple kernel{};
    std::string pool_type = "max";
    bool global_pool = false;
    bool cudnn_off = false;
    std::string pooling_convention = "valid";
    IntTuple stride{};
    IntTuple pad{};
    std::optional<int> p_value{};
    std::optional<bool> count_include_pad{};
    std::optional<std::string> layout{};
    std::optional<std::string> output_size{};  ///< adaptive pooling: not supported, only None is taken
  };
  static std::vector<std::string> arguments(const Param&) { return {"data"}; }
  static std::vector<std::string> outputs(const Param&) { return {"output"}; }
  static std::vector<std::string> aux_states(const Param&) { return {}; }

  static int pool_type(const Param& p) {
    if (p.pool_type == "max") return pool_detail::kMax;
    if (p.pool_type == "avg") return pool_detail::kAvg;
    if (p.pool_type == "sum") return pool_detail::kSum;
    if (p.pool_type == "lp") return pool_detail::kLp;
    mixt::detail::fail(name, "attribute 'pool_type': expected one of max, avg, sum, lp, received '", p.pool_type, "'");
  }

  /// Checks the attributes; returns the number of spatial axes (from data when global_pool has no kernel).
  static int spatial_ndim(const Param& p, const Shape& data) {
    pool_type(p);
    if (p.pooling_convention != "valid" && p.pooling_convention != "full" && p.pooling_convention != "same")
      mixt::detail::fail(name, "attribute 'pooling_convention': expected valid, full or same, received '",
                         p.pooling_convention, "'");
    if (p.output_size)
      mixt::detail::fail(name, "attribute 'output_size': adaptive pooling is not supported (expected None), received '",
                         *p.output_size, "'");
    if (p.pool_type == "lp" && (!p.p_value || *p.p_value < 1 || *p.p_value > 3))
      mixt::detail::fail(name, "attribute 'p_value': expected 1, 2 or 3 for lp pooling, received ",
                         attr::format(p.p_value));
    int nd = int(p.kernel.size());
    if (p.global_pool && nd == 0) {
      if (data.ndim() == 0) return 0;
      nd = data.ndim() - 2;
    }
    if (nd < 1 || nd > 3)
      mixt::detail::fail(name, "attribute 'kernel': expected 1, 2 or 3 values, received ", attr::format(p.kernel));
    if (p.pooling_convention == "same" && !p.global_pool) {
      if (nd != 1)
        mixt::detail::fail(name, "attribute 'pooling_convention': same is for 1-D pooling (as in MXNet), received a ",
                           nd, "-D kernel ", attr::format(p.kernel));
      for (int64_t v : p.pad)
        if (v != 0)
          mixt::detail::fail(name, "attribute 'pad': the same convention takes no padding, received ",
                             attr::format(p.pad));
    }
    static const char* layouts[] = {"NCW", "NCHW", "NCDHW"};
    if (p.layout && *p.layout != "None" && *p.layout != layouts[nd - 1])
      mixt::detail::fail(name, "attribute 'layout': expected ", layouts[nd - 1], " for ", nd,
                         "-D pooling (channels-last layouts are not supported), received '", *p.layout, "'");
    return nd;
  }

  /// The geometry: kernel/stride/pad padded to 3 axes (global pooling: the whole input, stride 1, no padding).
  static pool_detail::PoolGeom geometry(const Param& p, int nd, const Shape& data) {
    pool_detail::PoolGeom g;
    g.type = pool_type(p);
    g.p_value = p.p_value.value_or(2);
    g.count_include_pad = p.count_include_pad.value_or(true);
    auto fill = [&](const char* key, const IntTuple& t, int64_t dflt, int64_t min, int64_t* dst) {
      if (!t.empty() && int(t.size()) != nd)
        mixt::detail::fail(name, "attribute '", key, "': expected ", nd, " values (one per spatial axis), received ",
                           attr::format(t));
      for (int i = 0; i < nd; ++i) {
        const int64_t v = t.empty() ? dflt : t[size_t(i)];
        if (v < min) mixt::detail::fail(name, "attribute '", key, "': expected values >= ", min, ", received ", attr::format(t));
        dst[3 - nd + i] = v;
      }
    };
    if (p.global_pool) {
      for (int i = 0; i < nd; ++i) g.k[3 - nd + i] = data.ndim() == nd + 2 ? data[2 + i] : 0;
    } else {
      fill("kernel", p.kernel, 1, 1, g.k);
      fill("stride", p.stride, 1, 1, g.s);
      fill("pad", p.pad, 0, 0, g.p);
    }
    return g;
  }

  static void infer_shape(const Param& p, std::vector<Shape>& in, std::vector<Shape>& out, std::vector<Shape>&) {
    const Shape& data = in[0];
    const int nd = spatial_ndim(p, data);
    if (data.ndim() == 0) return;
    if (data.ndim() != nd + 2)
      mixt::detail::fail(name, "argument 'data': expected ", nd + 2, " dimensions, received shape ", data.to_string());
    pool_detail::PoolGeom g = geometry(p, nd, data);
    Shape o{data[0], data[1]};
    for (int i = 0; i < nd; ++i) {
      const int64_t x = data[2 + i], j = 3 - nd + i;
      if (p.global_pool || x == 0) { o.push_back(x == 0 ? 0 : 1); continue; }
      if (x + 2 * g.p[j] < g.k[j])
        mixt::detail::fail(name, "argument 'data': spatial extent ", x, " (axis ", 2 + i, ") plus padding ", 2 * g.p[j],
                           " is smaller than the kernel ", g.k[j], ", received shape ", data.to_string());
      const int64_t span = x + 2 * g.p[j] - g.k[j];
      if (p.pooling_convention == "same") o.push_back((x + g.s[j] - 1) / g.s[j]);
      else o.push_back(p.pooling_convention == "full" ? (span + g.s[j] - 1) / g.s[j] + 1 : span / g.s[j] + 1);
    }
    assign_shape(name, "output", out[0], o);
  }

  static pool_detail::PoolGeom full_geometry(const Param& p, const Shape& data, const Shape& output) {
    const int nd = spatial_ndim(p, data);
    pool_detail::PoolGeom g = geometry(p, nd, data);
    for (int i = 0; i < nd; ++i) {
      g.in[3 - nd + i] = data[2 + i];
      g.out[3 - nd + i] = output[2 + i];
    }
    return g;
  }

#if MIXT_USE_CUDA && MIXT_USE_CUDNN
  /// The pooling as cuDNN would run it: mode none (the own kernels) for sum, lp, the full convention or cudnn_off.
  static cudnn::PoolSpec cudnn_spec(const Param& p, const pool_detail::PoolGeom& g) {
    cudnn::PoolSpec c;
    if (p.cudnn_off || (p.pooling_convention != "valid" && !p.global_pool)) return c;  // global: one window
    if (g.type == pool_detail::kMax) c.mode = cudnn::PoolSpec::max;
    else if (g.type == pool_detail::kAvg)
      c.mode = g.count_include_pad ? cudnn::PoolSpec::avg_include_pad : cudnn::PoolSpec::avg_exclude_pad;
    for (int j = 0; j < 3; ++j) c.k[j] = g.k[j], c.s[j] = g.s[j], c.p[j] = g.p[j];
    return c;
  }
#endif

  static void check_dtype(const NDArray& a) {
    if (a.dtype() != DType::float32 && a.dtype() != DType::float64)
      mixt::detail::fail(name, "argument 'data': dtype ", dtype_name(a.dtype()), " is not supported (expected float32 or float64)");
  }

  static void forward(const Param& p, const OpContext&, const std::vector<NDArray>& in, const std::vector<Req>& req,
                      const std::vector<NDArray>& out, const std::vector<NDArray>&) {
    if (in[0].ndim() < 3)  // a real 0-d array, which infer_shape reads as "unknown"
      mixt::detail::fail(name, "argument 'data': expected 3 to 5 dimensions (batch, channels, spatial axes), ",
                         "received shape ", in[0].shape().to_string());
    if (req[0] == Req::null) return;
    check_dtype(in[0]);
    const pool_detail::PoolGeom g = full_geometry(p, in[0].shape(), out[0].shape());
    NDArray x = in[0], y = out[0];
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (cudnn::pooling_forward(name, cudnn_spec(p, g), x, y, req[0])) return;
#endif
    const bool acc = req[0] == Req::add;
    engine::Engine::get().push(
        [g, x, y, acc](engine::RunContext rc) {
          if (x.dtype() == DType::float32)
            expr::launch(rc, y.size(), pool_detail::PoolForwardKernel<float>{static_cast<const float*>(x.raw_data()),
                                                                              static_cast<float*>(y.raw_data()), g, acc});
          else
            expr::launch(rc, y.size(), pool_detail::PoolForwardKernel<double>{static_cast<const double*>(x.raw_data()),
                                                                               static_cast<double*>(y.raw_data()), g, acc});
        },
        x.ctx(), {x.var()}, {y.var()}, engine::FnProperty::normal, name);
  }

  static void backward(const Param& p, const OpContext&, const std::vector<NDArray>& og, const std::vector<NDArray>& in,
                       const std::vector<NDArray>& out, const std::vector<Req>& req, const std::vector<NDArray>& ig,
                       const std::vector<NDArray>&) {
    if (req[0] == Req::null) return;
    check_dtype(in[0]);
    const pool_detail::PoolGeom g = full_geometry(p, in[0].shape(), og[0].shape());
    NDArray x = in[0], y = out.empty() || out[0].is_none() ? og[0] : out[0], gy = og[0], gx = ig[0];
    if (g.type == pool_detail::kLp && (out.empty() || out[0].is_none()))
      mixt::detail::fail(name, "lp pooling's backward needs the forward output");
#if MIXT_USE_CUDA && MIXT_USE_CUDNN
    if (!out.empty() && !out[0].is_none() && cudnn::pooling_backward(name, cudnn_spec(p, g), x, out[0], gy, gx, req[0]))
      return;
#endif
    const bool acc = req[0] == Req::add;
    std::vector<engine::Var*> reads{x.var(), gy.var()};
    if (y.var() != gy.var()) reads.push_back(y.var());
    engine::Engine::get().push(
        [g, x, y, gy, gx, acc](engine::RunContext rc) {
          auto run = [&](auto* tag) {
            using T = std::remove_pointer_t<decltype(tag)>;
            expr::launch(rc, gx.size(),
                         pool_detail::PoolBackwardKernel<T>{static_cast<const T*>(x.raw_data()),
                                                            static_cast<const T*>(y.raw_data()),
                                                            static_cast<const T*>(gy.raw_data()),
                                                            static_cast<T*>(gx.raw_data()), g, acc});
          };
          if (x.dtype() == DType::float32) run(static_cast<float*>(nullptr));
          else run(static_cast<double*>(nullptr));
        },
        x.ctx(), reads, {gx.var()}, engine::FnProperty::normal, name);
  }
};
using Pooling = PoolingOp<>;
template <class V> void visit(Pooling::Param& p, V&& v) {
  v("kernel", p.kernel); v("pool_type", p.pool_type); v("global_pool", p.global_pool); v("cudnn_off", p.cudnn_off);
  v("pooling_convention", p.pooling_convention); v("stride", p.stride); v("pad", p.pad); v("p_value", p.p_value);
  v("count_include_pad", p.count_include_pad); v("layout", p.layout); v("output_size", p.output_size);
}

}  // namespace mixt::op

namespace mixt::nd {
template <int = 0>
NDArray Pooling(const NDArray& data, const op::Pooling::Param& p,
                mixt::source_location where = mixt::source_location::current()) {
  return op::invoke<op::Pooling>(p, {data}, {}, autograd::is_training(), where)[0];
}
}  // namespace mixt::nd
