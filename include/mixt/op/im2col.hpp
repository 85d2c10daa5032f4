// im2col / col2im and the GEMMs of Convolution and Deconvolution (MXNet's nn/im2col.h, as Caffe does it).
//
// Both operators relate an "image" tensor (N, Ci, in...) and a "column-side" tensor (N, Co, out...) through a
// weight (Co, Ci/G, k...) and G groups; for Convolution the image is the data and the column side the output,
// for Deconvolution the other way round. 1-D and 2-D problems are run as 3-D ones with leading extents of 1.
//   im2col_gemm:   colside = W . im2col(image)          (Convolution forward, Deconvolution data gradient)
//   gemm_col2im:   image   = col2im(W^T . colside)      (Convolution data gradient, Deconvolution forward)
//   weight_grad:   dW      = sum_n colside_n . im2col(image_n)^T
// Each is one engine operation: launch kernels (one index per column or image element: col2im gathers, so there
// are no atomics) and GEMMs on the same device and stream. On the GPU the batch runs in chunks (the column buffer
// below kColLimit elements) with batched GEMMs; on the CPU each kernel thread takes items one at a time.
#pragma once

#include <algorithm>
#include <vector>

#include "../blas/gemm.hpp"
#include "../engine/engine.hpp"
#include "../expr/launch.hpp"
#include "../ndarray/ndarray.hpp"

