// Fused expressions over every dtype. This file is built into its own test binary with
// MIXT_EXPR_DTYPES=MIXT_EXPR_ALL_DTYPES (see tests/meson.build): the default build compiles float32 only.
#include "testing.hpp"

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::random_values;

static_assert(expr::expr_dtype_enabled(DType::float64) && expr::expr_dtype_enabled(DType::int8),
              "this file must be built with -DMIXT_EXPR_DTYPES=MIXT_EXPR_ALL_DTYPES");

MIXT_DEVICE_TEST("expr dtypes: float64 functions are accurate to double precision") {
  auto ctx = Device::ctx();
  for (int64_t n : {int64_t(5), int64_t(1027)}) {
    auto x = random_values(size_t(n), -30, 30, uint64_t(n));
    NDArray a = nd::array(x, Shape{n}, ctx, DType::float64);
    std::vector<double> e(x.size()), s(x.size()), t(x.size()), l(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      e[i] = std::exp(x[i]);
      s[i] = 1 / (1 + std::exp(-x[i]));
      t[i] = std::tanh(x[i] / 20);
      l[i] = std::log(std::abs(x[i]) + 1e-3);
    }
    check_close(NDArray(exp(a)), e, 1e-14, 0);
    check_close(NDArray(sigmoid(a)), s, 1e-14, 0);
    check_close(NDArray(tanh(a / 20.0)), t, 1e-14, 1e-300);
    check_close(NDArray(log(abs(a) + 1e-3)), l, 1e-14, 0);
  }
  std::vector<double> edge = {-745.0, -700, 709.7, 710, 0, INFINITY, -INFINITY, 1e-310, 5e-324};
  NDArray b = nd::array(edge, ctx, DType::float64);
  std::vector<double> we(edge.size()), wl(edge.size());
  for (size_t i = 0; i < edge.size(); ++i) { we[i] = std::exp(edge[i]); wl[i] = std::log(edge[i] < 0 ? -edge[i] : edge[i]); }
  check_close(NDArray(exp(b)), we, 1e-13, 1e-323);
  check_close(NDArray(log(abs(b))), wl, 1e-13, 0);
}

