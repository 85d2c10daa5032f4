// Core types: shapes, dtypes with their 16-bit floats, the reshape code table, the memory pool.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

using namespace mixt;

TEST_CASE("core: Shape basics and printing") {
  Shape s{2, 3, 4};
  CHECK(s.ndim() == 3);
  CHECK(s.size() == 24);
  CHECK(s.to_string() == "(2, 3, 4)");
  CHECK(Shape{5}.to_string() == "(5,)");
  CHECK(Shape{}.to_string() == "()");
  CHECK(Shape{}.size() == 1);
  CHECK(Shape{3, 0}.size() == 0);
  CHECK(s.strides()[0] == 12);
  CHECK(s.at(-1) == 4);
  CHECK_THROWS_AS(s.at(3), Error);
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5, 6, 7, 8, 9}), Error);
  CHECK_THROWS_AS((Shape{-1}), Error);
  // Extents whose product overflows int64 (2^80 would wrap to 0 elements), with or without a zero extent.
  const int64_t big = int64_t(1) << 40;
  CHECK_THROWS_WITH_AS((Shape{big, big}), doctest::Contains("more elements than an int64 can count"), Error);
  CHECK_THROWS_AS((Shape{0, big, big}), Error);
  CHECK(Shape{big, 0}.size() == 0);
  Shape built;  // built extent by extent: checked when an array would be allocated with it
  built.push_back(big);
  built.push_back(big);
  CHECK_THROWS_WITH_AS(NDArray(built, cpu()), doctest::Contains("NDArray"), Error);
  CHECK_THROWS_WITH_AS(NDArray(Shape{int64_t(1) << 62}, cpu(), DType::float64),
                       doctest::Contains("needs more bytes than a size_t holds"), Error);
}

TEST_CASE("core: error messages print numbers in the fewest digits that read back as the same value") {
  auto message = [](auto... parts) {
    try {
      detail::fail("op", parts...);
    } catch (const Error& e) {
      return e.message();
    }
    return std::string("no error");
  };
  // std::to_string gave "0.000000", "0.100000", "0.100000", and 309 digits for 1e308.
  CHECK(message("lr = ", 1e-10) == "lr = 1e-10");
  CHECK(message(0.1, " ", 0.1f, " ", 2.5) == "0.1 0.1 2.5");  // 0.1f is the float 0.1, not 0.10000000149011612
  CHECK(message(1e308, " ", -3.0, " ", 1.0 + 1e-15) == "1e+308 -3 1.000000000000001");
  CHECK(message(0.1 + 0.2) == "0.30000000000000004");
  CHECK(message(NAN, " ", -INFINITY) == "nan -inf");
  CHECK(message(int64_t(-5), " ", size_t(7)) == "-5 7");
}

TEST_CASE("core: integer settings from the environment: unset or empty gives the default, malformed ones raise") {
  const char* name = "MIXT_TEST_SETTING";
  unsetenv(name);
  CHECK(detail::env_integer(name, 7, 0) == 7);
  setenv(name, "", 1);
  CHECK(detail::env_integer(name, 7, 0) == 7);
  setenv(name, "12", 1);
  CHECK(detail::env_integer(name, 7, 0) == 12);
  for (const char* bad : {"abc", "12x", "-1", "99999999999999999999"}) {  // atoi read "abc" as 0
    CAPTURE(bad);
    setenv(name, bad, 1);
    CHECK_THROWS_AS(detail::env_integer(name, 7, 0), Error);
  }
  unsetenv(name);
}