namespace mixt::op::conv_detail {

inline constexpr int64_t kColLimit = int64_t(1) << 25;

/// Geometry of one convolution, spatial arrays padded to 3 dimensions (leading 1s).
struct ConvGeom {
  int64_t N = 0, Ci = 0, Co = 0, G = 1;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, p[3] = {0, 0, 0}, d[3] = {1, 1, 1};
  MIXT_HD int64_t in_size() const { return in[0] * in[1] * in[2]; }
  MIXT_HD int64_t out_size() const { return out[0] * out[1] * out[2]; }
  MIXT_HD int64_t ksize() const { return k[0] * k[1] * k[2]; }
};

/// col[n, c, kd, kh, kw, od, oh, ow] = image[n, c, od*s - p + kd*d, ...] (0 outside the image). One index per
/// (n, c, od, oh, ow), looping over the kernel offsets (as Caffe's GPU kernel): consecutive indices read and
/// write consecutive addresses, and the index arithmetic is paid once per k values.
template <class T>
struct Im2ColKernel {
  const T* img;
  T* col;
  ConvGeom g;
  MIXT_HD void operator()(int64_t i) const {
    int64_t t = i;
    const int64_t ow = t % g.out[2]; t /= g.out[2];
    const int64_t oh = t % g.out[1]; t /= g.out[1];
    const int64_t od = t % g.out[0]; t /= g.out[0];  // t = n * Ci + c
    const int64_t O = g.out_size();
    const T* src = img + t * g.in_size();
    T* dst = col + t * g.ksize() * O + (od * g.out[1] + oh) * g.out[2] + ow;
    const int64_t b0 = od * g.s[0] - g.p[0], b1 = oh * g.s[1] - g.p[1], b2 = ow * g.s[2] - g.p[2];
    for (int64_t kd = 0; kd < g.k[0]; ++kd) {
      const int64_t x0 = b0 + kd * g.d[0];
      const bool in0 = x0 >= 0 && x0 < g.in[0];
      for (int64_t kh = 0; kh < g.k[1]; ++kh) {
        const int64_t x1 = b1 + kh * g.d[1];
        const bool in01 = in0 && x1 >= 0 && x1 < g.in[1];
        const T* row = in01 ? src + (x0 * g.in[1] + x1) * g.in[2] : src;
        for (int64_t kw = 0; kw < g.k[2]; ++kw, dst += O) {
          const int64_t x2 = b2 + kw * g.d[2];
          *dst = in01 && x2 >= 0 && x2 < g.in[2] ? row[x2] : T(0);
        }
      }
    }
  }
};

/// The output position o with o*s == a along one axis, if there is one in [0, out) (a >= 0).
MIXT_HD inline bool out_pos(int64_t a, int64_t s, int64_t out, int64_t& o) {
  if (s == 1) o = a;
  else if (a % s) return false;
  else o = a / s;
  return o < out;
}

/// image[n, c, x] (=|+=) sum of the column entries that im2col copied from x: each image element gathers.
template <class T>
struct Col2ImKernel {
  const T* col;
  T* img;
  ConvGeom g;
  bool accumulate;
  MIXT_HD void operator()(int64_t i) const {
    int64_t t = i;
    const int64_t x2 = t % g.in[2]; t /= g.in[2];
    const int64_t x1 = t % g.in[1]; t /= g.in[1];
    const int64_t x0 = t % g.in[0]; t /= g.in[0];  // t = n * Ci + c
    const int64_t O = g.out_size();
    const T* base = col + t * g.ksize() * O;
    T sum = T(0);
    int64_t o0, o1, o2;
    for (int64_t kd = 0; kd < g.k[0]; ++kd) {
      const int64_t a0 = x0 + g.p[0] - kd * g.d[0];
      if (a0 < 0) break;
      if (!out_pos(a0, g.s[0], g.out[0], o0)) continue;
      for (int64_t kh = 0; kh < g.k[1]; ++kh) {
        const int64_t a1 = x1 + g.p[1] - kh * g.d[1];
        if (a1 < 0) break;
        if (!out_pos(a1, g.s[1], g.out[1], o1)) continue;
        const T* plane = base + (kd * g.k[1] + kh) * g.k[2] * O + (o0 * g.out[1] + o1) * g.out[2];
        for (int64_t kw = 0; kw < g.k[2]; ++kw) {
          const int64_t a2 = x2 + g.p[2] - kw * g.d[2];
          if (a2 < 0) break;
          if (out_pos(a2, g.s[2], g.out[2], o2)) sum += plane[kw * O + o2];
        }
      }
    }
    img[i] = accumulate ? T(img[i] + sum) : sum;
  }
};

/// The CPU's im2col of one item: nested loops (no index divisions), and per column row the range of ow that
/// reads inside the image, so a row is zeros, a contiguous copy (stride 1) or a strided gather, and zeros.
template <class T>
void im2col_cpu(const ConvGeom& g, const T* img, T* col) {
  const int64_t OW = g.out[2], s2 = g.s[2];
  for (int64_t c = 0; c < g.Ci; ++c) {
    const T* src = img + c * g.in_size();
    for (int64_t kd = 0; kd < g.k[0]; ++kd)
      for (int64_t kh = 0; kh < g.k[1]; ++kh)
        for (int64_t kw = 0; kw < g.k[2]; ++kw) {
          const int64_t b2 = kw * g.d[2] - g.p[2];  // x2 = ow * s2 + b2
          const int64_t last = g.in[2] - 1 - b2;
          const int64_t hi = last < 0 ? 0 : std::min(OW, last / s2 + 1);
          const int64_t lo = std::min(hi, b2 >= 0 ? int64_t(0) : (-b2 + s2 - 1) / s2);
          for (int64_t od = 0; od < g.out[0]; ++od) {
            const int64_t x0 = od * g.s[0] - g.p[0] + kd * g.d[0];
            for (int64_t oh = 0; oh < g.out[1]; ++oh, col += OW) {
              const int64_t x1 = oh * g.s[1] - g.p[1] + kh * g.d[1];
              if (x0 < 0 || x0 >= g.in[0] || x1 < 0 || x1 >= g.in[1]) {
                std::fill(col, col + OW, T(0));
                continue;
              }
              const T* row = src + (x0 * g.in[1] + x1) * g.in[2] + b2;
              std::fill(col, col + lo, T(0));
              if (s2 == 1) std::copy(row + lo, row + hi, col + lo);
              else
                for (int64_t ow = lo; ow < hi; ++ow) col[ow] = row[ow * s2];
              std::fill(col + hi, col + OW, T(0));
            }
          }
        }
  }
}

/// The CPU's col2im: one index per image row (n, c, x0, x1); the row is owned by the index, so its kernel
/// offsets add their column rows into it (no races). Same result as Col2ImKernel.
template <class T>
struct Col2ImRowKernel {
  const T* col;
  T* img;
  ConvGeom g;
  bool accumulate;
  MIXT_HD void operator()(int64_t r) const {
    int64_t t = r;
    const int64_t x1 = t % g.in[1]; t /= g.in[1];
    const int64_t x0 = t % g.in[0]; t /= g.in[0];  // t = n * Ci + c
    T* dst = img + r * g.in[2];
    if (!accumulate)
      for (int64_t x2 = 0; x2 < g.in[2]; ++x2) dst[x2] = T(0);
    const int64_t O = g.out_size();
    const T* base = col + t * g.ksize() * O;
    int64_t o0, o1;
    for (int64_t kd = 0; kd < g.k[0]; ++kd) {
      const int64_t a0 = x0 + g.p[0] - kd * g.d[0];
      if (a0 < 0) break;
      if (!out_pos(a0, g.s[0], g.out[0], o0)) continue;
      for (int64_t kh = 0; kh < g.k[1]; ++kh) {
        const int64_t a1 = x1 + g.p[1] - kh * g.d[1];
        if (a1 < 0) break;
        if (!out_pos(a1, g.s[1], g.out[1], o1)) continue;
        for (int64_t kw = 0; kw < g.k[2]; ++kw) {
          const T* src = base + ((kd * g.k[1] + kh) * g.k[2] + kw) * O + (o0 * g.out[1] + o1) * g.out[2];
          const int64_t b2 = kw * g.d[2] - g.p[2];  // x2 = o2 * s + b2
          if (g.s[2] == 1) {
            const int64_t lo = b2 < 0 ? -b2 : 0, hi = g.in[2] - b2 < g.out[2] ? g.in[2] - b2 : g.out[2];
            for (int64_t o2 = lo; o2 < hi; ++o2) dst[o2 + b2] += src[o2];
          } else {
            for (int64_t o2 = 0; o2 < g.out[2]; ++o2) {
              const int64_t x2 = o2 * g.s[2] + b2;
              if (x2 >= 0 && x2 < g.in[2]) dst[x2] += src[o2];
            }
          }
        }
      }
    }
  }
};

/// im2col of `cnt` items into col: per element on a GPU (coalesced), item by item on the CPU's calling thread.
template <class T>
void im2col(const engine::RunContext& rc, const ConvGeom& g, const T* img, T* col, int64_t cnt) {
  if (rc.ctx.is_gpu()) expr::launch(rc, cnt * g.Ci * g.out_size(), Im2ColKernel<T>{img, col, g});
  else
    for (int64_t n = 0; n < cnt; ++n) im2col_cpu(g, img + n * g.Ci * g.in_size(), col + n * g.Ci * g.ksize() * g.out_size());
}

/// col2im of `cnt` items from col: per element on a GPU, per row on the CPU.
template <class T>
void col2im(const engine::RunContext& rc, const ConvGeom& g, const T* col, T* img, int64_t cnt, bool accumulate) {
  if (rc.ctx.is_gpu()) expr::launch(rc, cnt * g.Ci * g.in_size(), Col2ImKernel<T>{col, img, g, accumulate});
  else expr::launch(rc, cnt * g.Ci * g.in[0] * g.in[1], Col2ImRowKernel<T>{col, img, g, accumulate});
}

/// Items of the batch per GPU chunk, so that the column buffer holds at most kColLimit elements (at least one).
inline int64_t chunk_items(const ConvGeom& g) {
  const int64_t per = std::max<int64_t>(1, g.Ci * g.ksize() * g.out_size());
  return std::max<int64_t>(1, std::min<int64_t>(g.N, kColLimit / per));
}

/// The CPU's schedule: min(N, threads) slots, each with one item's column buffer. A slot takes a range of the
/// batch and runs im2col and the GEMMs of one item after the other on its thread, so the column (Ci*k*O values,
/// under a megabyte for most layers) stays in that core's cache instead of streaming a whole batch's columns
/// through memory; the GEMMs inside run single-threaded (a loop inside a pool loop runs serially).
inline int64_t cpu_slots(const ConvGeom& g) { return std::max<int64_t>(1, std::min<int64_t>(g.N, num_threads())); }

/// body(slot, n) for every item n of the batch, at most `slots` slots (and no more than N) in parallel.
template <class Body>
void for_items_by_slot(const ConvGeom& g, int64_t slots, Body&& body) {
  slots = std::min(slots, g.N);
  if (slots <= 0) return;
  const int64_t per_slot = (g.N + slots - 1) / slots;
  parallel_for(slots, 1, [&](int64_t b, int64_t e) {
    for (int64_t slot = b; slot < e; ++slot)
      for (int64_t n = slot * per_slot; n < std::min(g.N, (slot + 1) * per_slot); ++n) body(slot, n);
  });
}

inline void check_dtype(const char* op, const NDArray& a) {
  if (a.dtype() != DType::float32 && a.dtype() != DType::float64)
    mixt::detail::fail(op, "argument 'data': dtype ", dtype_name(a.dtype()), " is not supported (expected float32 or float64)");
}

/// A column buffer for geometry g on like's device. Passing one buffer to several of the calls below makes the
/// engine run them one after the other (they all write it): one buffer's memory, and no concurrent GEMMs.
inline NDArray col_buffer(const ConvGeom& g, const NDArray& like) {
  const int64_t items = like.ctx().is_gpu() ? chunk_items(g) : cpu_slots(g);
  return NDArray(Shape{items * g.Ci * g.ksize() * g.out_size()}, like.ctx(), like.dtype());
}

/// Runs body<T>(rc, col, slots) for the array's float type inside one engine operation (col: the given buffer,
/// else a new one; slots: how many items it holds, at least 1, fixed when the buffer was made, so a later
/// set_num_threads cannot make the CPU path overrun it).
template <class Body>
void push_with_col(const char* op, const ConvGeom& g, const NDArray& like, std::vector<engine::Var*> reads,
                   std::vector<engine::Var*> writes, NDArray col, Body body) {
  check_dtype(op, like);
  if (col.is_none()) col = col_buffer(g, like);
  writes.push_back(col.var());
  const int64_t per_item = g.Ci * g.ksize() * g.out_size();
  const int64_t slots = std::max<int64_t>(1, per_item > 0 ? col.size() / per_item : 1);
  engine::Engine::get().push(
      [body, col, slots, dt = like.dtype()](engine::RunContext rc) {
        if (dt == DType::float32) body(rc, static_cast<float*>(col.raw_data()), slots);
        else body(rc, static_cast<double*>(col.raw_data()), slots);
      },
      like.ctx(), std::move(reads), std::move(writes), engine::FnProperty::normal, op);
}

/// colside (=|+=) W . im2col(image), group by group: per item on the CPU, batched over chunks on the GPU.
template <int = 0>
void im2col_gemm(const char* op, const ConvGeom& g, const NDArray& image, const NDArray& weight,
                 const NDArray& colside, bool add, const NDArray& col_buf = {}) {
  push_with_col(op, g, image, {image.var(), weight.var()}, {colside.var()}, col_buf,
                [g, image, weight, colside, add](engine::RunContext rc, auto* col, int64_t slots) {
                  using T = std::remove_pointer_t<decltype(col)>;
                  const T* img = static_cast<const T*>(image.raw_data());
                  const T* w = static_cast<const T*>(weight.raw_data());
                  T* y = static_cast<T*>(colside.raw_data());
                  const int64_t K = g.ksize(), O = g.out_size(), S = g.in_size(), CK = g.Ci * K;
                  const int64_t cig = g.Ci / g.G, cog = g.Co / g.G;
                  if (!rc.ctx.is_gpu()) {
                    for_items_by_slot(g, slots, [&](int64_t slot, int64_t n) {
                      T* c = col + slot * CK * O;
                      im2col(rc, g, img + n * g.Ci * S, c, 1);
                      for (int64_t gr = 0; gr < g.G; ++gr)
                        blas::gemm<T>(rc, false, false, cog, O, cig * K, T(1), w + gr * cog * cig * K, cig * K,
                                      c + gr * cig * K * O, O, T(add ? 1 : 0), y + (n * g.Co + gr * cog) * O, O);
                    });
                    return;
                  }
                  const int64_t nb = slots;
                  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
                    const int64_t cnt = std::min(nb, g.N - n0);
                    im2col(rc, g, img + n0 * g.Ci * S, col, cnt);
                    for (int64_t gr = 0; gr < g.G; ++gr)
                      blas::gemm_strided_batched<T>(rc, false, false, cog, O, cig * K, T(1), w + gr * cog * cig * K,
                                                    cig * K, 0, col + gr * cig * K * O, O, CK * O,
                                                    T(add ? 1 : 0), y + (n0 * g.Co + gr * cog) * O, O, g.Co * O, cnt);
                  }
                });
}