MIXT_DEVICE_TEST("expr dtypes: integer arithmetic, comparisons and division by zero") {
  auto ctx = Device::ctx();
  for (DType t : {DType::int32, DType::int64, DType::int8, DType::uint8}) {
    CAPTURE(dtype_name(t));
    NDArray a = nd::array<double>({7, 9, 100, 3, 0, 12}, ctx, t), b = nd::array<double>({2, 3, 7, 0, 5, 12}, ctx, t);
    check_close(NDArray(a / b), {3, 3, 14, 0, 0, 1});  // integer division truncates; x / 0 gives 0
    check_close(NDArray(a + b * 2), {11, 15, 114, 3, 10, 36});
    check_close(NDArray(a > b), {1, 1, 1, 1, 0, 0});
    check_close(NDArray(maximum(a, b)), {7, 9, 100, 3, 5, 12});
  }
  NDArray i = nd::array<double>({-7, 9}, ctx, DType::int32);
  check_close(NDArray(i / 2), {-3, 4});
  check_close(NDArray(abs(i)), {7, 9});
  // The two divisions that trap on x86 (SIGFPE), through an expression and through /=: x / 0 gives 0, and the
  // most negative value over -1 wraps to itself, NumPy's result.
  for (DType t : {DType::int32, DType::int64, DType::int8}) {
    CAPTURE(dtype_name(t));
    const double lowest = t == DType::int32 ? -2147483648.0 : t == DType::int8 ? -128.0 : -9223372036854775808.0;
    NDArray m = nd::array<double>({lowest, 6, -6}, ctx, t), by = nd::array<double>({-1, -1, 0}, ctx, t);
    CHECK(NDArray(m / by).to_vector<double>() == std::vector<double>{lowest, -6, 0});
    m /= by;
    CHECK(m.to_vector<double>() == std::vector<double>{lowest, -6, 0});
    m /= 0;
    CHECK(m.to_vector<double>() == std::vector<double>{0, 0, 0});
  }
  // Signed overflow wraps (NumPy's result), computed without undefined behaviour: the UBSan run checks that.
  const double lo = -2147483648.0, hi = 2147483647.0;
  NDArray w = nd::array<double>({hi, lo, 65536}, ctx, DType::int32);
  CHECK(NDArray(w + 1).to_vector<double>() == std::vector<double>{lo, lo + 1, 65537});
  CHECK(NDArray(w - 1).to_vector<double>() == std::vector<double>{hi - 1, hi, 65535});
  CHECK(NDArray(w * 2).to_vector<double>() == std::vector<double>{-2, 0, 131072});
  CHECK(NDArray(-w).to_vector<double>() == std::vector<double>{lo + 1, lo, -65536});
  CHECK(NDArray(abs(w)).to_vector<double>() == std::vector<double>{hi, lo, 65536});
  CHECK(NDArray(square(w)).to_vector<double>() == std::vector<double>{1, 0, 0});
  NDArray acc = w.copy();
  acc += w;
  CHECK(acc.to_vector<double>() == std::vector<double>{-2, 0, 131072});
  NDArray total = nd::sum(w), product = nd::prod(nd::array<double>({65536, 65536, 3}, ctx, DType::int32));
  CHECK(total.item<double>() == 65535.0);  // hi + lo + 65536, wrapping on the way
  CHECK(product.item<double>() == 0.0);
  // An integer mean divides the (wrapped) sum by the count in int64: the count as the dtype wrapped too, 256 to 0
  // in uint8 (SIGFPE) and 128 to -128 in int8 (a flipped sign).
  const NDArray u8_mean = nd::mean(nd::ones(Shape{256}, ctx, DType::uint8));  // the uint8 sum 256 wraps to 0
  CHECK(u8_mean.item<double>() == 0.0);
  const NDArray i8_mean = nd::mean(nd::full(Shape{128}, -1, ctx, DType::int8));
  CHECK(i8_mean.item<double>() == -1.0);
  const NDArray i8_rows = nd::mean(nd::ones(Shape{3, 256}, ctx, DType::int8), 1);
  CHECK(i8_rows.to_vector<double>() == std::vector<double>{0, 0, 0});
  const NDArray i32_cols = nd::mean(nd::full(Shape{300, 2}, 2, ctx, DType::int32), 0);
  CHECK(i32_cols.to_vector<double>() == std::vector<double>{2, 2});
  // An integer norm whose sum of squares wrapped negative has a NaN root: it saturates to 0 (was undefined).
  const NDArray wrapped_norm = nd::norm(nd::array<double>({50000, 0}, ctx, DType::int32));
  CHECK(wrapped_norm.item<double>() == 0.0);
  const NDArray exact_norm = nd::norm(nd::array<double>({3, 4}, ctx, DType::int32));
  CHECK(exact_norm.item<double>() == 5.0);
  // Scalars and math results outside an integer dtype's range saturate (NaN gives 0) instead of converting with
  // undefined behaviour: clip(int32, -1e10, 1e10) used to give INT_MIN everywhere.
  NDArray small = nd::array<double>({7, -7, 0, 100}, ctx, DType::int32);
  CHECK(NDArray(clip(small, -1e10, 1e10)).to_vector<double>() == std::vector<double>{7, -7, 0, 100});
  NDArray bytes = nd::array<double>({7, 250, 0, 5}, ctx, DType::uint8);
  CHECK(NDArray(clip(bytes, -3, 6)).to_vector<double>() == std::vector<double>{6, 6, 0, 5});  // NumPy's result
  CHECK(NDArray(sqrt(small)).to_vector<double>() == std::vector<double>{2, 0, 0, 10});       // sqrt(-7) is NaN: 0
  // rsqrt and softrelu of integers compute in double: rsqrt divided in integers (1 / 0 at 0), and softrelu
  // saturated e^x to int8 / uint8 before the log.
  NDArray r = nd::array<double>({1, 2, 3, 4, 100, 0, -4}, ctx, DType::int32);
  CHECK(NDArray(rsqrt(r)).to_vector<double>() == std::vector<double>{1, 0, 0, 0, 0, hi, 0});
  for (DType t : {DType::int8, DType::uint8, DType::int32}) {
    CAPTURE(dtype_name(t));
    NDArray x = nd::array<double>({0, 4, 5, 6, 10, 20, 21}, ctx, t);
    CHECK(NDArray(softrelu(x)).to_vector<double>() == std::vector<double>{0, 4, 5, 6, 10, 20, 21});
  }
}