TEST_CASE("core: half and bfloat16 round to nearest even, against exact values") {
  // Every half value converts to float exactly and back unchanged.
  for (uint32_t b = 0; b < 0x10000; ++b) {
    half_t h = half_t::from_bits(uint16_t(b));
    float f = float(h);
    if (std::isnan(f)) continue;
    CHECK_MESSAGE(half_t(f).bits == b, "bits " << b);
  }
  CHECK(float(half_t(1.0f)) == 1.0f);
  CHECK(float(half_t(65504.0f)) == 65504.0f);
  CHECK(std::isinf(float(half_t(65520.0f))));           // halfway to the next binade rounds up to inf
  CHECK(float(half_t(1.0f + 1.0f / 2048)) == 1.0f);      // a tie rounds to even
  CHECK(float(half_t(1.0f + 3.0f / 2048)) == 1.0f + 2.0f / 1024);
  CHECK(float(half_t(5.960464477539063e-08f)) == 5.960464477539063e-08f);  // smallest subnormal
  CHECK(float(half_t(2.0e-8f)) == 0.0f);
  CHECK(float(half_t(65519.0f)) == 65504.0f);            // below the halfway point: the largest half
  CHECK(float(half_t(-65519.0f)) == -65504.0f);
  const float unit = std::ldexp(1.0f, -24);              // subnormal ties round to even too
  CHECK(float(half_t(0.5f * unit)) == 0.0f);
  CHECK(float(half_t(1.5f * unit)) == 2 * unit);
  CHECK(float(half_t(2.5f * unit)) == 2 * unit);
  CHECK(float(half_t(-2.5f * unit)) == -2 * unit);
  CHECK(float(bfloat16_t(1.0f)) == 1.0f);
  CHECK(float(bfloat16_t(3.140625f)) == 3.140625f);
  CHECK(float(bfloat16_t(1.0f + 1.0f / 256)) == 1.0f);   // tie to even
  CHECK(float(bfloat16_t(1.0f + 3.0f / 256)) == 1.0f + 1.0f / 64);
  CHECK(std::isnan(float(bfloat16_t(NAN))));
}

TEST_CASE("core: a double rounds to half and bfloat16 once, as the nearest of all their values") {
  // The reference: every finite value of the format as an exact double, sorted; the nearest one, ties to the
  // even bit pattern, and beyond the largest by half a unit or more: inf.
  auto reference = [](auto from_bits, uint32_t count, double limit) {
    std::vector<std::pair<double, uint16_t>> values;
    for (uint32_t b = 0; b < count; ++b) {
      const double v = double(float(from_bits(uint16_t(b))));
      if (std::isfinite(v)) values.push_back({v, uint16_t(b)});
    }
    std::sort(values.begin(), values.end());
    return [values, limit](double v) {
      if (std::fabs(v) >= limit) return std::copysign(INFINITY, v);
      auto hi = std::lower_bound(values.begin(), values.end(), std::make_pair(v, uint16_t(0)));
      if (hi == values.end()) return values.back().first;
      if (hi == values.begin() || hi->first == v) return hi->first;
      auto lo = hi - 1;
      const double dl = v - lo->first, dh = hi->first - v;
      if (dl != dh) return dl < dh ? lo->first : hi->first;
      return (lo->second & 1) ? hi->first : lo->first;
    };
  };
  // Half's limit: 65504 plus half a unit (32 / 2); bfloat16's: its largest, 0x7f7f, plus half a unit.
  auto half_ref = reference([](uint16_t b) { return half_t::from_bits(b); }, 0x10000, 65520.0);
  auto bf_ref = reference([](uint16_t b) { return bfloat16_t::from_bits(b); }, 0x10000,
                          double(float(bfloat16_t::from_bits(0x7f7f))) + std::ldexp(1.0, 127 - 8));
  std::mt19937_64 gen(17);
  std::uniform_real_distribution<double> mantissa(1, 2);
  std::uniform_int_distribution<int> exponent(-26, 16), coin(0, 1);
  size_t half_bad = 0, bf_bad = 0;
  for (int i = 0; i < 200000; ++i) {
    double v = std::ldexp(mantissa(gen), exponent(gen)) * (coin(gen) ? -1 : 1);
    if (i % 4 == 0) v = double(float(v)) + std::ldexp(v, -40);  // near a float, where double rounding bites
    half_bad += double(float(half_t(v))) != half_ref(v);
    bf_bad += double(float(bfloat16_t(v))) != bf_ref(v);
  }
  CHECK(half_bad == 0);
  CHECK(bf_bad == 0);
  // Through float these were one unit off: float rounds them onto a tie, which then goes to even.
  CHECK(double(float(half_t(1.0 + 1.0 / 2048 + 1e-12))) == 1.0 + 1.0 / 1024);
  CHECK(double(float(half_t(60719.9988958913))) == 60704.0);
  CHECK(double(float(bfloat16_t(1.0 + 1.0 / 256 + 1e-12))) == 1.0 + 1.0 / 128);
  CHECK(std::isnan(float(half_t(double(NAN)))));
  CHECK(std::isinf(float(half_t(1e300))));
  CHECK(float(half_t(-1e-300)) == 0.0f);
  CHECK(std::signbit(float(half_t(-1e-300))));
}