/// image (=|+=) col2im(W^T . colside).
template <int = 0>
void gemm_col2im(const char* op, const ConvGeom& g, const NDArray& colside, const NDArray& weight,
                 const NDArray& image, bool add, const NDArray& col_buf = {}) {
  push_with_col(op, g, image, {colside.var(), weight.var()}, {image.var()}, col_buf,
                [g, image, weight, colside, add](engine::RunContext rc, auto* col, int64_t slots) {
                  using T = std::remove_pointer_t<decltype(col)>;
                  T* img = static_cast<T*>(image.raw_data());
                  const T* w = static_cast<const T*>(weight.raw_data());
                  const T* y = static_cast<const T*>(colside.raw_data());
                  const int64_t K = g.ksize(), O = g.out_size(), S = g.in_size(), CK = g.Ci * K;
                  const int64_t cig = g.Ci / g.G, cog = g.Co / g.G;
                  if (!rc.ctx.is_gpu()) {
                    for_items_by_slot(g, slots, [&](int64_t slot, int64_t n) {
                      T* c = col + slot * CK * O;
                      for (int64_t gr = 0; gr < g.G; ++gr)
                        blas::gemm<T>(rc, true, false, cig * K, O, cog, T(1), w + gr * cog * cig * K, cig * K,
                                      y + (n * g.Co + gr * cog) * O, O, T(0), c + gr * cig * K * O, O);
                      col2im(rc, g, c, img + n * g.Ci * S, 1, add);
                    });
                    return;
                  }
                  const int64_t nb = slots;
                  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
                    const int64_t cnt = std::min(nb, g.N - n0);
                    for (int64_t gr = 0; gr < g.G; ++gr)
                      blas::gemm_strided_batched<T>(rc, true, false, cig * K, O, cog, T(1), w + gr * cog * cig * K,
                                                    cig * K, 0, y + (n0 * g.Co + gr * cog) * O, O, g.Co * O, T(0),
                                                    col + gr * cig * K * O, O, CK * O, cnt);
                    col2im(rc, g, col, img + n0 * g.Ci * S, cnt, add);
                  }
                });
}

