// NDArray members that need the expression machinery and the engine: evaluation, copies, host reads, views.
#pragma once

#include <algorithm>
#include <cstring>
#include <numeric>

#include "../expr/evaluate.hpp"
#include "../expr/launch.hpp"
#include "../expr/operators.hpp"
#include "../memory/copy.hpp"
#include "../autograd/state.hpp"
#include "convert.hpp"
#include "reshape.hpp"

namespace mixt {

namespace autograd::detail {  // autograd/record.hpp, included at the end
template <expr::FusedNode E>
void record_expression(const E& e, NDArray& out, const mixt::source_location& where);
void record_view(const NDArray& base, NDArray& v);
template <class Back>
void record_copy(const char* name, const NDArray& in, NDArray& out, Back back);
template <class Saver, class E>
bool in_place_records(const NDArray& out, const E& e, const mixt::source_location& where, const char* op = Saver::name);
template <class Saver, class E>
void record_in_place(const E& e, NDArray& out, const mixt::source_location& where);
}  // namespace autograd::detail

namespace detail {

/// An error of `op` when `a` is an empty ("none") array, one with no storage to read.
inline void require_storage(const NDArray& a, std::string_view op, const mixt::source_location& where = {}) {
  if (a.is_none()) fail_at(where, op, "the array is empty (default-constructed, no storage)");
}

#if MIXT_USE_CUDA
/// Stores the word held in `pattern` (its first sizeof(W) bytes) n times from p (GPU fills).
template <class W>
void fill_words(const engine::RunContext& rc, void* p, int64_t n, const unsigned char* pattern) {
  W word;
  std::memcpy(&word, pattern, sizeof(W));
  expr::launch(rc, n, expr::FillKernel<W>{static_cast<W*>(p), word});
}
#endif

/// Writes n elements of `size` bytes (1, 2, 4 or 8), each a copy of pattern's first `size` bytes, from p (CPU).
/// One loop for every dtype: the bulk as aligned 8-byte words holding 8 / size elements, whose pattern lines up
/// because size divides 8 and p is a multiple of size.
[[gnu::noinline]] inline void fill_pattern(void* p, int64_t n, const unsigned char* pattern, int size) {
  unsigned char* b = static_cast<unsigned char*>(p);
  const int64_t bytes = n * size;
  int64_t head = int64_t((8 - reinterpret_cast<uintptr_t>(b) % 8) % 8);
  if (head > bytes) head = bytes;
  for (int64_t i = 0; i < head; ++i) b[i] = pattern[i % size];
  unsigned char replicated[8];
  for (int k = 0; k < 8; ++k) replicated[k] = pattern[k % size];
  uint64_t word;
  std::memcpy(&word, replicated, 8);
  uint64_t* words = reinterpret_cast<uint64_t*>(b + head);
  const int64_t n_words = (bytes - head) / 8;
  parallel_for(n_words, int64_t(1) << 14, [&](int64_t begin, int64_t end) { std::fill(words + begin, words + end, word); });
  for (int64_t i = head + n_words * 8; i < bytes; ++i) b[i] = pattern[i % size];
}

/// Writes `value` to every element of out (any dtype). The value is converted to out's dtype here, once; the
/// kernel only stores bytes, so every program compiles one fill loop rather than one per dtype.
inline void fill(const NDArray& out, double value, const mixt::source_location& where) {
  if (out.is_none()) detail::fail_at(where, "fill", "the destination is an empty NDArray");
  if (out.size() == 0) return;
  struct Pattern {
    alignas(8) unsigned char bytes[8] = {};
  } pattern;
  store_double(out.dtype(), pattern.bytes, 0, value);
  engine::Engine::get().push(
      [p = out.raw_data(), n = out.size(), t = out.dtype(), pattern](engine::RunContext rc) {
#if MIXT_USE_CUDA
        if (rc.ctx.is_gpu()) return word_switch(t, [&](auto w) { fill_words<decltype(w)>(rc, p, n, pattern.bytes); });
#else
        (void)rc;
#endif
        fill_pattern(p, n, pattern.bytes, int(dtype_size(t)));
      },
      out.ctx(), {}, {out.var()}, engine::FnProperty::normal, "fill", where);
}

inline void copy_array(const NDArray& src, const NDArray& dst, const mixt::source_location& where);

/// Evaluates any right-hand side (array, expression, scalar, materializable node) into `out` with Saver.
/// While recording, the write follows MXNet's rules (autograd::detail::in_place_records).
/// An array of out's shape and dtype is copied without an expression when that dtype has none compiled in
/// (MIXT_EXPR_DTYPES), so that `h.assign(other)` and autograd's gradient buffers work for float16 too; a copy
/// within one chunk still takes the expression path, which knows how to order overlapping reads and writes.
template <class Saver, class E>
void evaluate_rhs(NDArray& out, const E& e, const mixt::source_location& where) {
  const bool records = autograd::is_recording() && autograd::detail::in_place_records<Saver>(out, e, where);
  if constexpr (std::is_same_v<Saver, expr::save_write> && std::is_same_v<E, NDArray>) {
    if (!expr::expr_dtype_enabled(out.dtype()) && e.dtype() == out.dtype() && e.shape() == out.shape() &&
        e.chunk() != out.chunk()) {
      copy_array(e, out, where);
      if (records) autograd::detail::record_in_place<Saver>(e, out, where);
      return;
    }
  }
  if constexpr (expr::Materializable<E>) e.template assign_into<Saver>(out);
  else if constexpr (std::is_same_v<Saver, expr::save_write> && std::is_arithmetic_v<E>) fill(out, double(e), where);
  else expr::evaluate_into<Saver>(out, expr::as_node(e), where);
  if (records) autograd::detail::record_in_place<Saver>(e, out, where);
}

/// Copies src into dst (same shape), converting the dtype; both may live on any device.
inline void copy_array(const NDArray& src, const NDArray& dst, const mixt::source_location& where) {
  if (src.is_none() || dst.is_none())
    detail::fail_at(where, "copyto", "the ", src.is_none() ? "source" : "destination",
                    " is an empty NDArray (default-constructed, no storage)");
  if (!(src.shape() == dst.shape()))
    detail::fail_at(where, "copyto", "shapes differ: source ", src.shape().to_string(), ", destination ",
                    dst.shape().to_string());
  if (src.size() == 0 || (src.chunk() == dst.chunk() && src.byte_offset() == dst.byte_offset() &&
                              src.dtype() == dst.dtype()))
    return;
  if (src.dtype() != dst.dtype() && !(src.ctx() == dst.ctx())) {
    NDArray staged(src.shape(), dst.ctx(), src.dtype());
    copy_array(src, staged, where);
    copy_array(staged, dst, where);
    return;
  }
  if (src.chunk() == dst.chunk() && src.ctx().is_gpu()) {  // overlapping views: a device copy would be undefined
    NDArray staged(src.shape(), src.ctx(), src.dtype());
    expr::push_byte_copy(src, staged, "copyto", where);
    return expr::push_byte_copy(staged, dst, "copyto", where);
  }
  if (src.dtype() == dst.dtype()) return expr::push_byte_copy(src, dst, "copyto", where);
  // Different dtypes: here both live on one device (see above).
  engine::Engine::get().push(
      [src, dst](engine::RunContext rc) {
        const DType st = src.dtype(), dt = dst.dtype();
        const void* in = src.raw_data();
        void* out = dst.raw_data();
        const bool integers = is_integer(st) && is_integer(dt);  // exact, keeping the low bits
#if MIXT_USE_CUDA
        if (rc.ctx.is_gpu()) {
          if (integers)
            expr::launch(rc, src.size(),
                         [=] MIXT_HD(int64_t i) { store_int64(dt, out, i, load_as_int64(st, in, i)); });
          else
            expr::launch(rc, src.size(),
                         [=] MIXT_HD(int64_t i) { store_double(dt, out, i, load_as_double(st, in, i)); });
          return;
        }
#else
        (void)rc;
#endif
        if (integers)
          return parallel_for(src.size(), expr::kLaunchGrain, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) store_int64(dt, out, i, load_as_int64(st, in, i));
          });
        constexpr int64_t kChunk = 256;  // converted through a small double buffer on the stack
        parallel_for(src.size(), expr::kLaunchGrain, [&](int64_t b, int64_t e) {
          double buf[kChunk];
          for (int64_t c = b; c < e; c += kChunk) {
            const int64_t m = std::min(kChunk, e - c);
            load_chunk(st, in, c, m, buf);
            store_chunk(dt, out, c, m, buf);
          }
        });
      },
      src.ctx(), {src.var()}, {dst.var()},
      src.ctx().is_gpu() ? engine::FnProperty::copy_from_gpu : engine::FnProperty::normal, "astype", where);
}

}  // namespace detail

