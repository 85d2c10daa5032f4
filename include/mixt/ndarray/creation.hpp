// Creating arrays: mx::nd::zeros, ones, full, empty, array (from host values).
#pragma once

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

/// An array holding `values` (converted to dtype) with the given shape; the shape defaults to (values.size(),).
template <class T>
NDArray array(const std::vector<T>& values, Shape shape, Context ctx = cpu(), DType dtype = DType::float32) {
  if (size_t(shape.size()) != values.size())
    detail::fail("array", values.size(), " values given for shape ", shape.to_string(), ", which holds ", shape.size());
  NDArray host(shape, cpu(), dtype);
  dtype_switch(dtype, [&](auto d) {
    using D = decltype(d);
    D* p = host.data<D>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<D>(static_cast<compute_type_t<D>>(values[i]));
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

}  // namespace mixt::nd