TEST_CASE("core: dtype names, sizes and MXNet flags") {
  CHECK(int(DType::float32) == 0);
  CHECK(int(DType::float16) == 2);
  CHECK(int(DType::int64) == 6);
  CHECK(int(DType::bfloat16) == 12);
  CHECK(dtype_size(DType::bfloat16) == 2);
  CHECK(dtype_from_name("int32") == DType::int32);
  CHECK_THROWS_AS(dtype_from_name("float128"), Error);
}

TEST_CASE("core: contexts print as MXNet's and differ by type and id") {
  CHECK(cpu().to_string() == "cpu(0)");
  CHECK(gpu(3).to_string() == "gpu(3)");
  const Context pinned{DeviceType::cpu_pinned, 0};
  CHECK(pinned.to_string() == "cpu_pinned(0)");  // not "cpu(0)": an error naming both contexts must tell them apart
  CHECK(pinned.is_cpu());
  CHECK(!(pinned == cpu()));
  CHECK(!(cpu(1) == cpu()));
}

TEST_CASE("core: the reshape code table") {
  struct Row { Shape in; std::vector<int64_t> codes; bool reverse; Shape out; };
  // Rows from MXNet's Reshape documentation.
  const std::vector<Row> table = {
      {{2, 3, 4}, {4, 0, 2}, false, {4, 3, 2}},
      {{2, 3, 4}, {2, 0, 0}, false, {2, 3, 4}},
      {{2, 3, 4}, {6, 1, -1}, false, {6, 1, 4}},
      {{2, 3, 4}, {3, -1, 8}, false, {3, 1, 8}},
      {{2, 3, 4}, {-1}, false, {24}},
      {{2, 3, 4}, {-2}, false, {2, 3, 4}},
      {{2, 3, 4}, {2, -2}, false, {2, 3, 4}},
      {{2, 3, 4}, {-2, 1, 1}, false, {2, 3, 4, 1, 1}},
      {{2, 3, 4, 5}, {-3, -3}, false, {6, 20}},
      {{2, 3, 4}, {-3, -2}, false, {6, 4}},
      {{2, 3, 4}, {0, -3}, false, {2, 12}},
      {{2, 3, 4}, {-4, 1, 2, -2}, false, {1, 2, 3, 4}},
      {{2, 3, 4}, {2, -4, -1, 3, -2}, false, {2, 1, 3, 4}},
      {{10, 5, 4}, {-1, 0}, false, {40, 5}},
      {{10, 5, 4}, {-1, 0}, true, {50, 4}},
      {{2, 3, 4}, {-1, 6}, false, {4, 6}},
  };
  for (const Row& r : table) {
    CAPTURE(r.in.to_string());
    CHECK(infer_reshape(r.in, r.codes, r.reverse) == r.out);
  }
  CHECK_THROWS_AS(infer_reshape(Shape{2, 3}, {4, 2}, false), Error);
  CHECK_THROWS_AS(infer_reshape(Shape{2, 3}, {-1, -1}, false), Error);
  CHECK_THROWS_AS(infer_reshape(Shape{2, 3}, {-4, 4, -1}, false), Error);
  CHECK_THROWS_AS(infer_reshape(Shape{2, 3}, {-7}, false), Error);
  // Products past int64 are errors, not wrapped values (2^80 wraps to 0, which an empty array would match).
  const int64_t big = int64_t(1) << 40;
  CHECK_THROWS_AS(infer_reshape(Shape{0}, {-4, big, big}, false), Error);
  CHECK_THROWS_AS(infer_reshape(Shape{0}, {big, big, -1}, false), Error);
}

namespace {
/// A device of `capacity` bytes, for the pool's out-of-memory path.
struct TinyBackend {
  size_t* used;
  size_t capacity;
  void* allocate(size_t bytes) {
    if (*used + bytes > capacity) return nullptr;
    *used += bytes;
    return std::malloc(bytes);
  }
  void deallocate(void* p, size_t bytes) {
    *used -= bytes;
    std::free(p);
  }
  const char* name() const { return "tiny"; }
};
}  // namespace

