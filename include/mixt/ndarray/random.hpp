// Random arrays: mx.nd.random.uniform and mx.nd.random.normal, drawn from the counter-based generator of
// core/random.hpp. Element i depends only on (seed, stream offset, i): the same seed gives the same array however
// the work is split over threads, on the CPU as on the GPU (the GPU's libm may round log/cos differently in the
// last bit, so normal draws agree to rounding across devices, exactly on one device).
#pragma once

#include <cmath>

#include "../core/random.hpp"
#include "ndarray_impl.hpp"

namespace mixt::nd::random {

namespace detail {

/// dtype_switch over the floating dtypes, the only ones random arrays come in (as in MXNet).
template <class F>
void float_dtype_switch(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::float32: return f(float{});
    case DType::float64: return f(double{});
    case DType::float16: return f(half_t{});
    case DType::bfloat16: return f(bfloat16_t{});
    default: break;
  }
  mixt::detail::fail(op, "dtype ", dtype_name(t), " is not supported; expected float32, float64, float16 or bfloat16");
}

/// The largest value of the 16-bit float encoded by `bits` that is below it.
MIXT_HD inline uint16_t previous16(uint16_t bits) {
  if ((bits & 0x7fffu) == 0) return 0x8001u;  // +-0 -> the smallest negative subnormal
  return (bits & 0x8000u) ? uint16_t(bits + 1) : uint16_t(bits - 1);
}
/// The smallest value of the 16-bit float encoded by `bits` that is above it.
MIXT_HD inline uint16_t next16(uint16_t bits) {
  if ((bits & 0x7fffu) == 0) return 0x0001u;  // +-0 -> the smallest positive subnormal
  return (bits & 0x8000u) ? uint16_t(bits - 1) : uint16_t(bits + 1);
}
MIXT_HD inline float previous(float v) { return ::nextafterf(v, -INFINITY); }
MIXT_HD inline double previous(double v) { return ::nextafter(v, -INFINITY); }
MIXT_HD inline half_t previous(half_t v) { return half_t::from_bits(previous16(v.bits)); }
MIXT_HD inline bfloat16_t previous(bfloat16_t v) { return bfloat16_t::from_bits(previous16(v.bits)); }
MIXT_HD inline float next(float v) { return ::nextafterf(v, INFINITY); }
MIXT_HD inline double next(double v) { return ::nextafter(v, INFINITY); }
MIXT_HD inline half_t next(half_t v) { return half_t::from_bits(next16(v.bits)); }
MIXT_HD inline bfloat16_t next(bfloat16_t v) { return bfloat16_t::from_bits(next16(v.bits)); }

/// v rounded to T, then stepped back into [low, high) when rounding left it (low = 0.99 rounds below itself in
/// bfloat16): draws stay in [low, high) whenever that range holds a value of T.
template <class T>
MIXT_HD T within(double v, double low, double high) {
  T t = static_cast<T>(static_cast<compute_type_t<T>>(v));
  while (static_cast<double>(static_cast<compute_type_t<T>>(t)) >= high) t = previous(t);
  while (static_cast<double>(static_cast<compute_type_t<T>>(t)) < low) t = next(t);
  return t;
}

/// Whether [low, high) holds a value of dtype: [1 + 1e-10, 1 + 2e-10) holds no float32, [1e5, 2e5) no float16.
template <class = void>
bool holds_value(DType dtype, double low, double high, const char* op) {
  bool holds = false;
  float_dtype_switch(dtype, op, [&](auto tag) {
    using T = decltype(tag);
    const double v = static_cast<double>(static_cast<compute_type_t<T>>(within<T>(low, low, high)));
    holds = v >= low && v < high;
  });
  return holds;
}

enum class Law { uniform, normal };

// The kernels are function templates, not generic lambdas: nvcc accepts no device lambda inside a generic lambda.
template <class T>
void uniform_kernel(const engine::RunContext& rc, T* p, int64_t n, ::mixt::random::Stream stream, double low,
                    double high) {
  expr::launch(rc, n, [=] MIXT_HD(int64_t i) {
    const double u = ::mixt::random::Stream::unit(stream.bits(i), 0);
    p[i] = within<T>(low + (high - low) * u, low, high);
  });
}

template <class T>
void normal_kernel(const engine::RunContext& rc, T* p, int64_t n, ::mixt::random::Stream stream, double loc,
                   double scale) {
  expr::launch(rc, n, [=] MIXT_HD(int64_t i) {
    const ::mixt::random::Block bits = stream.bits(i);
    const double u1 = 1.0 - ::mixt::random::Stream::unit(bits, 0);  // (0, 1]: log(u1) is finite
    const double u2 = ::mixt::random::Stream::unit(bits, 2);
    const double z = ::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586 * u2);  // Box-Muller
    p[i] = static_cast<T>(static_cast<compute_type_t<T>>(loc + scale * z));
  });
}

