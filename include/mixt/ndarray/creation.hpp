// Creating arrays: mx::nd::zeros, ones, full, empty, array (from host values), arange.
#pragma once

#include <cmath>
#include <initializer_list>
#include <vector>

#include "ndarray_impl.hpp"

namespace mixt::nd {

/// An uninitialized array.
inline NDArray empty(const Shape& shape, Context ctx = cpu(), DType dtype = DType::float32) {
  return NDArray(shape, ctx, dtype);
}

/// An array filled with `value`.
inline NDArray full(const Shape& shape, double value, Context ctx = cpu(), DType dtype = DType::float32) {
  NDArray a(shape, ctx, dtype);
  a.assign(value);
  return a;
}

inline NDArray zeros(const Shape& shape, Context ctx = cpu(), DType dtype = DType::float32) {
  return full(shape, 0.0, ctx, dtype);
}
inline NDArray ones(const Shape& shape, Context ctx = cpu(), DType dtype = DType::float32) {
  return full(shape, 1.0, ctx, dtype);
}

/// An array holding `values` (converted to dtype as astype converts) with the given shape; the shape defaults to
/// (values.size(),).
template <class T>
NDArray array(const std::vector<T>& values, Shape shape, Context ctx = cpu(), DType dtype = DType::float32) {
  if (size_t(shape.size()) != values.size())
    detail::fail("array", values.size(), " values given for shape ", shape.to_string(), ", which holds ", shape.size());
  NDArray host(shape, cpu(), dtype);
  dtype_switch(dtype, [&](auto d) {
    using D = decltype(d);
    D* p = host.data<D>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = detail::convert_value<D>(values[i]);
  });
  return ctx == cpu() ? host : host.copyto(ctx);
}
template <class T>
NDArray array(const std::vector<T>& values, Context ctx = cpu(), DType dtype = DType::float32) {
  return array(values, Shape{int64_t(values.size())}, ctx, dtype);
}
template <class T>
NDArray array(std::initializer_list<T> values, Shape shape, Context ctx = cpu(), DType dtype = DType::float32) {
  return array(std::vector<T>(values), shape, ctx, dtype);
}
template <class T>
NDArray array(std::initializer_list<T> values, Context ctx = cpu(), DType dtype = DType::float32) {
  return array(std::vector<T>(values), ctx, dtype);
}

/// MXNet's arange: the values start, start + step, ... below stop (above it for a negative step), each repeated
/// `repeat` times: element i is start + floor(i / repeat) * step, computed in double and converted to dtype
/// (float -> integer truncates). The length is ceil((stop - start) / step) * repeat; an empty array when that is
/// not positive (NumPy's rule).
inline NDArray arange(double start, double stop, double step = 1, int64_t repeat = 1, Context ctx = cpu(),
                      DType dtype = DType::float32) {
  if (step == 0 || !std::isfinite(step)) detail::fail("arange", "step must be finite and nonzero, received ", step);
  if (repeat < 1) detail::fail("arange", "repeat must be >= 1, received ", repeat);
  if (!std::isfinite(start) || !std::isfinite(stop))
    detail::fail("arange", "start and stop must be finite, received start = ", start, ", stop = ", stop);
  const double steps = std::ceil((stop - start) / step);
  if (steps * double(repeat) > 9.0e15)
    detail::fail("arange", "the range holds too many elements (", steps, " values, each repeated ", repeat, " times)");
  const int64_t n = steps > 0 ? int64_t(steps) * repeat : 0;
  NDArray out(Shape{n}, ctx, dtype);
  if (n == 0) return out;
  engine::Engine::get().push(
      [out, start, step, repeat](engine::RunContext rc) {
        const DType t = out.dtype();
        void* p = out.raw_data();
        expr::launch(rc, out.size(), [=] MIXT_HD(int64_t i) { detail::store_double(t, p, i, start + double(i / repeat) * step); });
      },
      ctx, {}, {out.var()}, engine::FnProperty::normal, "arange");
  return out;
}

/// arange(stop): 0, 1, ..., stop - 1.
inline NDArray arange(double stop, Context ctx = cpu(), DType dtype = DType::float32) {
  return arange(0, stop, 1, 1, ctx, dtype);
}

}  // namespace mixt::nd