TEST_CASE("core: on out of memory the pool reclaims pending blocks, releases its cache, retries, then errs") {
  size_t used = 0;
  memory::Pool<TinyBackend> pool(TinyBackend{&used, 4096});
  void* a = pool.allocate(2048);
  void* b = pool.allocate(1024);
  pool.deallocate(b, 1024);  // cached: 1024 bytes the device still counts as used
  // A block held by "in-flight work", returned by the reclaim hook only when asked.
  void* pending = pool.allocate(1024);
  int reclaims = 0;
  pool.set_reclaim([&] {
    ++reclaims;
    if (pending) pool.deallocate(std::exchange(pending, nullptr), 1024);
  });
  // 2048 more bytes fit only once the pending block is back and the cache is released.
  void* c = pool.allocate(2048);
  CHECK(c != nullptr);
  CHECK(reclaims == 1);
  CHECK(pool.bytes_cached() == 0);
  CHECK(used == 4096);
  // Nothing left to reclaim: the error names the pool, the size and what is in use.
  try {
    (void)pool.allocate(512);
    FAIL("expected an out-of-memory error");
  } catch (const Error& e) {
    std::string what = e.what();
    CHECK(what.find("tiny") != std::string::npos);
    CHECK(what.find("out of memory: 512 bytes requested") != std::string::npos);
    CHECK(what.find("4096 bytes are in use") != std::string::npos);
  }
  CHECK(reclaims == 2);
  pool.deallocate(a, 2048);
  pool.deallocate(c, 2048);
  pool.release_cache();
  CHECK(used == 0);
}

TEST_CASE("core: the pool's free lists keep a stack per size through growth and hand everything back on clear") {
  memory::FreeLists lists;
  std::map<size_t, std::vector<void*>> oracle;  // what a std::map of stacks would hold
  std::mt19937_64 rng(7);
  std::vector<char> storage(1 << 16);  // distinct addresses; never dereferenced
  for (int step = 0; step < 20000; ++step) {
    const size_t size = 256 * (1 + rng() % 300);  // 300 sizes: the table rehashes several times
    if (rng() % 3 != 0) {
      void* p = storage.data() + rng() % storage.size();
      REQUIRE(lists.push(size, p));
      oracle[size].push_back(p);
    } else {
      auto& stack = oracle[size];
      void* want = stack.empty() ? nullptr : stack.back();
      if (!stack.empty()) stack.pop_back();
      REQUIRE(lists.pop(size) == want);
    }
  }
  std::map<size_t, size_t> left, released;
  for (auto& [size, stack] : oracle)
    if (!stack.empty()) left[size] = stack.size();
  lists.clear([](void* out, void*, size_t size) { ++(*static_cast<std::map<size_t, size_t>*>(out))[size]; },
              &released);
  CHECK(released == left);
  CHECK(lists.pop(256) == nullptr);  // empty, and usable again
  CHECK(lists.push(256, storage.data()));
  CHECK(lists.pop(256) == storage.data());
}

TEST_CASE("core: the memory pool reuses freed blocks of the same size class and reports bytes in use") {
  memory::Pool<memory::CpuBackend> pool;
  void* a = pool.allocate(1000);
  CHECK(pool.bytes_in_use() == 1024);
  pool.deallocate(a, 1000);
  CHECK(pool.bytes_in_use() == 0);
  CHECK(pool.bytes_cached() == 1024);
  void* b = pool.allocate(1010);  // the same 1024-byte class
  CHECK(b == a);
  void* c = pool.allocate(3 << 20);  // a different class
  CHECK(c != a);
  std::memset(c, 0, 3 << 20);
  pool.deallocate(b, 1010);
  pool.deallocate(c, 3 << 20);
  pool.release_cache();
  CHECK(pool.bytes_cached() == 0);
  CHECK(pool.allocate(0) == nullptr);
  CHECK(memory::Pool<memory::CpuBackend>::round_size(5 << 20) == (8 << 20));
}