MIXT_DEVICE_TEST("expr dtypes: integer pow is exact and wraps as repeated * does") {
  auto ctx = Device::ctx();
  // Bases and exponents with wrapping results (3^39 needs all 64 bits; 2^31 is int32's INT_MIN), 0^0, and
  // negative exponents, whose truncated 1 / a^-b is 0 unless a is 1 or -1.
  const std::vector<int64_t> bases = {3, 2, -2, 7, -128, 0, 1, -1, 5, -1, 1, 0, 2, 255, 10, -3, 12, 6, 0, 4};
  const std::vector<int64_t> exps = {39, 31, 7, 100, 2, 0, 9, 3, 1, -3, -5, -1, -2, 2, 18, 5, 11, 0, 3, 63};
  for (DType t : {DType::int64, DType::int32, DType::int8, DType::uint8}) {
    CAPTURE(dtype_name(t));
    const bool is_unsigned = t == DType::uint8;
    // The reference: b multiplications in uint64 (modular), then the low bits as the dtype's values.
    auto as_dtype = [&](uint64_t v) -> int64_t {
      if (t == DType::int64) return int64_t(v);
      if (t == DType::int32) return int32_t(uint32_t(v));
      if (t == DType::int8) return int8_t(uint8_t(v));
      return uint8_t(v);
    };
    std::vector<double> a, b;
    std::vector<int64_t> want;
    for (int rep = 0; rep < 2; ++rep)  // 40 elements: packets and a scalar tail
      for (size_t i = 0; i < bases.size(); ++i) {
        const int64_t base = as_dtype(uint64_t(bases[i])), e = exps[i];
        if (is_unsigned && e < 0) continue;
        int64_t r;
        if (e < 0) r = base == 1 ? 1 : base == -1 ? (e % 2 ? -1 : 1) : 0;
        else {
          uint64_t p = 1;
          for (int64_t k = 0; k < e; ++k) p *= uint64_t(base);
          r = as_dtype(p);
        }
        a.push_back(double(base)), b.push_back(double(e)), want.push_back(r);
      }
    NDArray x = nd::array(a, ctx, t), y = nd::array(b, ctx, t);
    CHECK(NDArray(pow(x, y)).to_vector<int64_t>() == want);
    NDArray short_x = x.slice(0, 3), short_y = y.slice(0, 3);  // the scalar path only
    CHECK(NDArray(pow(short_x, short_y)).to_vector<int64_t>() == std::vector<int64_t>(want.begin(), want.begin() + 3));
  }
  // pow(x, 2) and x * x agree where they wrap (pow went through double and saturated to INT_MAX).
  NDArray m = nd::array<double>({-2147483648.0, 65536, 46341}, ctx, DType::int32);
  CHECK(NDArray(pow(m, 2)).to_vector<int64_t>() == NDArray(m * m).to_vector<int64_t>());
}

MIXT_DEVICE_TEST("expr dtypes: softrelu in float64 is log(1 + e^x) to double precision past 20") {
  auto ctx = Device::ctx();
  std::vector<double> x = {-30, -1, 0, 1, 19.5, 20.5, 25, 33, 36, 41, 700, 1e300};
  for (size_t n : {x.size(), size_t(1031)}) {  // the scalar path, and packets
    std::vector<double> v(n), want(n);
    for (size_t i = 0; i < n; ++i) {
      v[i] = x[i % x.size()];
      want[i] = v[i] > 50 ? v[i] : std::log1p(std::exp(v[i]));  // 20.5 gives 20.500000001250154, not 20.5
    }
    check_close(NDArray(softrelu(nd::array(v, Shape{int64_t(n)}, ctx, DType::float64))), want, 1e-15, 0);
  }
  // A scalar -0.0 keeps its sign in float64 packets too (1 / -0.0 gave +inf there).
  for (double v : NDArray(nd::ones(Shape{10}, ctx, DType::float64) / -0.0).to_vector<double>()) CHECK(v == -INFINITY);
}