template <ExprNode E>
NDArray::NDArray(const E& e, mixt::source_location where) {
  if constexpr (expr::Materializable<E>) {
    *this = e.materialize();
  } else {
    *this = expr::evaluate(e, where, expr::evaluation_name<E>);
    if (autograd::is_recording()) autograd::detail::record_expression(e, *this, where);
  }
}

template <class E> NDArray& NDArray::operator+=(const E& e) {
  detail::evaluate_rhs<expr::save_add>(*this, e, {});
  return *this;
}
template <class E> NDArray& NDArray::operator-=(const E& e) {
  detail::evaluate_rhs<expr::save_sub>(*this, e, {});
  return *this;
}
template <class E> NDArray& NDArray::operator*=(const E& e) {
  detail::evaluate_rhs<expr::save_mul>(*this, e, {});
  return *this;
}
template <class E> NDArray& NDArray::operator/=(const E& e) {
  detail::evaluate_rhs<expr::save_div>(*this, e, {});
  return *this;
}
template <class E> NDArray& NDArray::assign(const E& e, mixt::source_location where) {
  detail::evaluate_rhs<expr::save_write>(*this, e, where);
  return *this;
}

template <class T>
std::vector<T> NDArray::to_vector() const {
  if (is_none()) return {};
  if (size() == 0) {  // nothing to copy; still a host read (it waits, and rethrows a stored error)
    wait_to_read();
    return {};
  }
  std::unique_ptr<char[]> staging;
  const void* host = host_data(staging);
  std::vector<T> out(static_cast<size_t>(size()));
  if constexpr (requires { dtype_of<T>::value; }) {
    if (dtype_ == dtype_of_v<T>) {
      std::memcpy(out.data(), host, out.size() * sizeof(T));
      return out;
    }
  }
  // Another dtype: one small loop for every source dtype, through double (exact for every value but int64
  // beyond 2^53), or between integers as astype converts them (exactly, keeping the low bits).
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (detail::is_integer(dtype_)) {
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(detail::load_as_int64(dtype_, host, int64_t(i)));
      return out;
    }
  }
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = math::saturate_cast<T>(detail::load_as_double(dtype_, host, int64_t(i)));  // NaN as int: 0
  return out;
}