// Kernel-launching helpers are templates so that they, and their kernels for every dtype, are compiled only
// into programs that call them.
/// Fills out with draws of `law` with parameters (a, b): (low, high) or (loc, scale).
template <class = void>
NDArray draw(const Shape& shape, Context ctx, DType dtype, Law law, double a, double b, const char* op,
             const mixt::source_location& where) {
  NDArray out = mixt::detail::at_location(where, [&] { return NDArray(shape, ctx, dtype); });
  mixt::detail::at_location(where, [&] { float_dtype_switch(dtype, op, [](auto) {}); });  // before anything is drawn
  if (out.size() == 0) return out;
  const ::mixt::random::Stream stream = ::mixt::random::take(uint64_t(out.size()));
  engine::Engine::get().push(
      [out, stream, law, a, b, op](engine::RunContext rc) {
        float_dtype_switch(out.dtype(), op, [&](auto tag) {
          using T = decltype(tag);
          if (law == Law::uniform) uniform_kernel<T>(rc, out.data<T>(), out.size(), stream, a, b);
          else normal_kernel<T>(rc, out.data<T>(), out.size(), stream, a, b);
        });
      },
      ctx, {}, {out.var()}, engine::FnProperty::normal, op, where);
  return out;
}

}  // namespace detail

/// Draws from the uniform distribution on [low, high) (mx.nd.random.uniform). Every value is >= low and < high,
/// also after rounding to dtype.
inline NDArray uniform(double low = 0, double high = 1, const Shape& shape = Shape{1}, Context ctx = cpu(),
                       DType dtype = DType::float32, mixt::source_location where = mixt::source_location::current()) {
  if (!(low < high))
    mixt::detail::fail_at(where, "random.uniform", "expected low < high, received low = ", low, ", high = ", high);
  if (!std::isfinite(high - low))  // infinite bounds, or a width past the largest double (NumPy: OverflowError)
    mixt::detail::fail_at(where, "random.uniform", "expected a finite range high - low, received low = ", low,
                          ", high = ", high);
  if (!mixt::detail::at_location(where, [&] { return detail::holds_value(dtype, low, high, "random.uniform"); }))
    mixt::detail::fail_at(where, "random.uniform", "no ", dtype_name(dtype),
                          " value lies in [low, high), received low = ", low, ", high = ", high);
  return detail::draw(shape, ctx, dtype, detail::Law::uniform, low, high, "random.uniform", where);
}

/// Draws from the normal distribution with mean `loc` and standard deviation `scale` (mx.nd.random.normal).
inline NDArray normal(double loc = 0, double scale = 1, const Shape& shape = Shape{1}, Context ctx = cpu(),
                      DType dtype = DType::float32, mixt::source_location where = mixt::source_location::current()) {
  if (!(scale >= 0)) mixt::detail::fail_at(where, "random.normal", "expected scale >= 0, received ", scale);
  return detail::draw(shape, ctx, dtype, detail::Law::normal, loc, scale, "random.normal", where);
}

}  // namespace mixt::nd::random