MIXT_DEVICE_TEST("expr dtypes: float16 and bfloat16 compute in float and round once") {
  auto ctx = Device::ctx();
  auto x = random_values(1029, -4, 4, 9);
  for (DType t : {DType::float16, DType::bfloat16}) {
    CAPTURE(dtype_name(t));
    NDArray a = nd::array(x, Shape{1029}, ctx, t);
    std::vector<double> stored = a.to_vector<double>(), want(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      float v = float(stored[i]) * 2.f + std::exp(float(stored[i]));
      want[i] = t == DType::float16 ? double(float(half_t(v))) : double(float(bfloat16_t(v)));
    }
    check_close(NDArray(a * 2 + exp(a)), want, 1e-6, 0);  // exactly one rounding of the float result (±1 float ulp)
  }
  // A scalar is rounded to the array's dtype first, as in MXNet and NumPy: 2^-11 + 2^-22 is float16's tie
  // between 2^-11 and its successor, so it becomes 2^-11, and 1 + 2^-11 is a tie again, to the even 1. Rounded to
  // float only, the scalar made the sum 1 + 2^-11 + 2^-22, above the tie: 1 + 2^-10. Packets and tail alike.
  for (DType t : {DType::float16, DType::bfloat16}) {
    CAPTURE(dtype_name(t));
    const double s = t == DType::float16 ? std::ldexp(1.0, -11) + std::ldexp(1.0, -22)    // float16: 11 bits
                                         : std::ldexp(1.0, -8) + std::ldexp(1.0, -16);    // bfloat16: 8 bits
    NDArray h = nd::ones(Shape{37}, ctx, t);
    CHECK(NDArray(h + s).to_vector<double>() == std::vector<double>(37, 1.0));
  }
}

MIXT_DEVICE_TEST("expr dtypes: every dtype at offsets that allow or break 16-byte access (the GPU's wide loads)") {
  // The CUDA kernel reads 16 bytes of every leaf at once when the leaves and the output are aligned for it
  // (expr/wide.hpp): views at offsets of 0, 1 and 16 bytes' worth of elements take both paths, and sizes that
  // are not a multiple of the width leave a tail.
  auto ctx = Device::ctx();
  for (DType t : {DType::float32, DType::float64, DType::float16, DType::bfloat16, DType::uint8, DType::int8,
                  DType::int32, DType::int64}) {
    const int64_t width = 16 / int64_t(dtype_size(t));
    for (int64_t n : {int64_t(1), int64_t(19), int64_t(1029)}) {
      for (int64_t in_offset : {int64_t(0), int64_t(1), width}) {
        for (int64_t out_offset : {int64_t(0), int64_t(1)}) {
          CAPTURE(dtype_name(t));
          CAPTURE(n);
          CAPTURE(in_offset);
          CAPTURE(out_offset);
          std::vector<double> av(size_t(n + in_offset)), bv(av.size());
          for (size_t i = 0; i < av.size(); ++i) {  // small integers: exact in every dtype
            av[i] = double(i % 5);
            bv[i] = double((i * 7) % 3);
          }
          NDArray a = nd::array(av, Shape{n + in_offset}, ctx, t).slice(in_offset, in_offset + n);
          NDArray b = nd::array(bv, Shape{n + in_offset}, ctx, t).slice(in_offset, in_offset + n);
          NDArray storage = nd::full(Shape{n + 2}, 9.0, ctx, t);
          NDArray out = storage.slice(out_offset, out_offset + n);
          out.assign(a * 2 + b);
          out += a;
          std::vector<double> want(size_t(n + 2), 9.0);
          for (int64_t i = 0; i < n; ++i)
            want[size_t(out_offset + i)] = av[size_t(in_offset + i)] * 3 + bv[size_t(in_offset + i)];
          check_close(storage, want, 0, 0);
        }
      }
    }
  }
}

TEST_CASE("expr dtypes: float64 outputs written with streaming stores match a double loop at every alignment") {
  testing::StreamEveryOutput stream;
  const int64_t n = 1027;
  auto x = random_values(size_t(n), -3, 3, 21);
  NDArray a = nd::array(x, Shape{n}, cpu(), DType::float64);
  std::vector<double> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * x[i] - 1 / (1 + std::exp(-x[i]));
  for (int64_t offset : {0, 1, 3, 4, 7, 8, 9}) {
    CAPTURE(offset);
    NDArray storage = nd::zeros(Shape{n + 10}, cpu(), DType::float64);
    NDArray out = storage.slice(offset, offset + n);
    out.assign(a * a - sigmoid(a));
    check_close(out, want, 1e-14, 0);
  }
}