[[gnu::noinline]] inline const void* NDArray::host_data(std::unique_ptr<char[]>& staging) const {
  wait_to_read();
#if MIXT_USE_CUDA
  if (ctx_.is_gpu()) {
    const size_t bytes = size_t(size()) * dtype_size(dtype_);
    staging.reset(new char[bytes]);
    NDArray src = *this;
    // The copy writes a private variable, so that waiting on it waits for the copy alone (wait_all would wait
    // for unrelated work and rethrow its errors here).
    auto& eng = engine::Engine::get();
    engine::Var* copied = eng.new_var();
    eng.push(
        [src, dst = staging.get(), bytes](engine::RunContext rc) {
          memory::copy_bytes(dst, cpu(), src.raw_data(), src.ctx(), bytes, rc);
        },
        ctx_, {var()}, {copied}, engine::FnProperty::copy_from_gpu, "to_vector");
    try {
      eng.wait_for_var(copied);
    } catch (...) {
      eng.delete_var(copied, cpu(), [] {});
      throw;
    }
    eng.delete_var(copied, cpu(), [] {});
    return staging.get();
  }
#else
  (void)staging;  // without CUDA every array lives on the CPU (a gpu() context fails when the array is made)
#endif
  return raw_data();
}

template <class T>
T NDArray::item(mixt::source_location where) const {
  return detail::at_location(where, [&] {
    detail::require_storage(*this, "item");
    if (size() != 1)
      detail::fail("item", "the array holds ", size(), " elements (shape ", shape_.to_string(), "), expected 1");
    return to_vector<T>()[0];
  });
}

inline NDArray NDArray::copy() const {
  if (is_none()) return {};
  NDArray out(shape_, ctx_, dtype_);
  detail::copy_array(*this, out, {});
  autograd::detail::record_copy("copy", *this, out, [](const NDArray& g) { return g; });
  return out;
}

inline NDArray& NDArray::copyto(NDArray& other, mixt::source_location where) const {
  // While recording, as an assign (autograd::detail::in_place_records): a recorded source puts other on the tape.
  const bool records =
      autograd::is_recording() && autograd::detail::in_place_records<expr::save_write>(other, *this, where, "copyto");
  detail::copy_array(*this, other, where);  // onto itself: checked, then a no-op (MXNet warns)
  if (records)
    autograd::detail::record_copy("copyto", *this, other, [dtype = dtype_, ctx = ctx_](const NDArray& g) {
      const NDArray same_dtype = g.dtype() == dtype ? g : g.astype(dtype);
      return same_dtype.ctx() == ctx ? same_dtype : same_dtype.copyto(ctx);
    });
  return other;
}

inline NDArray NDArray::copyto(const Context& ctx, mixt::source_location where) const {
  detail::at_location(where, [&] { require_device(ctx, "copyto"); });
  NDArray out(shape_, ctx, dtype_);
  detail::copy_array(*this, out, where);
  autograd::detail::record_copy("copyto", *this, out, [from = ctx_](const NDArray& g) { return g.copyto(from); });
  return out;
}

inline NDArray NDArray::astype(DType dtype, mixt::source_location where) const {
  detail::require_storage(*this, "astype", where);
  NDArray out(shape_, ctx_, dtype);
  detail::copy_array(*this, out, where);
  autograd::detail::record_copy("astype", *this, out, [from = dtype_](const NDArray& g) { return g.astype(from); });
  return out;
}