/// dW (=|+=) sum over the batch of colside_n . im2col(image_n)^T. On the CPU every slot sums its items into its
/// own partial weight gradient (no two threads write one matrix), and the partials are added at the end.
template <int = 0>
void weight_grad(const char* op, const ConvGeom& g, const NDArray& image, const NDArray& colside,
                 const NDArray& dweight, bool add, const NDArray& col_buf = {}) {
  push_with_col(op, g, image, {image.var(), colside.var()}, {dweight.var()}, col_buf,
                [g, image, colside, dweight, add](engine::RunContext rc, auto* col, int64_t slots) {
                  using T = std::remove_pointer_t<decltype(col)>;
                  const T* img = static_cast<const T*>(image.raw_data());
                  const T* y = static_cast<const T*>(colside.raw_data());
                  T* dw = static_cast<T*>(dweight.raw_data());
                  const int64_t K = g.ksize(), O = g.out_size(), S = g.in_size(), CK = g.Ci * K;
                  const int64_t cig = g.Ci / g.G, cog = g.Co / g.G, W = dweight.size();
                  if (g.N == 0) {
                    if (!add) expr::launch(rc, W, expr::FillKernel<T>{dw, T(0)});
                    return;
                  }
                  // dW_slot (=|+=) colside_n . col_n^T for each group.
                  auto accumulate = [&](T* part, const T* c, int64_t n, bool first) {
                    for (int64_t gr = 0; gr < g.G; ++gr)
                      blas::gemm<T>(rc, false, true, cog, cig * K, O, T(1), y + (n * g.Co + gr * cog) * O, O,
                                    c + gr * cig * K * O, O, T(first ? 0 : 1), part + gr * cog * cig * K, cig * K);
                  };
                  if (!rc.ctx.is_gpu()) {
                    std::vector<T> parts(size_t(slots * W), T(0));  // a slot without items adds zeros
                    for_items_by_slot(g, slots, [&](int64_t slot, int64_t n) {
                      T* c = col + slot * CK * O;
                      im2col(rc, g, img + n * g.Ci * S, c, 1);
                      accumulate(parts.data() + slot * W, c, n, false);
                    });
                    for (int64_t i = 0; i < W; ++i) {
                      T sum = add ? dw[i] : T(0);
                      for (int64_t slot = 0; slot < slots; ++slot) sum += parts[size_t(slot * W + i)];
                      dw[i] = sum;
                    }
                    return;
                  }
                  const int64_t nb = slots;
                  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
                    const int64_t cnt = std::min(nb, g.N - n0);
                    im2col(rc, g, img + n0 * g.Ci * S, col, cnt);
                    for (int64_t n = 0; n < cnt; ++n) accumulate(dw, col + n * CK * O, n0 + n, !add && n0 + n == 0);
                  }
                });
}

}  // namespace mixt::op::conv_detail
