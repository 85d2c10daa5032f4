// Helpers for the shape, indexing and ordering operators: an array seen as (outer, n, inner) around one axis,
// kernels that move elements (templated on the element's size only, so every dtype costs 4 instantiations),
// and pushing an expr::launch kernel through the engine. Every kernel has one launch index per element it
// writes: no atomics, no races, the same code on the CPU and under nvcc.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "../expr/launch.hpp"
#include "operator.hpp"

namespace mixt::op::index_detail {

/// The extents before, at and after `axis`.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
inline AxisSplit split_at(const Shape& s, int axis) {
  AxisSplit r;
  for (int d = 0; d < s.ndim(); ++d) {
    if (d < axis) r.outer *= s[d];
    else if (d == axis) r.n = s[d];
    else r.inner *= s[d];
  }
  return r;
}

/// Pushes launch(n, k) on the context of writes[0]. The kernel holds raw pointers: memory is freed through the
/// engine, after every operation on its variable.
template <class K>
void push_launch(const char* name, int64_t n, const K& k, const std::vector<NDArray>& reads,
                 const std::vector<NDArray>& writes) {
  if (n == 0) return;
  const OpVars vars = op_vars(reads, writes);
  engine::Engine::get().push([k, n](engine::RunContext rc) { expr::launch(rc, n, k); },
                             writes[0].ctx(), vars.reads, vars.writes, engine::FnProperty::normal, name);
}

/// Writes `out` per `req` through produce(dst), which fills dst completely: for add it fills a temporary that is
/// then added.
template <class F>
void write_with(const NDArray& out, Req req, F&& produce) {
  if (req == Req::null) return;
  if (req == Req::add) {
    NDArray tmp(out.shape(), out.ctx(), out.dtype());
    produce(tmp);
    NDArray o = out;
    o += tmp;
    return;
  }
  produce(out);
}

// Kernel-launching helpers are templates so that they, and their kernels for every dtype, are compiled only
// into programs that call them.
/// dst = src, the same number of elements (any dtype, shapes may differ).
template <class = void>
void copy_elements(const NDArray& src, const NDArray& dst) {
  NDArray d = dst;
  src.view(dst.shape(), src.byte_offset()).copyto(d);  // not reshape: its code 0 would copy an extent
}

template <class W>
struct ZeroKernel {
  W* out;
  MIXT_HD void operator()(int64_t i) const { out[i] = W(0); }
};
/// Writes zeros into `a` (every dtype: zero bits).
template <class = void>
void fill_zero(const NDArray& a) {
  word_switch(a.dtype(), [&](auto w) {
    using W = decltype(w);
    push_launch("zeros", a.size(), ZeroKernel<W>{static_cast<W*>(a.raw_data())}, {}, {a});
  });
}
/// A gradient that is zero, per req (write/inplace: zeros; add and null: nothing to do).
template <class = void>
void zero_grad(const NDArray& g, Req req) {
  if (req == Req::write || req == Req::inplace) fill_zero(g);
}

/// dst[o, dst_off + j, r] = src[o, src_off + j, r] for j < len: a block along the middle axis of (outer, n, inner)
/// views of src (extent n_src) and dst (extent n_dst). One index per element of the block.
template <class W>
struct BlockCopyKernel {
  const W* src;
  W* dst;
  int64_t len, inner, n_src, n_dst, src_off, dst_off;
  MIXT_HD void operator()(int64_t i) const {
    const int64_t r = i % inner, t = i / inner, j = t % len, o = t / len;
    dst[(o * n_dst + dst_off + j) * inner + r] = src[(o * n_src + src_off + j) * inner + r];
  }
};
/// dst[o, j, r] = src[o, j - off, r] when off <= j < off + len, else 0. One index per element of dst.
template <class W>
struct PadCopyKernel {
  const W* src;
  W* dst;
  int64_t len, inner, n_dst, off;
  MIXT_HD void operator()(int64_t i) const {
    const int64_t r = i % inner, t = i / inner, j = t % n_dst, o = t / n_dst;
    const int64_t k = j - off;
    dst[i] = (k >= 0 && k < len) ? src[(o * len + k) * inner + r] : W(0);
  }
};

/// Copies `len` entries along the middle axis from src (outer, n_src, inner) at src_off into dst (outer, n_dst,
/// inner) at dst_off.
template <class = void>
void block_copy(const NDArray& src, const NDArray& dst, int64_t outer, int64_t inner, int64_t len,
                int64_t n_src, int64_t src_off, int64_t n_dst, int64_t dst_off, const char* name) {
  word_switch(dst.dtype(), [&](auto w) {
    using W = decltype(w);
    push_launch(name, outer * len * inner,
                BlockCopyKernel<W>{static_cast<const W*>(src.raw_data()), static_cast<W*>(dst.raw_data()), len, inner,
                                   n_src, n_dst, src_off, dst_off},
                {src}, {dst});
  });
}

/// Index arrays must have an axis: MXNet's shape inference reads shape () as "unknown", so a 0-d index array
/// would leave the output's shape unset (a one-element output, and a backward reading past the head gradient).
inline void check_has_axis(const char* op, const char* argument, const NDArray& idx) {
  if (idx.ndim() == 0)
    mixt::detail::fail(op, "argument '", argument, "': expected at least 1 dimension, received a 0-d array ",
                       "(reshape it to (1,))");
}

/// The indices as int64 (a converted copy unless they are int64 already; floats are truncated, as MXNet casts).
template <class = void>
NDArray as_index(const NDArray& idx) { return idx.dtype() == DType::int64 ? idx : idx.astype(DType::int64); }

/// Index modes of take and pick.
enum class IndexMode : int { clip = 0, wrap = 1, raise = 2 };
inline IndexMode index_mode(const char* op, const std::string& mode, bool allow_raise) {
  if (mode == "clip") return IndexMode::clip;
  if (mode == "wrap") return IndexMode::wrap;
  if (mode == "raise" && allow_raise) return IndexMode::raise;
  mixt::detail::fail(op, "attribute 'mode': expected one of clip, wrap", allow_raise ? ", raise" : "", "; received '",
                     mode, "'");
}
/// An index brought into [0, n): wrapped, or clipped (raise was checked on the host before).
MIXT_HD inline int64_t fix_index(int64_t j, int64_t n, int mode) {
  if (mode == int(IndexMode::wrap)) {
    j %= n;
    return j < 0 ? j + n : j;
  }
  return j < 0 ? 0 : (j >= n ? n - 1 : j);
}

/// The dtype named by an operator's 'dtype' attribute.
inline DType dtype_attr(const char* op, const std::string& name) {
  for (DType t : {DType::float32, DType::float64, DType::float16, DType::bfloat16, DType::uint8, DType::int8,
                  DType::int32, DType::int64})
    if (name == dtype_name(t)) return t;
  mixt::detail::fail(op, "attribute 'dtype': expected one of float32, float64, float16, bfloat16, uint8, int8, int32, "
                         "int64; received '", name, "'");
}

/// Converts a double into T on the host (through T's compute type, for half and bfloat16).
template <class T>
T from_double(double v) {
  return static_cast<T>(static_cast<compute_type_t<T>>(v));
}

}  // namespace mixt::op::index_detail