#ifdef __linux__
/// Whether the mapping that holds address p carries the kernel's huge-page advice (VmFlags "hg" in smaps).
static bool advised_huge(const void* p) {
  std::FILE* f = std::fopen("/proc/self/smaps", "r");
  REQUIRE(f != nullptr);
  const auto at = reinterpret_cast<uintptr_t>(p);
  bool inside = false, advised = false;
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && std::strchr(line, '-') < std::strchr(line, ' ')) {
      inside = lo <= at && at < hi;
    } else if (inside && std::strncmp(line, "VmFlags:", 8) == 0) {
      advised = std::strstr(line, " hg") != nullptr;
      break;
    }
  }
  std::fclose(f);
  return advised;
}

TEST_CASE("core: with huge pages asked for, host blocks of 2 MiB and more are 2 MiB-aligned and advised huge") {
  memory::Pool<memory::CpuBackend> pool;
  set_huge_pages(true);
  void* big = pool.allocate(3 << 20);
  void* small = pool.allocate(1 << 20);
  set_huge_pages(false);
  void* big_after = pool.allocate(5 << 20);
  CHECK(reinterpret_cast<uintptr_t>(big) % (1 << 21) == 0);
  CHECK(reinterpret_cast<uintptr_t>(small) % 64 == 0);
  CHECK(reinterpret_cast<uintptr_t>(big_after) % 64 == 0);
  std::memset(big, 1, 3 << 20);  // the whole block is usable
  CHECK(static_cast<unsigned char*>(big)[(3 << 20) - 1] == 1);
  // The advice is recorded on the mapping wherever the kernel has transparent huge pages at all.
  if (std::FILE* thp = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r")) {
    std::fclose(thp);
    CHECK(advised_huge(big));
    CHECK_FALSE(advised_huge(big_after));
  }
  pool.deallocate(big, 3 << 20);
  pool.deallocate(small, 1 << 20);
  pool.deallocate(big_after, 5 << 20);
}
#endif

// The size classes at their edges: a power of two and an exact multiple of 4 MiB are their own class.
TEST_CASE("core: the pool's size classes at their boundaries") {
  using P = memory::Pool<memory::CpuBackend>;
  CHECK(P::round_size(1) == 256);
  CHECK(P::round_size(1 << 20) == (1 << 20));
  CHECK(P::round_size((1 << 20) + 1) == (2 << 20));
  CHECK(P::round_size(2 << 20) == (2 << 20));
  CHECK(P::round_size(32 << 20) == (32 << 20));
  CHECK(P::round_size((32 << 20) + 1) == (36 << 20));
  CHECK(P::round_size(36 << 20) == (36 << 20));
}

// A block taken back from the cache is no longer counted as cached.
TEST_CASE("core: a reused block leaves the pool's cache") {
  memory::Pool<memory::CpuBackend> pool;
  void* a = pool.allocate(1000);
  pool.deallocate(a, 1000);
  CHECK(pool.bytes_cached() == 1024);
  void* b = pool.allocate(1010);
  CHECK(b == a);
  CHECK(pool.bytes_cached() == 0);
  CHECK(pool.bytes_in_use() == 1024);
  pool.deallocate(b, 1010);
}

#ifdef __linux__
// A block of exactly 2 MiB is a huge-page block too.
TEST_CASE("core: with huge pages asked for, a block of exactly 2 MiB is 2 MiB-aligned") {
  memory::Pool<memory::CpuBackend> pool;
  set_huge_pages(true);
  void* p = pool.allocate(size_t(1) << 21);
  set_huge_pages(false);
  CHECK(reinterpret_cast<uintptr_t>(p) % (size_t(1) << 21) == 0);
  pool.deallocate(p, size_t(1) << 21);
}
#endif

// From the sixth mutation round: each case below failed a mutant that every earlier test let through.

TEST_CASE("core: bfloat16 keeps every float NaN a NaN") {
  for (uint32_t bits : {0x7f800001u, 0x7fffffffu, 0xff800001u, 0xffffffffu, 0x7fc00000u}) {
    CAPTURE(bits);
    float f;
    std::memcpy(&f, &bits, 4);
    const bfloat16_t b(f);
    CHECK((b.bits & 0x7f80u) == 0x7f80u);  // exponent all ones
    CHECK((b.bits & 0x007fu) != 0u);       // and a nonzero mantissa: a NaN
    CHECK((b.bits & 0x8000u) == ((bits >> 16) & 0x8000u));  // the sign kept
    CHECK(std::isnan(float(b)));
  }
}