inline NDArray NDArray::view(const Shape& shape, size_t byte_offset) const {
  if (is_none()) detail::fail("view", "the array is empty (no storage)");
  // Elements start on their own size: a GPU kernel, cuBLAS or cuDNN reading a misaligned float faults.
  if (byte_offset % dtype_size(dtype_) != 0)
    detail::fail("view", "argument 'byte_offset': expected a multiple of ", dtype_size(dtype_), " (the size of ",
                 dtype_name(dtype_), "), received ", byte_offset);
  size_t need = byte_offset + detail::storage_bytes(shape, dtype_, "view");
  if (need > chunk_->bytes())
    detail::fail("view", "a view of shape ", shape.to_string(), " at byte ", byte_offset, " needs ", need,
                 " bytes; the storage holds ", chunk_->bytes());
  NDArray v = *this;
  v.shape_ = shape;
  v.offset_ = byte_offset;
  autograd::detail::record_view(*this, v);
  return v;
}

inline NDArray NDArray::reshape(const std::vector<int64_t>& shape, bool reverse, mixt::source_location where) const {
  return detail::at_location(where, [&] {
    return view(infer_reshape(shape_, shape, reverse), offset_);
  });
}

inline NDArray NDArray::slice(int64_t begin, int64_t end, mixt::source_location where) const {
  return detail::at_location(where, [&] {
    if (ndim() == 0) detail::fail("slice", "cannot slice a 0-d array");
    int64_t n = shape_[0];
    if (begin < 0) begin += n;
    if (end < 0) end += n;
    if (begin < 0 || end > n || begin > end)
      detail::fail("slice", "range [", begin, ", ", end, ") is out of bounds for axis 0 of extent ", n);
    Shape s = shape_;
    s[0] = end - begin;
    return view(s, offset_ + size_t(begin) * size_t(shape_.size() / std::max<int64_t>(n, 1)) * dtype_size(dtype_));
  });
}

inline NDArray NDArray::at(int64_t index, mixt::source_location where) const {
  return detail::at_location(where, [&] {
    if (ndim() == 0) detail::fail("at", "cannot index a 0-d array");
    int64_t n = shape_[0];
    if (index < -n || index >= n) detail::fail("at", "index ", index, " is out of bounds for axis 0 of extent ", n);
    if (index < 0) index += n;
    Shape s(shape_.begin() + 1, shape_.end());
    return view(s, offset_ + size_t(index) * size_t(s.size()) * dtype_size(dtype_));
  });
}

inline NDArray NDArray::expand_dims(int axis, mixt::source_location where) const {
  return detail::at_location(where, [&] {
    const int nd = ndim() + 1;
    if (axis < -nd || axis >= nd)
      detail::fail("expand_dims", "axis ", axis, " is out of range for an array of shape ", shape_, " (expected -",
                   nd, " <= axis <= ", nd - 1, ")");
    if (axis < 0) axis += nd;
    Shape s;
    for (int d = 0, k = 0; d < nd; ++d) s.push_back(d == axis ? 1 : shape_[k++]);
    return view(s, offset_);
  });
}

inline NDArray NDArray::flatten(mixt::source_location where) const {
  if (ndim() == 0) detail::fail_at(where, "flatten", "expected an array of at least 1 dimension, received shape ()");
  int64_t rest = 1;  // not size() / rows: rows may be 0
  for (int d = 1; d < ndim(); ++d) rest *= shape_[d];
  return view(Shape{shape_[0], rest}, offset_);
}

inline NDArray NDArray::squeeze(std::vector<int> axes, mixt::source_location where) const {
  return detail::at_location(where, [&] {
    std::vector<bool> drop(size_t(ndim()), false);
    if (axes.empty()) {
      for (int d = 0; d < ndim(); ++d) drop[d] = shape_[d] == 1;
    } else {
      for (int a : axes) {
        int d = Shape::normalize_axis(a, ndim(), "squeeze");
        if (shape_[d] != 1)
          detail::fail("squeeze", "axis ", a, " of shape ", shape_, " has extent ", shape_[d], ", expected 1");
        if (drop[d]) detail::fail("squeeze", "axis ", a, " appears twice in axes");  // NumPy: repeated axis
        drop[d] = true;
      }
    }
    Shape s;
    for (int d = 0; d < ndim(); ++d) if (!drop[d]) s.push_back(shape_[d]);
    return view(s, offset_);
  });
}

inline expr::Transposed<NDArray> NDArray::T() const { return {{}, *this}; }

}  // namespace mixt

#include "../autograd/record.hpp"
#include "../autograd/record_reduction.hpp"
#include "../blas/dot_backward.hpp"  // record_product, which autograd::record installs
