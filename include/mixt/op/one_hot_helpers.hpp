// Class-index helpers for loss operators: an array 0, 1, ..., k-1 laid along one axis, so that
// `label == class_index(...)` broadcasts into a one-hot mask inside a fused expression.
#pragma once

#include "../expr/launch.hpp"
#include "../ndarray/ndarray.hpp"

namespace mixt::op::detail {

/// Shape (1, ..., k, ..., 1) with k at `axis`, holding 0..k-1 in `dtype` (float32 by default).
template <int = 0>
NDArray class_index(int64_t k, int ndim, int axis, const Context& ctx, DType dtype = DType::float32) {
  Shape s;
  for (int d = 0; d < ndim; ++d) s.push_back(d == axis ? k : 1);
  NDArray idx(s, ctx, dtype);
  engine::Engine::get().push(
      [idx, k](engine::RunContext rc) {
        dtype_switch(idx.dtype(), [&](auto tag) {
          using T = decltype(tag);
          expr::launch(rc, k, expr::IotaKernel<T>{static_cast<T*>(idx.raw_data())});
        });
      },
      ctx, {}, {idx.var()}, engine::FnProperty::normal, "class_index");
  return idx;
}

}  // namespace mixt::op::detail
