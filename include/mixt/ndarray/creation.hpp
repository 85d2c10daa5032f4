// Creating arrays: mx::nd::zeros, ones, full, empty, array (from host values), arange.
#pragma once

#include <cmath>
#include <initializer_list>
#include <vector>

#include "ndarray_impl.hpp"

namespace mixt::detail {
/// An uninitialized array; a GPU context in a build without CUDA, or a size past memory, is an error naming `op`
/// at the caller's line.
inline NDArray new_array(const Shape& shape, Context ctx, DType dtype, const char* op,
                         const mixt::source_location& where) {
  return at_location(where, [&] {
    require_device(ctx, op);
    storage_bytes(shape, dtype, op);
    return NDArray(shape, ctx, dtype);
  });
}
/// An array of `shape` filled with `value`.
inline NDArray filled(const Shape& shape, double value, Context ctx, DType dtype, const char* op,
                      const mixt::source_location& where) {
  NDArray a = new_array(shape, ctx, dtype, op, where);
  a.assign(value, where);
  return a;
}
/// An array of a's shape, context and dtype filled with `value`.
inline NDArray filled_like(const NDArray& a, double value, const char* op, const mixt::source_location& where) {
  require_storage(a, op, where);
  return filled(a.shape(), value, a.ctx(), a.dtype(), op, where);
}
}  // namespace mixt::detail

namespace mixt::nd {

/// An uninitialized array.
inline NDArray empty(const Shape& shape, Context ctx = cpu(), DType dtype = DType::float32,
                     mixt::source_location where = mixt::source_location::current()) {
  return detail::new_array(shape, ctx, dtype, "empty", where);
}

/// An array filled with `value`.
inline NDArray full(const Shape& shape, double value, Context ctx = cpu(), DType dtype = DType::float32,
                    mixt::source_location where = mixt::source_location::current()) {
  return detail::filled(shape, value, ctx, dtype, "full", where);
}
inline NDArray zeros(const Shape& shape, Context ctx = cpu(), DType dtype = DType::float32,
                     mixt::source_location where = mixt::source_location::current()) {
  return detail::filled(shape, 0.0, ctx, dtype, "zeros", where);
}
inline NDArray ones(const Shape& shape, Context ctx = cpu(), DType dtype = DType::float32,
                    mixt::source_location where = mixt::source_location::current()) {
  return detail::filled(shape, 1.0, ctx, dtype, "ones", where);
}

/// zeros and ones of a's shape, context and dtype (MXNet's zeros_like, ones_like).
inline NDArray zeros_like(const NDArray& a, mixt::source_location where = mixt::source_location::current()) {
  return detail::filled_like(a, 0.0, "zeros_like", where);
}
inline NDArray ones_like(const NDArray& a, mixt::source_location where = mixt::source_location::current()) {
  return detail::filled_like(a, 1.0, "ones_like", where);
}

/// An array holding `values` (converted to dtype as astype converts) with the given shape; the shape defaults to
/// (values.size(),).
template <class T>
NDArray array(const std::vector<T>& values, Shape shape, Context ctx = cpu(), DType dtype = DType::float32,
              mixt::source_location where = mixt::source_location::current()) {
  if (size_t(shape.size()) != values.size())
    detail::fail_at(where, "array", values.size(), " values given for shape ", shape.to_string(), ", which holds ",
                    shape.size());
  NDArray host = detail::new_array(shape, cpu(), dtype, "array", where);
  dtype_switch(dtype, [&](auto d) {
    using D = decltype(d);
    D* p = host.data<D>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = detail::convert_value<D>(values[i]);
  });
  return ctx == cpu() ? host : host.copyto(ctx, where);
}
template <class T>
NDArray array(const std::vector<T>& values, Context ctx = cpu(), DType dtype = DType::float32,
              mixt::source_location where = mixt::source_location::current()) {
  return array(values, Shape{int64_t(values.size())}, ctx, dtype, where);
}
template <class T>
NDArray array(std::initializer_list<T> values, Shape shape, Context ctx = cpu(), DType dtype = DType::float32,
              mixt::source_location where = mixt::source_location::current()) {
  return array(std::vector<T>(values), shape, ctx, dtype, where);
}
template <class T>
NDArray array(std::initializer_list<T> values, Context ctx = cpu(), DType dtype = DType::float32,
              mixt::source_location where = mixt::source_location::current()) {
  return array(std::vector<T>(values), ctx, dtype, where);
}

/// MXNet's arange: the values start, start + step, ... below stop (above it for a negative step), each repeated
/// `repeat` times: element i is start + floor(i / repeat) * step, computed in double and converted to dtype
/// (float -> integer truncates). The length is ceil((stop - start) / step) * repeat; an empty array when that is
/// not positive (NumPy's rule).
inline NDArray arange(double start, double stop, double step = 1, int64_t repeat = 1, Context ctx = cpu(),
                      DType dtype = DType::float32, mixt::source_location where = mixt::source_location::current()) {
  using detail::fail_at;
  if (step == 0 || !std::isfinite(step)) fail_at(where, "arange", "step must be finite and nonzero, received ", step);
  if (repeat < 1) fail_at(where, "arange", "repeat must be >= 1, received ", repeat);
  if (!std::isfinite(start) || !std::isfinite(stop))
    fail_at(where, "arange", "start and stop must be finite, received start = ", start, ", stop = ", stop);
  const double steps = std::ceil((stop - start) / step);
  if (steps * double(repeat) > 9.0e15)
    fail_at(where, "arange", "the range holds too many elements (", steps, " values, each repeated ", repeat,
            " times)");
  const int64_t n = steps > 0 ? int64_t(steps) * repeat : 0;
  NDArray out = detail::new_array(Shape{n}, ctx, dtype, "arange", where);
  if (n == 0) return out;
  engine::Engine::get().push(
      [out, start, step, repeat](engine::RunContext rc) {
        const DType t = out.dtype();
        void* p = out.raw_data();
        expr::launch(rc, out.size(), [=] MIXT_HD(int64_t i) {
          detail::store_double(t, p, i, start + double(i / repeat) * step);
        });
      },
      ctx, {}, {out.var()}, engine::FnProperty::normal, "arange", where);
  return out;
}

/// arange(stop): 0, 1, ..., stop - 1.
inline NDArray arange(double stop, Context ctx = cpu(), DType dtype = DType::float32,
                      mixt::source_location where = mixt::source_location::current()) {
  return arange(0, stop, 1, 1, ctx, dtype, where);
}

}  // namespace mixt::nd
