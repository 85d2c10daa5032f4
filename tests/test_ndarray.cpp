// NDArray API: creation, host access, copies and conversions between all dtypes, handle semantics, views,
// slice_axis / broadcast_to / transpose against plain loops, printing, random arrays, and the errors.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <sstream>

#include "testing.hpp"

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::expect_error;

namespace {

const DType kAllDtypes[] = {DType::float32, DType::float64, DType::float16, DType::bfloat16,
                            DType::uint8,   DType::int8,    DType::int32,   DType::int64};

std::vector<double> iota(int64_t n, double start = 0) {
  std::vector<double> v{};
  v.resize(size_t(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

/// Row-major flat index of a multi-index.
int64_t flat(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t o = 0;
  for (int d = 0; d < s.ndim(); ++d) o = o * s[d] + idx[size_t(d)];
  return o;
}

/// Calls f(multi-index) for every element of shape s in row-major order.
template <class F>
void for_each_index(const Shape& s, F f) {
  std::vector<int64_t> idx(size_t(s.ndim()), 0);
  for (int64_t i = 0; i < s.size(); ++i) {
    int64_t r = i;
    for (int d = s.ndim() - 1; d >= 0; --d) { idx[size_t(d)] = r % s[d]; r /= s[d]; }
    f(idx);
  }
}

bool is_integer_dtype(DType t) { return !is_floating(t); }
double dtype_min(DType t) {
  switch (t) {
    case DType::uint8: return 0;
    case DType::int8: return -128;
    case DType::int32: return -2147483648.0;
    case DType::int64: return -9.2e18;
    default: return -1e30;
  }
}
double dtype_max(DType t) {
  switch (t) {
    case DType::uint8: return 255;
    case DType::int8: return 127;
    case DType::int32: return 2147483647.0;
    case DType::int64: return 9.2e18;
    default: return 1e30;
  }
}

template <class Fn>
std::string error_of(Fn f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

// --- creation ----------------------------------------------------------------------------------------------------

MIXT_DEVICE_TEST("ndarray: zeros, ones, full, array and arange hold the values asked for") {
  const Context ctx = Device::ctx();
  NDArray z = nd::zeros({2, 3}, ctx), o = nd::ones({4}, ctx, DType::int32), f = nd::full({2, 2}, -2.5, ctx, DType::float64);
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.ctx() == ctx);
  CHECK(o.dtype() == DType::int32);
  CHECK(z.to_vector<double>() == std::vector<double>(6, 0.0));
  CHECK(o.to_vector<int>() == std::vector<int>(4, 1));
  CHECK(f.to_vector<double>() == std::vector<double>(4, -2.5));
  CHECK(nd::empty({5, 0}, ctx).size() == 0);
  CHECK(nd::array({1.5, 2.0, 3.25}, Shape{3, 1}, ctx).to_vector<double>() == std::vector<double>{1.5, 2.0, 3.25});

  // full in every dtype stores the value rounded to that dtype (published values of 0.1 in binary16, bfloat16 and
  // binary32; integers truncate), across more elements than one thread's share.
  const std::pair<DType, double> rounded[] = {
      {DType::float32, double(0.1f)}, {DType::float64, 0.1}, {DType::float16, 0.0999755859375},
      {DType::bfloat16, 0.10009765625}, {DType::uint8, 0}, {DType::int8, 0}, {DType::int32, 0}, {DType::int64, 0}};
  for (auto [t, want] : rounded) {
    CAPTURE(dtype_name(t));
    const NDArray tenth = nd::full({70001}, 0.1, ctx, t), small = nd::full({3}, 7.75, ctx, t);
    CHECK(tenth.to_vector<double>() == std::vector<double>(70001, want));
    const bool integral = t == DType::uint8 || t == DType::int8 || t == DType::int32 || t == DType::int64;
    CHECK(small.to_vector<double>() == std::vector<double>(3, integral ? 7.0 : 7.75));
  }

  // Filling a view (assign of a scalar) at every element offset and length around the 8-byte words the CPU fill
  // stores: the view gets the value, the elements around it keep theirs.
  for (DType t : kAllDtypes) {
    CAPTURE(dtype_name(t));
    for (int64_t begin = 0; begin < 9; ++begin)
      for (int64_t len : {int64_t(0), int64_t(1), int64_t(3), int64_t(8), int64_t(17), int64_t(40)}) {
        CAPTURE(begin);
        CAPTURE(len);
        NDArray base = nd::full({60}, 2, ctx, t);
        base.slice(begin, begin + len).assign(5);
        std::vector<double> want(60, 2.0);
        for (int64_t i = begin; i < begin + len; ++i) want[size_t(i)] = 5;
        CHECK(base.to_vector<double>() == want);
      }
  }

  // arange against the formula start + floor(i / repeat) * step.
  struct Case { double start, stop, step; int64_t repeat; DType dtype; };
  for (const Case& c : {Case{0, 5, 1, 1, float32}, Case{2, 3, 0.25, 1, float32}, Case{10, 1, -3, 1, float64},
                        Case{0, 3, 1, 3, int32}, Case{-1, 2, 0.5, 2, float64}, Case{0, 7, 2, 1, int64},
                        Case{0, 2.5, 0.5, 1, int8}, Case{0, 6, 1.5, 1, float16}}) {
    CAPTURE(c.start); CAPTURE(c.stop); CAPTURE(c.step); CAPTURE(c.repeat);
    NDArray a = nd::arange(c.start, c.stop, c.step, c.repeat, ctx, c.dtype);
    std::vector<double> want;
    for (double x = c.start; c.step > 0 ? x < c.stop : x > c.stop; x += c.step)
      for (int64_t r = 0; r < c.repeat; ++r) want.push_back(is_floating(c.dtype) ? x : std::trunc(x));
    CHECK(a.dtype() == c.dtype);
    CHECK(a.shape() == Shape{int64_t(want.size())});
    CHECK(a.to_vector<double>() == want);
  }
  CHECK(nd::arange(4, ctx).to_vector<double>() == std::vector<double>{0, 1, 2, 3});
  CHECK(nd::arange(5, 1, 1, 1, ctx).size() == 0);  // empty, as in NumPy
  CHECK(nd::arange(0, 100000, 1, 1, ctx, DType::int32).to_vector<double>() == iota(100000));
  CHECK_THROWS_AS(nd::arange(0, 1, 0), Error);
  CHECK_THROWS_AS(nd::arange(0, 1, 1, 0), Error);
  // 2^64 - 8 bytes: the pool's rounding wrapped to a 0-byte block, and the first write crashed.
  CHECK_THROWS_AS(NDArray(Shape{(int64_t(1) << 61) - 1}, ctx, DType::float64), Error);
  CHECK_THROWS_AS(nd::zeros(Shape{(int64_t(1) << 62) - 1}, ctx), Error);
}

// --- host access, copies, conversions ----------------------------------------------------------------------------

MIXT_DEVICE_TEST("ndarray: to_vector, item, copy, copyto, as_in_context") {
  const Context ctx = Device::ctx();
  NDArray a = nd::array({1.0, -2.0, 3.5, 4.0}, Shape{2, 2}, ctx);
  CHECK(a.to_vector<float>() == std::vector<float>{1, -2, 3.5f, 4});
  CHECK(a.to_vector<int>() == std::vector<int>{1, -2, 3, 4});  // truncation toward zero
  CHECK(a.at(1).at(0).item<double>() == 3.5);
  CHECK_THROWS_AS(a.item<double>(), Error);
  CHECK(NDArray().to_vector<double>().empty());

  NDArray c = a.copy();
  CHECK(c.chunk() != a.chunk());
  CHECK(c.to_vector<double>() == a.to_vector<double>());
  NDArray d = nd::zeros({2, 2}, ctx, DType::float64);
  a.copyto(d);
  CHECK(d.dtype() == DType::float64);
  CHECK(d.to_vector<double>() == a.to_vector<double>());
  NDArray e = nd::zeros({4}, ctx);
  CHECK_THROWS_AS(a.copyto(e), Error);  // shapes differ

  NDArray h = a.copyto(cpu());
  CHECK(h.ctx() == cpu());
  CHECK(h.to_vector<double>() == a.to_vector<double>());
  NDArray same = a.as_in_context(ctx);
  CHECK(same.chunk() == a.chunk());  // the same storage: no copy
  NDArray back = h.as_in_context(ctx);
  CHECK(back.ctx() == ctx);
  CHECK(back.to_vector<double>() == a.to_vector<double>());
  if (ctx.is_gpu()) CHECK(back.chunk() != h.chunk());
}

MIXT_DEVICE_TEST("ndarray: copies between overlapping views, onto themselves, and from arrays with no storage") {
  auto ctx = Device::ctx();
  auto iota = [&] { return nd::arange(0, 6, 1, 1, ctx); };
  NDArray a = iota(), down = a.slice(0, 3);
  a.slice(1, 4).copyto(down);  // overlapping: memcpy's undefined case
  CHECK(a.to_vector<double>() == std::vector<double>{1, 2, 3, 3, 4, 5});
  NDArray b = iota(), up = b.slice(1, 4);
  b.slice(0, 3).copyto(up);
  CHECK(b.to_vector<double>() == std::vector<double>{0, 0, 1, 2, 4, 5});
  NDArray c = iota(), longer = c.slice(0, 3), as_matrix = c.reshape({3, 2});
  CHECK_THROWS_AS(c.slice(0, 2).copyto(longer), Error);  // same first element, other shape: still checked
  CHECK_THROWS_AS(c.copyto(as_matrix), Error);
  c.copyto(c);  // onto itself: a no-op
  CHECK(c.to_vector<double>() == std::vector<double>{0, 1, 2, 3, 4, 5});
  NDArray none, scalar = nd::zeros(Shape{}, ctx);  // a default-constructed array: these used to dereference null
  CHECK_THROWS_AS(none.item<float>(), Error);
  CHECK_THROWS_AS(none.astype(DType::int32), Error);
  CHECK_THROWS_AS(none.copyto(ctx), Error);
  CHECK_THROWS_AS(none.copyto(scalar), Error);
  CHECK_THROWS_AS(scalar.copyto(none), Error);
}

MIXT_DEVICE_TEST("ndarray: astype between every pair of the 8 dtypes matches a double reference") {
  const Context ctx = Device::ctx();
  // Values exact in every floating dtype (bfloat16 keeps 8 significant bits), some integral, some not.
  const std::vector<double> candidates = {0, 1, 7, -1, 1.5, -2.75, 100.5, 126.5, 127, -128, 200, -100.5, 65};
  for (DType src : kAllDtypes) {
    for (DType dst : kAllDtypes) {
      CAPTURE(dtype_name(src));
      CAPTURE(dtype_name(dst));
      std::vector<double> x, want;
      for (double v : candidates) {
        if (is_integer_dtype(src) && (v != std::trunc(v) || v < dtype_min(src) || v > dtype_max(src))) continue;
        const double t = is_integer_dtype(dst) ? std::trunc(v) : v;  // float -> int truncates toward zero
        if (t < dtype_min(dst) || t > dtype_max(dst)) continue;       // out of range: checked below
        x.push_back(v);
        want.push_back(t);
      }
      REQUIRE(x.size() >= 5);
      NDArray a = nd::array(x, ctx, src);
      NDArray b = a.astype(dst);
      CHECK(b.dtype() == dst);
      CHECK(b.ctx() == ctx);
      CHECK(b.chunk() != a.chunk());  // a copy even for the same dtype, as in MXNet
      CHECK(b.to_vector<double>() == want);
    }
  }
  // Rounding to the nearest representable value: 0.1 in DType::float32, float16 and bfloat16.
  NDArray p = nd::array({0.1}, ctx, DType::float64);
  CHECK(p.astype(DType::float32).item<double>() == double(0.1f));
  CHECK(p.astype(DType::float16).item<double>() == 0.0999755859375);  // 1638 * 2^-14
  CHECK(p.astype(DType::bfloat16).item<double>() == 0.10009765625);   // 205 * 2^-11
  // Out of range and NaN saturate (NaN gives 0), where C++'s conversion is undefined (x86 gave INT_MIN).
  NDArray wild = nd::array(std::vector<double>{NAN, 1e10, -1e10, 300, -5, INFINITY, 2.75}, ctx, DType::float32);
  CHECK(wild.astype(DType::int32).to_vector<double>() ==
        std::vector<double>{0, 2147483647.0, -2147483648.0, 300, -5, 2147483647.0, 2});
  CHECK(wild.astype(DType::uint8).to_vector<double>() == std::vector<double>{0, 255, 0, 255, 0, 255, 2});
  CHECK(wild.astype(DType::int8).to_vector<double>() == std::vector<double>{0, 127, -128, 127, -5, 127, 2});
  CHECK(wild.astype(DType::int64).to_vector<int64_t>()[1] == 10000000000);
  CHECK(nd::array({1e30}, ctx, DType::float64).astype(DType::int64).to_vector<int64_t>()[0] == INT64_MAX);
  // The ends themselves: 2^63 is one past INT64_MAX, -2^63 is INT64_MIN.
  CHECK(nd::array({0x1p63, -0x1p63, 1e19}, ctx, DType::float64).astype(DType::int64).to_vector<int64_t>() ==
        std::vector<int64_t>{INT64_MAX, INT64_MIN, INT64_MAX});
  CHECK(wild.to_vector<int>() == std::vector<int>{0, INT_MAX, INT_MIN, 300, -5, INT_MAX, 2});
  CHECK(nd::full(Shape{2}, 1e10, ctx, DType::int32).to_vector<double>() == std::vector<double>{INT_MAX, INT_MAX});
  // nd::array converts its values by the same rule (doubles into int32 were undefined).
  const std::vector<double> wild_values = {NAN, 1e10, -1e10, 300, -5, INFINITY, 2.75};
  CHECK(nd::array(wild_values, ctx, DType::int8).to_vector<double>() ==
        std::vector<double>{0, 127, -128, 127, -5, 127, 2});
  // Integer to integer keeps the low bits, exactly, as NumPy's, MXNet's and PyTorch's astype do: through double,
  // 2^62 + 1 lost its 1, and saturating gave uint8 255 for 300.
  CHECK(nd::array(std::vector<int64_t>{INT64_MAX, -300, 200, -5}, ctx, DType::int8).to_vector<double>() ==
        std::vector<double>{-1, -44, -56, -5});
  CHECK(nd::array(std::vector<int>{-1, 256, 7}, ctx, DType::uint8).to_vector<double>() ==
        std::vector<double>{255, 0, 7});
  CHECK(nd::array(std::vector<uint8_t>{255, 0}, ctx, DType::int8).to_vector<double>() == std::vector<double>{-1, 0});
  CHECK(nd::array(std::vector<int64_t>{INT64_MIN, INT64_MAX}, ctx, DType::int64).to_vector<int64_t>() ==
        std::vector<int64_t>{INT64_MIN, INT64_MAX});
  NDArray i32 = nd::array(std::vector<int>{300, -1, 128, INT_MIN}, ctx, DType::int32);
  CHECK(i32.astype(DType::uint8).to_vector<int>() == std::vector<int>{44, 255, 128, 0});
  CHECK(i32.astype(DType::int8).to_vector<int>() == std::vector<int>{44, -1, -128, 0});
  CHECK(i32.to_vector<uint8_t>() == std::vector<uint8_t>{44, 255, 128, 0});
  NDArray i64 = nd::array(std::vector<int64_t>{(int64_t(1) << 62) + 1, (int64_t(1) << 53) + 1, -(int64_t(1) << 40) - 3},
                          ctx, DType::int64);
  CHECK(i64.astype(DType::int32).to_vector<int64_t>() == std::vector<int64_t>{1, 1, -3});
  CHECK(i64.to_vector<int32_t>() == std::vector<int32_t>{1, 1, -3});
  CHECK(i64.astype(DType::int32).astype(DType::int64).astype(DType::uint8).to_vector<int>() ==
        std::vector<int>{1, 1, 253});
  CHECK(nd::array(std::vector<uint8_t>{200, 127}, ctx, DType::uint8).astype(DType::int8).to_vector<int>() ==
        std::vector<int>{-56, 127});
  // float64 into float16 and bfloat16 rounds once (through float32 it gave 1 and 60736, bfloat16 1).
  NDArray d = nd::array(std::vector<double>{1.0 + 1.0 / 2048 + 1e-12, 60719.9988958913, 1.0 + 1.0 / 256 + 1e-12}, ctx,
                        DType::float64);
  const std::vector<double> h = d.astype(DType::float16).to_vector<double>();
  const std::vector<double> bf = d.astype(DType::bfloat16).to_vector<double>();
  CHECK(h[0] == 1.0 + 1.0 / 1024);
  CHECK(h[1] == 60704.0);
  CHECK(bf[2] == 1.0 + 1.0 / 128);
  CHECK(nd::array(std::vector<double>{1.0 + 1.0 / 2048 + 1e-12}, ctx, DType::float16).item<double>() ==
        1.0 + 1.0 / 1024);
  // A large conversion runs in chunks over threads.
  std::vector<double> big = iota(100003, -50000);
  check_close(nd::array(big, ctx, DType::int32).astype(DType::float32).astype(DType::float64), big, 0, 0);
}

// --- handles, versions, views ------------------------------------------------------------------------------------

MIXT_DEVICE_TEST("ndarray: copying a handle shares storage; copy() does not; writes bump version()") {
  const Context ctx = Device::ctx();
  NDArray a = nd::zeros({3}, ctx);
  NDArray b = a;
  NDArray c = a.copy();
  b.assign(5.0);
  CHECK(a.to_vector<double>() == std::vector<double>{5, 5, 5});
  CHECK(c.to_vector<double>() == std::vector<double>{0, 0, 0});
  CHECK(b.chunk() == a.chunk());

  const uint64_t v0 = a.version();
  a += 1.0f;
  a.wait_to_read();
  CHECK(a.version() == v0 + 1);
  a.assign(2.0);
  a.wait_to_read();
  CHECK(a.version() == v0 + 2);
  CHECK(b.version() == a.version());  // one storage, one version
  (void)a.to_vector<double>();
  CHECK(a.version() == v0 + 2);  // reads do not count
}

MIXT_DEVICE_TEST("ndarray: reshape is a view with MXNet's codes") {
  const Context ctx = Device::ctx();
  NDArray a = nd::arange(24, ctx).reshape({2, 3, 4});
  CHECK(a.shape() == Shape{2, 3, 4});
  CHECK(a.reshape({-1}).shape() == Shape{24});
  CHECK(a.reshape({0, -1}).shape() == Shape{2, 12});
  CHECK(a.reshape({-3, 0}).shape() == Shape{6, 4});
  CHECK(a.reshape({-2, 1}).shape() == Shape{2, 3, 4, 1});
  CHECK(a.reshape({-4, 1, -1, 0, 0}).shape() == Shape{1, 2, 3, 4});
  CHECK(nd::reshape(a, {4, -1}).shape() == Shape{4, 6});
  NDArray v = a.reshape({6, 4});
  CHECK(v.chunk() == a.chunk());
  v.at(5).assign(-1.0);  // write through the view, read the base
  std::vector<double> want = iota(24);
  for (int i = 20; i < 24; ++i) want[size_t(i)] = -1;
  CHECK(a.to_vector<double>() == want);
  std::string msg = error_of([&] { a.reshape({5, -1}); });
  CHECK(msg.find("reshape") != std::string::npos);
  CHECK(msg.find("(2, 3, 4)") != std::string::npos);
  CHECK_THROWS_AS(a.reshape({-1, -1}), Error);
  CHECK_THROWS_AS(a.reshape({7}), Error);
  // reverse reads the codes right to left but keeps a -4 split's two values in their order.
  NDArray m = nd::arange(24, ctx).reshape({4, 6});
  CHECK(m.reshape({0, -4, 2, 3}, true).shape() == Shape{4, 2, 3});
  CHECK(m.reshape({-4, 2, -1, 0}, true).shape() == Shape{2, 2, 6});
  // -1 beside a zero extent has no single answer: an error, not a division by zero.
  CHECK(error_of([&] { nd::zeros({0, 3}, ctx).reshape({0, -1}); }).find("reshape") != std::string::npos);
}

MIXT_DEVICE_TEST("ndarray: slice, at, expand_dims, squeeze and flatten are views at the right offsets") {
  const Context ctx = Device::ctx();
  NDArray a = nd::arange(12, ctx).reshape({4, 3});
  CHECK(a.slice(1, 3).to_vector<double>() == std::vector<double>{3, 4, 5, 6, 7, 8});
  CHECK(a.slice(-2, -1).to_vector<double>() == std::vector<double>{6, 7, 8});
  CHECK(a.slice(2, 2).size() == 0);
  CHECK(a.at(-1).to_vector<double>() == std::vector<double>{9, 10, 11});
  CHECK(a.at(1).byte_offset() == 3 * sizeof(float));
  CHECK(a.slice(1, 3).at(1).at(2).item<double>() == 8);
  CHECK(a.slice(1, 3).at(1).byte_offset() == 6 * sizeof(float));
  // A view starts on an element: 2 bytes into a float would be misaligned for a GPU kernel, cuBLAS or cuDNN.
  CHECK(a.view(Shape{3}, 8).to_vector<double>() == std::vector<double>{2, 3, 4});
  expect_error([&] { a.view(Shape{3}, 2); }, {"view", "byte_offset", "multiple of 4", "float32", "2"});
  a.slice(1, 2).assign(0.0);
  CHECK(a.at(1).to_vector<double>() == std::vector<double>{0, 0, 0});
  CHECK_THROWS_AS(a.slice(3, 5), Error);
  CHECK_THROWS_AS(a.slice(3, 1), Error);
  CHECK_THROWS_AS(a.at(4), Error);
  CHECK_THROWS_AS(a.at(-5), Error);
  CHECK(a.at(-4).to_vector<double>() == std::vector<double>{0, 1, 2});  // -n is the first row

  CHECK(a.expand_dims(0).shape() == Shape{1, 4, 3});
  CHECK(a.expand_dims(-1).shape() == Shape{4, 3, 1});
  CHECK(nd::expand_dims(a, 1).shape() == Shape{4, 1, 3});
  CHECK(a.expand_dims(1).chunk() == a.chunk());
  CHECK_THROWS_AS(a.expand_dims(3), Error);
  NDArray s = nd::zeros({1, 3, 1, 2}, ctx);
  CHECK(s.squeeze().shape() == Shape{3, 2});
  CHECK(s.squeeze({2}).shape() == Shape{1, 3, 2});
  CHECK(nd::squeeze(s, {0, -2}).shape() == Shape{3, 2});
  CHECK(nd::squeeze(s, 0).shape() == Shape{3, 1, 2});  // one axis as an int, as MXNet's squeeze(x, axis=0)
  CHECK(s.squeeze(-2).shape() == Shape{1, 3, 2});
  CHECK(s.squeeze({}).shape() == Shape{3, 2});  // still every axis of extent 1
  CHECK_THROWS_AS(s.squeeze({1}), Error);
  CHECK_THROWS_AS(s.squeeze({0, -4}), Error);  // the same axis twice (NumPy: repeated axis)
  CHECK(nd::flatten(nd::zeros({2, 3, 4}, ctx)).shape() == Shape{2, 12});
  CHECK(nd::flatten(nd::zeros({5}, ctx)).shape() == Shape{5, 1});
  NDArray fl = nd::flatten(a.slice(1, 3));
  CHECK(fl.chunk() == a.chunk());
  CHECK(fl.to_vector<double>() == a.slice(1, 3).to_vector<double>());
  CHECK_THROWS_AS(nd::flatten(nd::zeros({}, ctx)), Error);
  NDArray method = a.slice(1, 3).flatten();  // MXNet's NDArray.flatten(), the same view
  CHECK(method.chunk() == a.chunk());
  CHECK(method.byte_offset() == fl.byte_offset());
  CHECK(nd::zeros({0, 3, 2}, ctx).flatten().shape() == Shape{0, 6});
  expect_error([&] { nd::zeros({}, ctx).flatten(); }, {"flatten", "at least 1 dimension", "()"});
}

MIXT_DEVICE_TEST("ndarray: slice_axis on every axis of a 3-D array matches a loop") {
  const Context ctx = Device::ctx();
  const Shape s{4, 5, 6};
  for (DType t : {DType::float32, DType::float64, DType::int32, DType::uint8, DType::float16}) {
    NDArray a = nd::arange(0, 120, 1, 1, ctx, t).reshape({4, 5, 6});
    struct Case { int axis; int64_t begin; std::optional<int64_t> end; int64_t b, e; };
    for (const Case& c : {Case{0, 1, 3, 1, 3}, Case{1, 2, std::nullopt, 2, 5}, Case{2, -4, -1, 2, 5},
                          Case{-1, 0, 1, 0, 1}, Case{-2, -5, 5, 0, 5}, Case{2, 3, 3, 3, 3}, Case{0, -1, std::nullopt, 3, 4}}) {
      CAPTURE(dtype_name(t)); CAPTURE(c.axis); CAPTURE(c.begin);
      NDArray r = nd::slice_axis(a, c.axis, c.begin, c.end);
      const int ax = c.axis < 0 ? c.axis + 3 : c.axis;
      Shape want_shape = s;
      want_shape[ax] = c.e - c.b;
      CHECK(r.shape() == want_shape);
      CHECK(r.dtype() == t);
      std::vector<double> want;
      for_each_index(want_shape, [&](std::vector<int64_t> idx) {
        idx[size_t(ax)] += c.b;
        want.push_back(double(flat(idx, s)));
      });
      CHECK(r.to_vector<double>() == want);
      if (ax == 0) CHECK(r.chunk() == a.chunk());  // axis 0: a view
      else CHECK(r.chunk() != a.chunk());
    }
  }
  NDArray a = nd::zeros({4, 5, 6}, ctx);
  CHECK(a.slice_axis(1, 0, 0).shape() == Shape{4, 0, 6});  // end 0 is an index, not "to the end"
  std::string msg = error_of([&] { a.slice_axis(1, 2, 7); });
  CHECK(msg.find("slice_axis") != std::string::npos);
  CHECK(msg.find("extent 5") != std::string::npos);
  CHECK_THROWS_AS(a.slice_axis(1, 4, 2), Error);
  CHECK_THROWS_AS(a.slice_axis(1, -6, std::nullopt), Error);
  CHECK_THROWS_AS(a.slice_axis(3, 0, 1), Error);
  CHECK_THROWS_AS(nd::zeros({}, ctx).slice_axis(0, 0, 1), Error);
}

MIXT_DEVICE_TEST("ndarray: broadcast_to matches a loop and rejects incompatible shapes") {
  const Context ctx = Device::ctx();
  struct Case { Shape from, to, want; };
  for (DType t : {DType::float32, DType::int64, DType::int8}) {
    for (const Case& c : {Case{{3}, {2, 3}, {2, 3}}, Case{{3, 1}, {3, 4}, {3, 4}}, Case{{1, 4, 1}, {2, 4, 5}, {2, 4, 5}},
                          Case{{2, 1}, {0, 3}, {2, 3}}, Case{{1}, {7}, {7}}, Case{{}, {2, 2}, {2, 2}},
                          Case{{2, 3}, {2, 3}, {2, 3}}, Case{{1, 3}, {2, 0, 3}, {2, 1, 3}}, Case{{3}, {0, 3}, {0, 3}}}) {
      CAPTURE(dtype_name(t)); CAPTURE(c.from); CAPTURE(c.to);
      NDArray a = nd::arange(0, double(c.from.size()), 1, 1, ctx, t).reshape(c.from.to_vector());
      if (c.from.ndim() == 0) a = nd::full({}, 5, ctx, t);
      NDArray r = nd::broadcast_to(a, c.to);
      CHECK(r.shape() == c.want);
      std::vector<double> src = a.to_vector<double>(), want;
      for_each_index(c.want, [&](const std::vector<int64_t>& idx) {
        std::vector<int64_t> j;
        for (int d = 0; d < c.from.ndim(); ++d) {
          int od = d + c.want.ndim() - c.from.ndim();
          j.push_back(c.from[d] == 1 ? 0 : idx[size_t(od)]);
        }
        want.push_back(src[size_t(flat(j, c.from))]);
      });
      CHECK(r.to_vector<double>() == want);
    }
  }
  NDArray a = nd::zeros({2, 3}, ctx);
  std::string msg = error_of([&] { a.broadcast_to({4, 3}); });
  CHECK(msg.find("broadcast_to") != std::string::npos);
  CHECK(msg.find("(2, 3)") != std::string::npos);
  CHECK(msg.find("(4, 3)") != std::string::npos);
  CHECK_THROWS_AS(a.broadcast_to({3}), Error);        // fewer dimensions than the array
  CHECK_THROWS_AS(a.broadcast_to({2, 3, 3}), Error);  // aligned from the right: 2 vs 3
}

MIXT_DEVICE_TEST("ndarray: transpose with any axes, 2-D to 4-D, matches a loop") {
  const Context ctx = Device::ctx();
  struct Case { Shape s; std::vector<int> axes; };
  const std::vector<Case> cases = {
      {{3, 5}, {}},           {{3, 5}, {1, 0}},          {{3, 5}, {0, 1}},       {{2, 3, 4}, {}},
      {{2, 3, 4}, {1, 0, 2}}, {{2, 3, 4}, {2, 0, 1}},    {{2, 3, 4}, {0, 2, 1}}, {{2, 3, 4, 5}, {3, 1, 0, 2}},
      {{2, 3, 4, 5}, {}},     {{2, 1, 4, 5}, {0, 2, 3, 1}}, {{2, 3, 4, 5}, {-1, 0, -2, 1}}, {{67, 129}, {}}};
  for (DType t : {DType::float32, DType::float64, DType::int64, DType::bfloat16}) {
    for (const Case& c : cases) {
      CAPTURE(dtype_name(t)); CAPTURE(c.s);
      const int n = c.s.ndim();
      std::vector<int> axes = c.axes;
      if (axes.empty()) for (int d = n - 1; d >= 0; --d) axes.push_back(d);
      for (int& ax : axes) if (ax < 0) ax += n;
      NDArray a = nd::arange(0, double(c.s.size()), 1, 1, ctx, t).reshape(c.s.to_vector());
      if (t == DType::bfloat16) a = nd::arange(0, double(c.s.size()), 1, 1, ctx, DType::float32).reshape(c.s.to_vector()).astype(t);
      NDArray r = nd::transpose(a, c.axes);
      Shape want_shape;
      for (int d = 0; d < n; ++d) want_shape.push_back(c.s[axes[size_t(d)]]);
      CHECK(r.shape() == want_shape);
      CHECK(r.dtype() == t);
      std::vector<double> src = a.to_vector<double>(), want;
      for_each_index(want_shape, [&](const std::vector<int64_t>& idx) {
        std::vector<int64_t> j{};
        j.resize(size_t(n));
        for (int d = 0; d < n; ++d) j[size_t(axes[size_t(d)])] = idx[size_t(d)];
        want.push_back(src[size_t(flat(j, c.s))]);
      });
      CHECK(r.to_vector<double>() == want);
    }
  }
  // A transposed operand fuses into an expression.
  NDArray a = nd::arange(6, ctx).reshape({2, 3});
  NDArray y = expr::permuted(a) * 2.0f + 1.0f;
  check_close(y, {1, 7, 3, 9, 5, 11}, 0, 0);
  CHECK_THROWS_AS(a.transpose({0}), Error);
  CHECK_THROWS_AS(a.transpose({0, 0}), Error);
  CHECK_THROWS_AS(a.transpose({0, 2}), Error);
  CHECK(nd::zeros({}, ctx).transpose().shape() == Shape{});
}

// --- printing --------------------------------------------------------------------------------------------------

TEST_CASE("ndarray: errors of views, copies, creation and expressions name the caller's line") {
  // Their checks live in shared code (infer_reshape, normalize_axis): the error used to have no location.
  NDArray m = nd::ones({2, 3});
  auto line_of = [](auto f) -> int {
    try {
      f();
    } catch (const Error& e) {
      return int(e.where().line());
    }
    return -1;
  };
  const int here = __LINE__;
  CHECK(line_of([&] { m.slice(0, 5); }) == here + 1);
  CHECK(line_of([&] { m.reshape({4, 2}); }) == here + 2);
  CHECK(line_of([&] { m.item<float>(); }) == here + 3);
  CHECK(line_of([&] { nd::transpose(m, {0, 2}); }) == here + 4);
  CHECK(line_of([&] { m.at(-3); }) == here + 5);
  CHECK(line_of([&] { m.broadcast_to(Shape{4, 4}); }) == here + 6);
  CHECK(line_of([&] { nd::slice_axis(m, 1, 2, 1); }) == here + 7);
  CHECK(line_of([&] { nd::squeeze(m, {0}); }) == here + 8);
  CHECK(line_of([&] { nd::expand_dims(m, 4); }) == here + 9);
  NDArray other = nd::zeros({3, 2}), none;
  const int next = __LINE__;
  CHECK(line_of([&] { m.copyto(other); }) == next + 1);
  CHECK(line_of([&] { nd::array({1.0, 2.0}, Shape{3}); }) == next + 2);
  CHECK(line_of([&] { nd::arange(0, 5, 0); }) == next + 3);
  CHECK(line_of([&] { NDArray bad = m + none; }) == next + 4);
  CHECK(line_of([&] { nd::sum(none * 2); }) == next + 5);
  CHECK(line_of([&] { nd::zeros({int64_t(1) << 60, 4}); }) == next + 6);
  const int then = __LINE__;
  CHECK(line_of([&] { nd::flatten(nd::sum(m)); }) == then + 1);
  CHECK(line_of([&] { nd::random::uniform(1, 0, {3}); }) == then + 2);
  CHECK(line_of([&] { nd::random::normal(0, -1, {3}); }) == then + 3);
  CHECK(line_of([&] { nd::random::uniform(0, 1, {3}, cpu(), DType::int32); }) == then + 4);
  CHECK(line_of([&] { none.astype(DType::float16); }) == then + 5);
  CHECK(line_of([&] { m.astype("floaty"); }) == then + 6);
  CHECK(line_of([&] { m.backward(); }) == then + 7);
  CHECK(line_of([&] { autograd::grad({m}, {other}); }) == then + 8);
  CHECK(line_of([&] { autograd::backward({m}); }) == then + 9);
  expect_error([&] { m.astype("floaty"); }, {"astype", "unknown dtype name 'floaty'"});
  // The messages name the operator and the array's own shape.
  expect_error([&] { m.expand_dims(3); }, {"expand_dims", "axis 3", "shape (2, 3)", "-3 <= axis <= 2"});
  expect_error([&] { m.squeeze({1}); }, {"squeeze", "axis 1 of shape (2, 3) has extent 3"});
  expect_error([&] { NDArray bad = m + none; }, {"elemwise_add", "an operand of the expression is an empty NDArray"});
  expect_error([&] { NDArray bad = nd::exp(none); }, {"exp", "empty NDArray"});
  expect_error([&] { nd::max(none + m); }, {"max", "empty NDArray"});
  expect_error([&] { nd::zeros({int64_t(1) << 60, 4}); }, {"zeros", "more bytes"});
#if !MIXT_USE_CUDA
  expect_error([&] { m.copyto(gpu(0)); }, {"copyto", "gpu(0)", "without CUDA"});
  const int gpu_line = __LINE__;
  CHECK(line_of([&] { m.as_in_context(gpu(0)); }) == gpu_line + 1);
  expect_error([&] { nd::ones({2}, gpu(0)); }, {"ones", "gpu(0)", "without CUDA"});
#else
  // A GPU the machine does not have is named at the call (it failed later, in an allocation, as "out of memory").
  const std::string missing = "gpu(" + std::to_string(num_gpus()) + ")";
  expect_error([&] { nd::ones({2}, gpu(num_gpus())); }, {"ones", missing.c_str(), "GPU(s) visible"});
  expect_error([&] { nd::zeros({2}, gpu(-1)); }, {"zeros", "gpu(-1)"});
#endif
}

MIXT_DEVICE_TEST("ndarray: MXNet spellings: item() as asscalar, zeros_like, ones_like, astype by name, DType printed") {
  const Context ctx = Device::ctx();
  NDArray a = nd::array({-3.0, 1e6 + 1}, Shape{2, 1}, ctx, DType::int32);
  static_assert(std::is_same_v<decltype(a.at(0).item()), double>);
  CHECK(a.at(1).item() == 1e6 + 1);
  for (NDArray like : {nd::zeros_like(a), nd::ones_like(a)}) {
    CHECK(like.shape() == Shape{2, 1});
    CHECK(like.dtype() == DType::int32);
    CHECK(like.ctx() == ctx);
  }
  CHECK(nd::ones_like(a).to_vector<int>() == std::vector<int>{1, 1});
  CHECK(nd::zeros_like(a).to_vector<int>() == std::vector<int>{0, 0});
  CHECK(a.astype("float16").dtype() == DType::float16);
  CHECK(a.astype("float64").to_vector<double>() == std::vector<double>{-3, 1e6 + 1});
  expect_error([&] { a.astype("float"); }, {"dtype", "unknown dtype name 'float'"});
  expect_error([&] { nd::zeros_like(NDArray()); }, {"zeros_like", "empty"});
  std::ostringstream os;
  os << a.dtype() << " " << DType::bfloat16;
  CHECK(os.str() == "int32 bfloat16");
}

MIXT_DEVICE_TEST("ndarray: copyto returns its destination and writes into a temporary view") {
  const Context ctx = Device::ctx();
  NDArray src = nd::array({1.0, 2.0, 3.0}, ctx), row = nd::zeros({3}, ctx), dst = nd::zeros({2, 3}, ctx);
  NDArray& back = src.copyto(row);  // MXNet's copyto(other) returns other
  CHECK(&back == &row);
  CHECK(row.to_vector<double>() == std::vector<double>{1, 2, 3});
  NDArray view = src.copyto(dst.at(1));  // MXNet's x.copyto(y[1])
  CHECK(view.chunk() == dst.chunk());
  CHECK(dst.to_vector<double>() == std::vector<double>{0, 0, 0, 1, 2, 3});
}

TEST_CASE("ndarray: printing follows NumPy's str() and MXNet's repr line") {
  auto str = [](const NDArray& a) {
    std::ostringstream os;
    os << a;
    CHECK(os.str() == a.to_string());
    return os.str();
  };
  CHECK(str(nd::arange(6).reshape({2, 3})) == "[[0. 1. 2.]\n [3. 4. 5.]]\n<NDArray 2x3 @cpu(0)>");
  CHECK(str(nd::array({1.5, 2.25, -3.0})) == "[ 1.5   2.25 -3.  ]\n<NDArray 3 @cpu(0)>");
  CHECK(str(nd::array({0.1, 1.0 / 3})) == "[0.1        0.33333334]\n<NDArray 2 @cpu(0)>");  // float32 digits
  CHECK(str(nd::array({0.1, 1.0 / 3}, cpu(), DType::float64)) == "[0.1        0.33333333]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::array({1e-5, 1.0})) == "[1.e-05 1.e+00]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::array({1.5e-5, 1.0, -250.0})) == "[ 1.5e-05  1.0e+00 -2.5e+02]\n<NDArray 3 @cpu(0)>");
  // Values with fewer digits than the common precision show their own further digits (NumPy 1.26 prints these):
  // the float16 nearest 0.1 is 0.0999755859375, the float32 nearest 0.1 is 0.100000001490116.
  CHECK(str(nd::array({0.1, 1000.5}, cpu(), DType::float16)) == "[9.9976e-02 1.0005e+03]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::array({0.1, 1.2345004506641999e-05})) == "[1.00000001e-01 1.23450045e-05]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::array({1.609e-6, 1.13e-6, -5.96e-7}, cpu(), DType::float16)) ==
        "[ 1.61e-06  1.13e-06 -5.96e-07]\n<NDArray 3 @cpu(0)>");
  CHECK(str(nd::array({1.3315865e-06, 7.1527899e-07, -1.5454003e-06})) ==
        "[ 1.3315865e-06  7.1527899e-07 -1.5454003e-06]\n<NDArray 3 @cpu(0)>");
  // A 0-d integer value past the dtype's digits: the shortest digits, then zeros.
  CHECK(str(nd::array({123456792.0}, Shape{})) == "123456790.0\n<NDArray  @cpu(0)>");
  CHECK(str(nd::array({-99999992.0}, Shape{})) == "-99999990.0\n<NDArray  @cpu(0)>");
  CHECK(str(nd::array({2048.0}, Shape{}, cpu(), DType::float16)) == "2048.0\n<NDArray  @cpu(0)>");
  CHECK(str(nd::array({65504.0}, Shape{}, cpu(), DType::float16)) == "65500.0\n<NDArray  @cpu(0)>");
  CHECK(str(nd::array({1e15}, Shape{}, cpu(), DType::float64)) == "1000000000000000.0\n<NDArray  @cpu(0)>");
  CHECK(str(nd::array(std::vector<double>{1.0, NAN, -INFINITY})) == "[  1.  nan -inf]\n<NDArray 3 @cpu(0)>");
  CHECK(str(nd::arange(0, 12, 1, 1, cpu(), DType::int32).reshape({2, 2, 3})) ==
        "[[[ 0  1  2]\n  [ 3  4  5]]\n\n [[ 6  7  8]\n  [ 9 10 11]]]\n<NDArray 2x2x3 @cpu(0)>");
  CHECK(str(nd::array({-1.0, -56.0}, cpu(), DType::int8)) == "[ -1 -56]\n<NDArray 2 @cpu(0)>");
  CHECK(str(nd::full({}, 1.5)) == "1.5\n<NDArray  @cpu(0)>");
  CHECK(str(nd::full({}, 2.0)) == "2.0\n<NDArray  @cpu(0)>");
  CHECK(str(nd::full({}, 7, cpu(), DType::int64)) == "7\n<NDArray  @cpu(0)>");
  CHECK(str(nd::zeros({0, 3})) == "[]\n<NDArray 0x3 @cpu(0)>");
  CHECK(str(nd::arange(30)) ==
        "[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11. 12. 13. 14. 15. 16. 17.\n"
        " 18. 19. 20. 21. 22. 23. 24. 25. 26. 27. 28. 29.]\n<NDArray 30 @cpu(0)>");
  CHECK(str(nd::arange(0, 2000, 1, 1, cpu(), DType::int32)) == "[   0    1    2 ... 1997 1998 1999]\n<NDArray 2000 @cpu(0)>");
  CHECK(str(nd::arange(0, 2000, 1, 1, cpu(), DType::int32).reshape({500, 4})) ==
        "[[   0    1    2    3]\n [   4    5    6    7]\n [   8    9   10   11]\n ...\n"
        " [1988 1989 1990 1991]\n [1992 1993 1994 1995]\n [1996 1997 1998 1999]]\n<NDArray 500x4 @cpu(0)>");
  CHECK(str(nd::array({0.5, 1.0}, cpu(), DType::float16)) == "[0.5 1. ]\n<NDArray 2 @cpu(0)>");
  CHECK(str(NDArray()) == "<NDArray none>");
}

// --- random ------------------------------------------------------------------------------------------------------

TEST_CASE("ndarray: Philox4x32-10 reproduces Random123's known-answer vectors") {
  using mixt::random::Block;
  auto eq = [](Block b, std::array<uint32_t, 4> w) { return b.w[0] == w[0] && b.w[1] == w[1] && b.w[2] == w[2] && b.w[3] == w[3]; };
  CHECK(eq(mixt::random::philox4x32_10(Block{{0, 0, 0, 0}}, 0, 0), {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  CHECK(eq(mixt::random::philox4x32_10(Block{{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u), {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  CHECK(eq(mixt::random::philox4x32_10(Block{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0),
           {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

namespace {

/// The Kolmogorov-Smirnov statistic of the sample against the CDF.
double ks_statistic(std::vector<double> x, double (*cdf)(double)) {
  std::sort(x.begin(), x.end());
  const double n = double(x.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double f = cdf(x[i]);
    d = std::max({d, f - double(i) / n, double(i + 1) / n - f});
  }
  return d;
}

}  // namespace

MIXT_DEVICE_TEST("ndarray: uniform stays in [low, high) after rounding; ranges it cannot draw from raise") {
  const Context ctx = Device::ctx();
  // 0.99 is not a bfloat16: the nearest one, 0.98828125, is below low and used to be drawn.
  for (double v : nd::random::uniform(0.99, 1, {1000}, ctx, DType::bfloat16).to_vector<double>()) {
    CHECK(v >= 0.99);
    CHECK(v < 1);
  }
  CHECK_THROWS_AS(nd::random::uniform(-1e308, 1e308, {4}, ctx, DType::float64), Error);  // used to loop ~2^51 times
  CHECK_THROWS_AS(nd::random::uniform(-INFINITY, INFINITY, {4}, ctx), Error);           // used to draw NaN
  // Ranges that hold no value of the dtype: they used to draw 1 + 2^-23 >= high, and float16 inf.
  CHECK_THROWS_AS(nd::random::uniform(1 + 1e-10, 1 + 2e-10, {4}, ctx), Error);
  CHECK_THROWS_AS(nd::random::uniform(1e5, 2e5, {4}, ctx, DType::float16), Error);
  // The one value a narrow range holds.
  const double one_ulp = std::nextafter(1.0f, 2.0f);
  for (double v : nd::random::uniform(1 - 1e-10, 1 + 1e-10, {16}, ctx).to_vector<double>()) CHECK(v == 1);
  CHECK(nd::random::uniform(1, one_ulp, {1}, ctx).item<double>() == 1);
  CHECK_THROWS_AS(nd::arange(0, 4, 1, int64_t(1) << 62, ctx), Error);                  // 2^64 elements wrapped to 0
}

MIXT_DEVICE_TEST("ndarray: random uniform and normal are reproducible and have the right distribution") {
  const Context ctx = Device::ctx();
  const int64_t n = 1000000;
  mixt::random::seed(7);
  NDArray u1 = nd::random::uniform(0, 1, {n}, ctx);
  NDArray g1 = nd::random::normal(0, 1, {n}, ctx, DType::float64);
  mixt::random::seed(7);
  NDArray u2 = nd::random::uniform(0, 1, {n}, ctx);
  NDArray g2 = nd::random::normal(0, 1, {n}, ctx, DType::float64);
  NDArray u3 = nd::random::uniform(0, 1, {n}, ctx);  // the stream moved on
  mixt::random::seed(8);
  NDArray u4 = nd::random::uniform(0, 1, {n}, ctx);
  const std::vector<double> x = u1.to_vector<double>(), z = g1.to_vector<double>();
  CHECK(x == u2.to_vector<double>());
  CHECK(z == g2.to_vector<double>());
  auto count_equal = [](const std::vector<double>& a, const std::vector<double>& b) {
    size_t k = 0;
    for (size_t i = 0; i < a.size(); ++i) k += a[i] == b[i];
    return k;
  };
  CHECK(count_equal(x, u3.to_vector<double>()) < 1000);  // float32 draws collide by chance ~ n / 2^24 times
  CHECK(count_equal(x, u4.to_vector<double>()) < 1000);
  mixt::random::seed(7 + (uint64_t(1) << 32));  // seeds are 64-bit: the high word counts too
  CHECK(count_equal(x, nd::random::uniform(0, 1, {n}, ctx).to_vector<double>()) < 1000);

  // Moments within 5 standard errors.
  auto mean_var = [](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double a : v) m += a;
    m /= double(v.size());
    for (double a : v) s += (a - m) * (a - m);
    return std::pair{m, s / double(v.size() - 1)};
  };
  auto [mu, vu] = mean_var(x);
  CHECK(std::abs(mu - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
  CHECK(std::abs(vu - 1.0 / 12) < 5 * std::sqrt(1.0 / 180 / n));  // Var(s^2) ~ (mu4 - sigma^4) / n = 1/180n
  auto [mz, vz] = mean_var(z);
  CHECK(std::abs(mz) < 5 / std::sqrt(double(n)));
  CHECK(std::abs(vz - 1) < 5 * std::sqrt(2.0 / n));
  CHECK(*std::min_element(x.begin(), x.end()) >= 0);
  CHECK(*std::max_element(x.begin(), x.end()) < 1);

  // Kolmogorov-Smirnov: the 0.1% critical value is 1.95 / sqrt(n); allow 2.5 / sqrt(n).
  CHECK(ks_statistic(x, [](double v) { return v; }) < 2.5 / std::sqrt(double(n)));
  CHECK(ks_statistic(z, [](double v) { return 0.5 * std::erfc(-v / std::sqrt(2.0)); }) < 2.5 / std::sqrt(double(n)));

  // Shifted and scaled laws; every floating dtype.
  for (DType t : {DType::float32, DType::float64, DType::float16, DType::bfloat16}) {
    CAPTURE(dtype_name(t));
    NDArray a = nd::random::uniform(-3, 5, {100000}, ctx, t);
    CHECK(a.dtype() == t);
    std::vector<double> v = a.to_vector<double>();
    CHECK(*std::min_element(v.begin(), v.end()) >= -3);
    CHECK(*std::max_element(v.begin(), v.end()) < 5);
    CHECK(std::abs(mean_var(v).first - 1) < 5 * 8 / std::sqrt(12.0 * 100000) + 0.01);
    auto [m, var] = mean_var(nd::random::normal(2, 3, {100000}, ctx, t).to_vector<double>());
    CHECK(std::abs(m - 2) < 5 * 3 / std::sqrt(100000.0) + 0.01);
    CHECK(std::abs(var - 9) < 5 * 9 * std::sqrt(2.0 / 100000) + 0.05);
  }
  // Rounding never reaches high: a narrow interval just below a bfloat16 value.
  std::vector<double> tight = nd::random::uniform(1.0, 1.0078125, {10000}, ctx, DType::bfloat16).to_vector<double>();
  CHECK(*std::max_element(tight.begin(), tight.end()) < 1.0078125);
  CHECK_THROWS_AS(nd::random::uniform(1, 1, {2}, ctx), Error);
  CHECK_THROWS_AS(nd::random::normal(0, -1, {2}, ctx), Error);
  CHECK_THROWS_AS(nd::random::uniform(0, 1, {2}, ctx, DType::int32), Error);
}

// Each threshold of NumPy's printing at its boundary (reference strings: NumPy 1.26's and 2.4's str()).
TEST_CASE("ndarray: printing at the thresholds of scientific notation, summarization and line wrapping") {
  CHECK(nd::array({1e8}).to_string() == "[1.e+08]\n<NDArray 1 @cpu(0)>");                        // max >= 1e8
  CHECK(nd::array({1e-4}, cpu(), DType::float64).to_string() == "[0.0001]\n<NDArray 1 @cpu(0)>");  // min < 1e-4
  CHECK(nd::array({1.0, 1000.0}).to_string() == "[   1. 1000.]\n<NDArray 2 @cpu(0)>");          // ratio > 1000
  CHECK(nd::full({}, 1e16, cpu(), DType::float64).to_string() == "1e+16\n<NDArray  @cpu(0)>");   // scalar >= 1e16
  // A float64 scalar below 0.1 needs up to 21 digits after the point to read back (these printed 17).
  CHECK(nd::full({}, 0.0005784575661846301, cpu(), DType::float64).to_string() ==
        "0.0005784575661846301\n<NDArray  @cpu(0)>");
  CHECK(nd::full({}, 0.00029786471919499745, cpu(), DType::float64).to_string() ==
        "0.00029786471919499745\n<NDArray  @cpu(0)>");
  CHECK(nd::arange(0, 1000, 1, 1, cpu(), DType::int32).to_string().find("...") == std::string::npos);  // > 1000
  CHECK(nd::arange(0, 1200, 1, 1, cpu(), DType::int32).reshape({6, 200}).to_string() ==  // an axis of 6 stays whole
        "[[   0    1    2 ...  197  198  199]\n [ 200  201  202 ...  397  398  399]\n"
        " [ 400  401  402 ...  597  598  599]\n [ 600  601  602 ...  797  798  799]\n"
        " [ 800  801  802 ...  997  998  999]\n [1000 1001 1002 ... 1197 1198 1199]]\n<NDArray 6x200 @cpu(0)>");
  CHECK(nd::full({40}, 7, cpu(), DType::int32).to_string() ==  // a line of exactly 74 characters does not wrap
        "[7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7 7\n 7 7 7]\n<NDArray 40 @cpu(0)>");
}

TEST_CASE("ndarray: random.uniform over negative 16-bit ranges steps draws that round onto a bound inward") {
  // bfloat16 holds -1.0078125 and -1 here: draws that round up to high = -1 step down to -1.0078125, and draws
  // that round down below low step up.
  for (DType t : {DType::bfloat16, DType::float16}) {
    CAPTURE(dtype_name(t));
    const double step = t == DType::bfloat16 ? 0.0078125 : 0.0009765625;
    NDArray u = nd::random::uniform(-1 - step, -1, Shape{4000}, cpu(), t);  // only -1 - step lies in [low, high)
    for (double v : u.to_vector<double>()) CHECK(v == -1 - step);
    const double h = step / 2;  // the spacing just below 1 in magnitude: only -1 + h lies in [low, high)
    NDArray w = nd::random::uniform(-1 + h / 5, -1 + 1.8 * h, Shape{4000}, cpu(), t);
    for (double v : w.to_vector<double>()) CHECK(v == -1 + h);
  }
}

TEST_CASE("ndarray: consecutive random draws use disjoint parts of the stream; normal takes scale 0") {
  mixt::random::seed(77);
  NDArray a = nd::random::uniform(0, 1, Shape{8}), b = nd::random::uniform(0, 1, Shape{8});
  mixt::random::seed(77);
  NDArray c = nd::random::uniform(0, 1, Shape{16});
  auto av = a.to_vector<double>(), bv = b.to_vector<double>(), cv = c.to_vector<double>();
  av.insert(av.end(), bv.begin(), bv.end());
  check_close(av, cv, 0, 0);  // numbers 0 ... 7 then 8 ... 15 of the seeded stream
  check_close(nd::random::normal(3, 0, Shape{5}), std::vector<double>(5, 3.0), 0, 0);
  expect_error([&] { nd::random::uniform(1, 1); }, {"random.uniform", "low < high"});
}

// From the fifth mutation round: each case below failed a mutant that every earlier test let through.

MIXT_DEVICE_TEST("ndarray: at(n) is out of bounds, also on a slice with storage past its end; at(-n) is row 0") {
  auto ctx = Device::ctx();
  NDArray x = nd::array({1, 2, 3, 4, 5, 6}, Shape{3, 2}, ctx);
  expect_error([&] { x.at(3); }, {"index 3 is out of bounds"});
  NDArray big = nd::array({1, 2, 3, 4, 5, 6, 7, 8}, Shape{4, 2}, ctx), first3 = big.slice(0, 3);
  expect_error([&] { first3.at(3); }, {"index 3 is out of bounds"});  // storage holds a row 3
  check_close(x.at(-3), {1, 2});
}

MIXT_DEVICE_TEST("ndarray: squeeze() drops a trailing axis of extent 1 too") {
  auto ctx = Device::ctx();
  CHECK(nd::zeros(Shape{2, 1, 3, 1}, ctx).squeeze().shape() == Shape{2, 3});
  CHECK(nd::zeros(Shape{1, 1}, ctx).squeeze().shape() == Shape{});
}

MIXT_DEVICE_TEST("ndarray: broadcast_to a shape of fewer dimensions is an error in every dtype") {
  auto ctx = Device::ctx();
  expect_error([&] { nd::ones(Shape{2, 3}, ctx).broadcast_to(Shape{3}); },
               {"broadcast_to", "cannot broadcast", "(2, 3)", "(3,)"});
  expect_error([&] { nd::ones(Shape{1, 3}, ctx).broadcast_to(Shape{3}); }, {"broadcast_to", "cannot broadcast"});
  // int32 is copied by the gather kernel, which has no shape check of its own
  expect_error([&] { nd::ones(Shape{2, 3}, ctx, DType::int32).broadcast_to(Shape{3}); }, {"cannot broadcast"});
}

TEST_CASE("ndarray: arange rejects an infinite step; array rejects more values than the shape holds") {
  const double inf = std::numeric_limits<double>::infinity();
  expect_error([&] { nd::arange(0, 10, inf); }, {"arange", "step"});
  expect_error([&] { nd::arange(0, 10, -inf); }, {"arange", "step"});
  expect_error([] { nd::array({1, 2, 3, 4, 5}, Shape{2, 2}); }, {"array", "5 values", "(2, 2)"});
  expect_error([] { nd::array({1, 2, 3}, Shape{2, 2}); }, {"array", "3 values", "(2, 2)"});
}

// From the sixth mutation round: each case below failed a mutant that every earlier test let through.

MIXT_DEVICE_TEST("ndarray: reshape's -4 split must multiply back to the dimension it splits") {
  auto ctx = Device::ctx();
  NDArray x = nd::zeros(Shape{6, 4}, ctx);
  // 2 x 4 != 6; without the check the -1 becomes 24 / 8 = 3 and the shape (2, 4, 3) is accepted.
  expect_error([&] { (void)x.reshape({-4, 2, 4, -1}); }, {"-4 cannot split 6 into 2 x 4"});
  CHECK(x.reshape({-4, 2, 3, -1}).shape() == Shape{2, 3, 4});
}

MIXT_DEVICE_TEST("ndarray: full and fill saturate an out-of-range value into an integer dtype") {
  auto ctx = Device::ctx();
  check_close(nd::full(Shape{2}, 300, ctx, DType::uint8), {255, 255}, 0, 0);
  check_close(nd::full(Shape{2}, -7, ctx, DType::uint8), {0, 0}, 0, 0);
  check_close(nd::full(Shape{2}, 200, ctx, DType::int8), {127, 127}, 0, 0);
  NDArray u = nd::zeros(Shape{3}, ctx, DType::uint8);
  u.assign(256.0);
  check_close(u, {255, 255, 255}, 0, 0);
}

MIXT_DEVICE_TEST("ndarray: transpose rejects an axes list of the wrong length") {
  auto ctx = Device::ctx();
  NDArray x = nd::zeros(Shape{2, 3}, ctx);
  expect_error([&] { (void)NDArray(x.transpose({1, 0, 2})); }, {"transpose", "axes name 3 axes"});
}
