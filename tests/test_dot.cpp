// Matrix products (nd::dot, nd::batch_dot, blas::portable_gemm) against double-precision triple loops: shapes that
// are not multiples of any block size, the four transpose combinations, scalars folded into alpha, views with
// offsets, N-D and 1-D operands, float64, aliasing, and the errors.
#include "testing.hpp"

#include <mixt/blas/blas.hpp>

#include <cmath>
#include <limits>
#include <string>

using namespace mixt;
using mixt::testing::check_close;
using mixt::testing::random_values;

namespace {

/// A matrix stored row-major with `rows` rows and leading dimension `ld`.
struct HostMatrix {
  const std::vector<double>* v;
  int64_t ld;
  double at(int64_t r, int64_t c) const { return (*v)[size_t(r * ld + c)]; }
};

/// op(A) (M x K) . op(B) (K x N) in double, where A is stored M x K (or K x M when ta), B K x N (or N x K when tb).
std::vector<double> ref_matmul(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const std::vector<double>& a,
                               int64_t lda, const std::vector<double>& b, int64_t ldb) {
  HostMatrix A{&a, lda}, B{&b, ldb};
  std::vector<double> c(size_t(M * N), 0.0);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t p = 0; p < K; ++p) s += (ta ? A.at(p, i) : A.at(i, p)) * (tb ? B.at(j, p) : B.at(p, j));
      c[size_t(i * N + j)] = s;
    }
  return c;
}

std::vector<double> stored(std::vector<double> v) { return mixt::testing::as_stored(std::move(v)); }

std::vector<double> axpby(double alpha, const std::vector<double>& x, double beta, const std::vector<double>& y) {
  std::vector<double> r(x.size());
  for (size_t i = 0; i < x.size(); ++i) r[i] = alpha * x[i] + beta * y[i];
  return r;
}

/// The error message of f(), or "" when it does not throw.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
    mixt::waitall();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

constexpr double kRtol = 2e-5, kAtol = 1e-4;  // float32 sums of up to a few hundred products of values in [-1, 1]

}  // namespace

MIXT_DEVICE_TEST("dot: 2-D products for sizes 1, 7, 33, 257 and the four transpose combinations") {
  auto ctx = Device::ctx();
  const int64_t sizes[] = {1, 7, 33, 257};
  uint64_t seed = 1;
  for (int64_t M : sizes)
    for (int64_t N : sizes)
      for (int64_t K : sizes)
        for (int t = 0; t < 4; ++t) {
          const bool ta = t & 1, tb = t & 2;
          auto av = stored(random_values(size_t(M * K), -1, 1, seed++));
          auto bv = stored(random_values(size_t(K * N), -1, 1, seed++));
          NDArray a = nd::array(av, ta ? Shape{K, M} : Shape{M, K}, ctx);
          NDArray b = nd::array(bv, tb ? Shape{N, K} : Shape{K, N}, ctx);
          CAPTURE(M);
          CAPTURE(N);
          CAPTURE(K);
          CAPTURE(t);
          NDArray c = nd::dot(a, b, ta, tb);
          REQUIRE(c.shape() == Shape{M, N});
          check_close(c, ref_matmul(ta, tb, M, N, K, av, ta ? M : K, bv, tb ? K : N), kRtol, kAtol);
        }
}

MIXT_DEVICE_TEST("dot: x.T() folds into the transpose flags, and a flag on x.T() transposes back") {
  auto ctx = Device::ctx();
  const int64_t M = 33, N = 17, K = 40;
  auto xv = stored(random_values(size_t(K * M), -1, 1, 3)), gv = stored(random_values(size_t(K * N), -1, 1, 4));
  NDArray x = nd::array(xv, Shape{K, M}, ctx), g = nd::array(gv, Shape{K, N}, ctx);
  auto want = ref_matmul(true, false, M, N, K, xv, M, gv, N);
  check_close(NDArray(nd::dot(x.T(), g)), want, kRtol, kAtol);
  // A flag on an operand given as .T() transposes it back.
  NDArray sq = nd::array(stored(random_values(size_t(M * M), -1, 1, 5)), Shape{M, M}, ctx);
  auto sqv = sq.to_vector<double>();
  check_close(NDArray(nd::dot(x, sq.T(), false, true)), ref_matmul(false, false, K, M, M, xv, M, sqv, M), kRtol, kAtol);
  // g.T() (N x K) . x (K x M), and x.T() (M x K) . bt.T() (K x N): both flags set.
  check_close(NDArray(nd::dot(g.T(), x)), ref_matmul(true, false, N, M, K, gv, N, xv, M), kRtol, kAtol);
  NDArray bt = nd::array(gv, Shape{N, K}, ctx);  // (N x K): bt.T() is K x N
  check_close(NDArray(nd::dot(x.T(), bt.T())), ref_matmul(true, true, M, N, K, xv, M, gv, K), kRtol, kAtol);
}

MIXT_DEVICE_TEST("dot: scalars and unary minus fold into alpha; += and -= are one GEMM with beta = 1") {
  auto ctx = Device::ctx();
  const int64_t M = 9, N = 13, K = 21;
  auto av = stored(random_values(size_t(M * K), -1, 1, 11)), bv = stored(random_values(size_t(K * N), -1, 1, 12));
  auto cv = stored(random_values(size_t(M * N), -1, 1, 13));
  NDArray a = nd::array(av, Shape{M, K}, ctx), b = nd::array(bv, Shape{K, N}, ctx);
  const auto ab = ref_matmul(false, false, M, N, K, av, K, bv, N);

  static_assert(std::is_same_v<decltype(2.f * nd::dot(a, b)), expr::DotExpr>);
  static_assert(std::is_same_v<decltype(nd::dot(a, b) * 2.0), expr::DotExpr>);
  static_assert(std::is_same_v<decltype(nd::dot(a, b) / 2), expr::DotExpr>);
  static_assert(std::is_same_v<decltype(-nd::dot(a, b)), expr::DotExpr>);
  static_assert(expr::Materializable<expr::DotExpr>);

  NDArray c = nd::array(cv, Shape{M, N}, ctx);
  uint64_t v0 = c.version();
  c += 2.f * nd::dot(a, b);
  c.wait_to_read();  // versions count completed writes
  CHECK(c.version() == v0 + 1);  // one operation wrote c
  check_close(c, axpby(2, ab, 1, cv), kRtol, kAtol);

  c = nd::array(cv, Shape{M, N}, ctx);
  v0 = c.version();
  c -= nd::dot(a, b) * 0.5;
  CHECK(c.version() == v0 + 1);
  check_close(c, axpby(-0.5, ab, 1, cv), kRtol, kAtol);

  check_close(NDArray(nd::dot(a, b) / 4), axpby(0.25, ab, 0, ab), kRtol, kAtol);
  check_close(NDArray(-nd::dot(a, b)), axpby(-1, ab, 0, ab), kRtol, kAtol);
  check_close(NDArray(-(3 * nd::dot(a, b)) / 2.0), axpby(-1.5, ab, 0, ab), kRtol, kAtol);

  // The SGD step of a linear layer: w -= lr * x^T g, one GEMM with alpha = -lr, beta = 1, transA.
  const int64_t B = 16, I = 12, O = 5;
  auto xv = stored(random_values(size_t(B * I), -1, 1, 14)), gv = stored(random_values(size_t(B * O), -1, 1, 15));
  auto wv = stored(random_values(size_t(I * O), -1, 1, 16));
  NDArray x = nd::array(xv, Shape{B, I}, ctx), g = nd::array(gv, Shape{B, O}, ctx), w = nd::array(wv, Shape{I, O}, ctx);
  v0 = w.version();
  w -= 0.1f * nd::dot(x.T(), g);
  CHECK(w.version() == v0 + 1);
  check_close(w, axpby(-0.1, ref_matmul(true, false, I, O, B, xv, I, gv, O), 1, wv), kRtol, kAtol);

  // assign() writes (beta = 0) whatever the destination held.
  NDArray d = nd::full(Shape{M, N}, std::numeric_limits<double>::quiet_NaN(), ctx);
  d.assign(nd::dot(a, b));
  check_close(d, ab, kRtol, kAtol);
}

MIXT_DEVICE_TEST("dot: a zero scale keeps the product's inf and NaN, as the unfused `* 0` does") {
  // A BLAS may read no operand when alpha is 0 (the portable GEMM does not; OpenBLAS 0.3.21 still does); 0 * inf
  // and 0 * NaN must give NaN either way.
  auto ctx = Device::ctx();
  const int64_t M = 3, N = 4, K = 5;
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> av(size_t(M * K), 0.5), bv(size_t(K * N), -1.0), cv(size_t(M * N));
  av[0] = inf;          // row 0 of the product is -inf
  bv[1 * N + 2] = nan;  // column 2 is NaN
  for (size_t i = 0; i < cv.size(); ++i) cv[i] = double(i) - 4;
  NDArray a = nd::array(av, Shape{M, K}, ctx), b = nd::array(bv, Shape{K, N}, ctx);
  // 0 * P (P by a double loop), then written, added to c or subtracted from it.
  auto expected = [&](int mode) {
    std::vector<double> want(size_t(M * N));
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double p = 0;
        for (int64_t k = 0; k < K; ++k) p += av[size_t(i * K + k)] * bv[size_t(k * N + j)];
        const double c = cv[size_t(i * N + j)];
        want[size_t(i * N + j)] = mode == 0 ? 0 * p : mode == 1 ? c + 0 * p : c - 0 * p;
      }
    return want;
  };
  auto check_same = [&](const NDArray& got, const std::vector<double>& want) {
    const std::vector<double> g = got.to_vector<double>();
    REQUIRE(g.size() == want.size());
    for (size_t i = 0; i < g.size(); ++i) {
      CAPTURE(i);
      CHECK(std::isnan(g[i]) == std::isnan(want[i]));
      if (!std::isnan(want[i])) CHECK(g[i] == want[i]);
    }
  };
  check_same(NDArray(nd::dot(a, b) * 0), expected(0));
  check_same(NDArray(0.0 * nd::dot(a, b) / 2), expected(0));
  NDArray c = nd::array(cv, Shape{M, N}, ctx);
  c += 0.f * nd::dot(a, b);
  check_same(c, expected(1));
  c = nd::array(cv, Shape{M, N}, ctx);
  c -= nd::dot(a, b) * 0;
  check_same(c, expected(2));
  NDArray d = nd::full(Shape{M, N}, nan, ctx);  // `=` still ignores what the destination held
  d.assign(nd::dot(a, b) * 0);
  check_same(d, expected(0));
  c = nd::array(cv, Shape{M, N}, ctx);  // the destination is an operand: through the temporary
  NDArray sq = nd::array(std::vector<double>(size_t(N * N), 1.0), Shape{N, N}, ctx);
  sq.at(0).assign(nd::full(Shape{N}, inf, ctx));
  c += nd::dot(c, sq) * 0;
  const std::vector<double> after = c.to_vector<double>();
  for (size_t i = 0; i < after.size(); ++i) CHECK(std::isnan(after[i]));  // every row meets the inf
}

MIXT_DEVICE_TEST("dot: inside element-wise expressions the product is materialized") {
  auto ctx = Device::ctx();
  const int64_t M = 6, N = 10, K = 7;
  auto av = stored(random_values(size_t(M * K), -1, 1, 21)), bv = stored(random_values(size_t(K * N), -1, 1, 22));
  auto biasv = stored(random_values(size_t(N), -1, 1, 23));
  NDArray a = nd::array(av, Shape{M, K}, ctx), b = nd::array(bv, Shape{K, N}, ctx), bias = nd::array(biasv, Shape{N}, ctx);
  const auto ab = ref_matmul(false, false, M, N, K, av, K, bv, N);
  std::vector<double> want(ab.size());
  for (size_t i = 0; i < ab.size(); ++i) want[i] = ab[i] + biasv[i % size_t(N)];
  check_close(NDArray(nd::dot(a, b) + bias), want, kRtol, kAtol);
  for (size_t i = 0; i < ab.size(); ++i) want[i] = ab[i] + 1;
  check_close(NDArray(nd::dot(a, b) + 1.f), want, kRtol, kAtol);
  for (size_t i = 0; i < ab.size(); ++i) want[i] = std::max(0.0, 2 * ab[i]);
  check_close(NDArray(relu(2.f * nd::dot(a, b))), want, kRtol, kAtol);
  // *= and /= apply the product element-wise.
  auto cv = stored(random_values(size_t(M * N), 1, 2, 24));
  NDArray c = nd::array(cv, Shape{M, N}, ctx);
  c *= nd::dot(a, b);
  for (size_t i = 0; i < ab.size(); ++i) want[i] = cv[i] * ab[i];
  check_close(c, want, kRtol, kAtol);
  // A destination the product does not broadcast to: the error names dot and both shapes (it named *=).
  NDArray wrong = nd::zeros(Shape{N, M}, ctx);
  try {
    wrong /= nd::dot(a, b);
    FAIL("expected a shape error");
  } catch (const Error& e) {
    CHECK(e.op() == "dot");
    CHECK(std::string(e.what()).find("destination of /=") != std::string::npos);
  }
  // One it does broadcast to: (M, N) *= (1, N).
  NDArray row = nd::dot(a.slice(0, 1), b);
  NDArray wide = nd::ones(Shape{M, N}, ctx);
  wide *= nd::dot(a.slice(0, 1), b);
  check_close(wide, [&] {
    std::vector<double> w(size_t(M * N));
    const auto r = row.to_vector<double>();
    for (size_t i = 0; i < w.size(); ++i) w[i] = r[i % size_t(N)];
    return w;
  }(), kRtol, kAtol);
}

MIXT_DEVICE_TEST("dot: operands and destinations may be views with offsets") {
  auto ctx = Device::ctx();
  const int64_t M = 7, N = 33, K = 19;
  auto big_a = stored(random_values(size_t((M + 5) * K), -1, 1, 31));
  auto big_b = stored(random_values(size_t((K + 3) * N), -1, 1, 32));
  NDArray A = nd::array(big_a, Shape{M + 5, K}, ctx), Bm = nd::array(big_b, Shape{K + 3, N}, ctx);
  NDArray a = A.slice(4, 4 + M), b = Bm.slice(2, 2 + K);
  std::vector<double> av(big_a.begin() + 4 * K, big_a.begin() + (4 + M) * K);
  std::vector<double> bv(big_b.begin() + 2 * N, big_b.begin() + (2 + K) * N);
  const auto ab = ref_matmul(false, false, M, N, K, av, K, bv, N);
  check_close(NDArray(nd::dot(a, b)), ab, kRtol, kAtol);

  // Write into rows [2, 2+M) of a larger array; the other rows keep their values.
  auto cv = stored(random_values(size_t((M + 4) * N), -1, 1, 33));
  NDArray C = nd::array(cv, Shape{M + 4, N}, ctx);
  NDArray rows = C.slice(2, 2 + M);
  rows += nd::dot(a, b);
  std::vector<double> want = cv;
  for (size_t i = 0; i < ab.size(); ++i) want[size_t(2 * N) + i] += ab[i];
  check_close(C, want, kRtol, kAtol);

  // A 3-D batch entry (at()) as an operand.
  NDArray T3 = nd::array(big_a, Shape{2, 6, K}, ctx);
  std::vector<double> second(big_a.begin() + 6 * K, big_a.begin() + 12 * K);
  check_close(NDArray(nd::dot(T3.at(1), b)), ref_matmul(false, false, 6, N, K, second, K, bv, N), kRtol, kAtol);
}

MIXT_DEVICE_TEST("dot: a destination sharing storage with an operand is computed through a temporary") {
  auto ctx = Device::ctx();
  const int64_t n = 12;
  auto cv = stored(random_values(size_t(n * n), -1, 1, 41)), bv = stored(random_values(size_t(n * n), -1, 1, 42));
  NDArray c = nd::array(cv, Shape{n, n}, ctx), b = nd::array(bv, Shape{n, n}, ctx);
  c += nd::dot(c, b);
  check_close(c, axpby(1, ref_matmul(false, false, n, n, n, cv, n, bv, n), 1, cv), kRtol, kAtol);

  // Rows [0, 4) of x = rows [4, 8) of x times b: same storage, distinct memory.
  auto xv = stored(random_values(size_t(8 * n), -1, 1, 43));
  NDArray x = nd::array(xv, Shape{8, n}, ctx);
  x.slice(0, 4).assign(nd::dot(x.slice(4, 8), b));
  std::vector<double> lower(xv.begin() + 4 * n, xv.end());
  auto want = ref_matmul(false, false, 4, n, n, lower, n, bv, n);
  want.insert(want.end(), lower.begin(), lower.end());
  check_close(x, want, kRtol, kAtol);
}

MIXT_DEVICE_TEST("dot: N-D operands sum over the last axis of lhs and the first axis of rhs") {
  auto ctx = Device::ctx();
  // (2,3,4) . (4,5) -> (2,3,5); (3,4) . (4,2,5) -> (3,2,5); (2,3,4) . (4,2,2) -> (2,3,2,2): out[i..., j...] =
  // sum_t lhs[i..., t] * rhs[t, j...], i.e. flattened row-major indices.
  struct Case { Shape l, r, out; };
  const Case cases[] = {{{2, 3, 4}, {4, 5}, {2, 3, 5}},
                        {{3, 4}, {4, 2, 5}, {3, 2, 5}},
                        {{2, 3, 4}, {4, 2, 2}, {2, 3, 2, 2}},
                        {{2, 1, 3, 7}, {7, 1}, {2, 1, 3, 1}}};
  uint64_t seed = 50;
  for (const Case& c : cases) {
    CAPTURE(c.l.to_string());
    auto lv = stored(random_values(size_t(c.l.size()), -1, 1, seed++));
    auto rv = stored(random_values(size_t(c.r.size()), -1, 1, seed++));
    const int64_t K = c.l[c.l.ndim() - 1], M = c.l.size() / K, N = c.r.size() / K;
    std::vector<double> want(size_t(M * N), 0.0);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j)
        for (int64_t t = 0; t < K; ++t) want[size_t(i * N + j)] += lv[size_t(i * K + t)] * rv[size_t(t * N + j)];
    NDArray out = nd::dot(nd::array(lv, c.l, ctx), nd::array(rv, c.r, ctx));
    CHECK(out.shape() == c.out);
    check_close(out, want, kRtol, kAtol);
  }
  // transpose_a on N-D sums over lhs's FIRST axis, transpose_b over rhs's LAST axis (MXNet):
  // (4,2,3) ta . (4,5) -> (2,3,5): out[j,k,n] = sum_t l[t,j,k] r[t,n];  (2,4) . (3,5,4) tb -> (2,3,5).
  auto lv = stored(random_values(24, -1, 1, 60)), rv = stored(random_values(20, -1, 1, 61));
  NDArray ta = nd::dot(nd::array(lv, Shape{4, 2, 3}, ctx), nd::array(rv, Shape{4, 5}, ctx), true, false);
  CHECK(ta.shape() == Shape{2, 3, 5});
  check_close(ta, ref_matmul(true, false, 6, 5, 4, lv, 6, rv, 5), kRtol, kAtol);
  auto l2 = stored(random_values(8, -1, 1, 62)), r2 = stored(random_values(60, -1, 1, 63));
  NDArray tb = nd::dot(nd::array(l2, Shape{2, 4}, ctx), nd::array(r2, Shape{3, 5, 4}, ctx), false, true);
  CHECK(tb.shape() == Shape{2, 3, 5});
  check_close(tb, ref_matmul(false, true, 2, 15, 4, l2, 4, r2, 4), kRtol, kAtol);
}

MIXT_DEVICE_TEST("dot: 1-D operands are vectors; 1-D . 1-D is the inner product of shape (1,)") {
  auto ctx = Device::ctx();
  const int64_t n = 37, m = 5;
  auto uv = stored(random_values(size_t(n), -1, 1, 70)), vv = stored(random_values(size_t(n), -1, 1, 71));
  auto mv = stored(random_values(size_t(n * m), -1, 1, 72));
  NDArray u = nd::array(uv, Shape{n}, ctx), v = nd::array(vv, Shape{n}, ctx);
  NDArray inner = nd::dot(u, v);
  CHECK(inner.shape() == Shape{1});
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += uv[size_t(i)] * vv[size_t(i)];
  check_close(inner, {s}, kRtol, kAtol);
  // Transpose flags on vectors change nothing (a vector is its own transpose).
  check_close(NDArray(nd::dot(u.T(), v, true, true)), {s}, kRtol, kAtol);

  NDArray mat = nd::array(mv, Shape{n, m}, ctx);  // (n,) . (n, m) -> (m,)
  NDArray um = nd::dot(u, mat);
  CHECK(um.shape() == Shape{m});
  check_close(um, ref_matmul(false, false, 1, m, n, uv, n, mv, m), kRtol, kAtol);
  NDArray mt = nd::array(mv, Shape{m, n}, ctx);  // (m, n) . (n,) -> (m,)
  NDArray mu = nd::dot(mt, u);
  CHECK(mu.shape() == Shape{m});
  check_close(mu, ref_matmul(false, false, m, 1, n, mv, n, uv, 1), kRtol, kAtol);
  // (n,) . (m, n) with transpose_b -> (m,)
  check_close(NDArray(nd::dot(u, mt, false, true)), ref_matmul(false, false, m, 1, n, mv, n, uv, 1), kRtol, kAtol);
  // (n,) . (n, 2, 3) -> (2, 3)
  NDArray u3 = nd::dot(u, nd::array(stored(random_values(size_t(n * 6), -1, 1, 73)), Shape{n, 2, 3}, ctx));
  CHECK(u3.shape() == Shape{2, 3});
}

MIXT_DEVICE_TEST("dot: empty dimensions give empty or zero results") {
  auto ctx = Device::ctx();
  NDArray z = nd::dot(nd::zeros(Shape{3, 0}, ctx), nd::zeros(Shape{0, 4}, ctx));
  CHECK(z.shape() == Shape{3, 4});
  check_close(z, std::vector<double>(12, 0.0));
  NDArray c = nd::ones(Shape{3, 4}, ctx);
  c += nd::dot(nd::zeros(Shape{3, 0}, ctx), nd::zeros(Shape{0, 4}, ctx));
  check_close(c, std::vector<double>(12, 1.0));
  NDArray e = nd::dot(nd::zeros(Shape{0, 5}, ctx), nd::zeros(Shape{5, 4}, ctx));
  CHECK(e.shape() == Shape{0, 4});
}

MIXT_DEVICE_TEST("batch_dot: (B,M,K) . (B,K,N) with the four transpose combinations, alpha and +=") {
  auto ctx = Device::ctx();
  const int64_t B = 3, M = 7, N = 33, K = 17;
  uint64_t seed = 80;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    CAPTURE(t);
    auto av = stored(random_values(size_t(B * M * K), -1, 1, seed++));
    auto bv = stored(random_values(size_t(B * K * N), -1, 1, seed++));
    auto cv = stored(random_values(size_t(B * M * N), -1, 1, seed++));
    NDArray a = nd::array(av, ta ? Shape{B, K, M} : Shape{B, M, K}, ctx);
    NDArray b = nd::array(bv, tb ? Shape{B, N, K} : Shape{B, K, N}, ctx);
    std::vector<double> want;
    for (int64_t i = 0; i < B; ++i) {
      std::vector<double> ai(av.begin() + i * M * K, av.begin() + (i + 1) * M * K);
      std::vector<double> bi(bv.begin() + i * K * N, bv.begin() + (i + 1) * K * N);
      auto ci = ref_matmul(ta, tb, M, N, K, ai, ta ? M : K, bi, tb ? K : N);
      want.insert(want.end(), ci.begin(), ci.end());
    }
    NDArray c = nd::batch_dot(a, b, ta, tb);
    CHECK(c.shape() == Shape{B, M, N});
    check_close(c, want, kRtol, kAtol);
    NDArray acc = nd::array(cv, Shape{B, M, N}, ctx);
    acc -= 0.5f * nd::batch_dot(a, b, ta, tb);
    check_close(acc, axpby(-0.5, want, 1, cv), kRtol, kAtol);
  }
}

MIXT_DEVICE_TEST("dot: float64 operands are computed in double precision") {
  auto ctx = Device::ctx();
  const int64_t M = 33, N = 7, K = 257;
  auto av = random_values(size_t(M * K), -1, 1, 90), bv = random_values(size_t(K * N), -1, 1, 91);
  auto cv = random_values(size_t(M * N), -1, 1, 92);
  NDArray a = nd::array(av, Shape{M, K}, ctx, DType::float64), b = nd::array(bv, Shape{N, K}, ctx, DType::float64);
  NDArray c = nd::dot(a, b, false, true);
  CHECK(c.dtype() == DType::float64);
  const auto ab = ref_matmul(false, true, M, N, K, av, K, bv, K);
  check_close(c, ab, 1e-12, 1e-12);
  NDArray d = nd::array(cv, Shape{M, N}, ctx, DType::float64);
  d += 3.0 * nd::dot(a, b, false, true);
  check_close(d, axpby(3, ab, 1, cv), 1e-12, 1e-12);
  // batch_dot in double
  auto xv = random_values(2 * 5 * 9, -1, 1, 93), yv = random_values(2 * 9 * 4, -1, 1, 94);
  NDArray bd = nd::batch_dot(nd::array(xv, Shape{2, 5, 9}, ctx, DType::float64), nd::array(yv, Shape{2, 9, 4}, ctx, DType::float64));
  std::vector<double> want;
  for (int i = 0; i < 2; ++i) {
    std::vector<double> xi(xv.begin() + i * 45, xv.begin() + (i + 1) * 45), yi(yv.begin() + i * 36, yv.begin() + (i + 1) * 36);
    auto ci = ref_matmul(false, false, 5, 4, 9, xi, 9, yi, 4);
    want.insert(want.end(), ci.begin(), ci.end());
  }
  check_close(bd, want, 1e-12, 1e-12);
}

MIXT_DEVICE_TEST("dot: errors name the operator, the shapes, dtypes and contexts") {
  auto ctx = Device::ctx();
  NDArray a = nd::ones(Shape{2, 3}, ctx), b = nd::ones(Shape{4, 5}, ctx);
  CHECK(error_of([&] { NDArray c = nd::dot(a, b); }).find(
            "mixt::Error in dot: shapes (2, 3) and (4, 5) are not aligned: 3 (lhs axis 1) != 4 (rhs axis 0)") == 0);
  CHECK(error_of([&] { NDArray c = nd::dot(a, b, true, false); }).find("2 (lhs axis 0, transpose_a) != 4") !=
        std::string::npos);
  CHECK(error_of([&] { NDArray c = nd::dot(nd::ones(Shape{3}, ctx), nd::ones(Shape{4}, ctx)); }).find("not aligned") !=
        std::string::npos);
  std::string e = error_of([&] { NDArray c = nd::dot(a, nd::ones(Shape{3, 2}, ctx, DType::float64)); });
  CHECK(e.find("dot") != std::string::npos);
  CHECK(e.find("float32") != std::string::npos);
  CHECK(e.find("float64") != std::string::npos);
  e = error_of([&] { NDArray c = nd::dot(nd::ones(Shape{2, 3}, ctx, DType::int32), nd::ones(Shape{3, 2}, ctx, DType::int32)); });
  CHECK(e.find("mixt::Error in dot") == 0);
  CHECK(e.find("int32") != std::string::npos);
  CHECK(error_of([&] { NDArray c = nd::dot(nd::zeros(Shape{}, ctx), a); }).find("at least 1 dimension") != std::string::npos);
  CHECK(error_of([&] { NDArray c = nd::dot(nd::ones(Shape{2, 2, 2}, ctx).T(), a.T()); }).find("only for 1-D and 2-D") !=
        std::string::npos);
  // The destination of += must have the product's shape.
  NDArray wrong = nd::zeros(Shape{3, 3}, ctx);
  e = error_of([&] { wrong += nd::dot(a, nd::ones(Shape{3, 2}, ctx)); });
  CHECK(e.find("the product has shape (2, 2)") != std::string::npos);
  CHECK(e.find("(3, 3)") != std::string::npos);
  // batch_dot
  e = error_of([&] { NDArray c = nd::batch_dot(nd::ones(Shape{2, 3, 4}, ctx), nd::ones(Shape{3, 4, 5}, ctx)); });
  CHECK(e.find("mixt::Error in batch_dot: batch sizes differ") == 0);
  e = error_of([&] { NDArray c = nd::batch_dot(nd::ones(Shape{2, 3, 4}, ctx), nd::ones(Shape{2, 5, 6}, ctx)); });
  CHECK(e.find("shapes (2, 3, 4) and (2, 5, 6) are not aligned: 4 (lhs axis 2) != 5 (rhs axis 1)") != std::string::npos);
  CHECK(error_of([&] { NDArray c = nd::batch_dot(a, a); }).find("3-D") != std::string::npos);
#if !MIXT_TEST_GPU
  CHECK(error_of([&] { NDArray c = nd::dot(a, NDArray(Shape{3, 2}, gpu(0))); }).find("without CUDA") != std::string::npos);
#else
  e = error_of([&] { NDArray c = nd::dot(a, nd::ones(Shape{3, 2}, cpu())); });
  CHECK(e.find("different contexts") != std::string::npos);
#endif
}

TEST_CASE("blas: the portable GEMMs (used when MIXT_USE_CBLAS is 0) match a double loop") {
  // Sizes around the register tile (6 x 16 floats, 6 x 8 doubles), the depth block (256 floats, 128 doubles), the
  // row block (96) and the column block (4096), and the compact GEMM's blocks (128 deep, 512 wide); padded leading
  // dimensions; beta 0 (C must not be read: it holds NaN), 1 and 0.5; one thread and the whole pool (row and
  // column splits).
  struct Case { int64_t M, N, K; };
  const Case cases[] = {{1, 1, 1},     {5, 15, 3},   {6, 16, 256}, {7, 17, 257}, {13, 33, 129}, {97, 31, 600},
                        {200, 50, 70}, {3, 300, 40}, {2, 4100, 9}, {61, 1, 300}, {1, 70, 513}};
  const int pool = num_threads();
  uint64_t seed = 100;
  for (int threads : {1, pool}) {
    set_num_threads(threads);
    for (const Case& c : cases)
      for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        const int64_t lda = (ta ? c.M : c.K) + 3, ldb = (tb ? c.K : c.N) + 1, ldc = c.N + 2;
        const int64_t arows = ta ? c.K : c.M, brows = tb ? c.N : c.K;
        auto av = stored(random_values(size_t(arows * lda), -1, 1, seed++));
        auto bv = stored(random_values(size_t(brows * ldb), -1, 1, seed++));
        auto cv = stored(random_values(size_t(c.M * ldc), -1, 1, seed++));
        auto want = ref_matmul(ta, tb, c.M, c.N, c.K, av, lda, bv, ldb);
        CAPTURE(threads);
        CAPTURE(c.M);
        CAPTURE(c.N);
        CAPTURE(c.K);
        CAPTURE(t);
        for (double beta : {0.0, 1.0, 0.5}) {
          const double alpha = beta == 0.5 ? -0.7 : 1.0;
          std::vector<float> af(av.begin(), av.end()), bf(bv.begin(), bv.end()), cf(cv.begin(), cv.end());
          std::vector<double> ad = av, bd = bv, cd = cv, cc = cv;
          if (beta == 0) {
            std::fill(cf.begin(), cf.end(), std::numeric_limits<float>::quiet_NaN());
            std::fill(cd.begin(), cd.end(), std::numeric_limits<double>::quiet_NaN());
            std::fill(cc.begin(), cc.end(), std::numeric_limits<double>::quiet_NaN());
          }
          blas::portable_gemm<float>(ta, tb, c.M, c.N, c.K, float(alpha), af.data(), lda, bf.data(), ldb,
                                     float(beta), cf.data(), ldc);
          blas::portable_gemm<double>(ta, tb, c.M, c.N, c.K, alpha, ad.data(), lda, bd.data(), ldb, beta,
                                      cd.data(), ldc);
          blas::compact_gemm<double>(ta, tb, c.M, c.N, c.K, alpha, ad.data(), lda, bd.data(), ldb, beta, cc.data(),
                                     ldc);
          std::vector<double> gotf, gotd, gotc, expect;
          for (int64_t i = 0; i < c.M; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              // Columns past N (the padding of ldc) must be left alone.
              const double old = beta == 0 && j < c.N ? 0 : cv[size_t(i * ldc + j)];
              expect.push_back(j < c.N ? alpha * want[size_t(i * c.N + j)] + beta * old : old);
              gotf.push_back(cf[size_t(i * ldc + j)]);
              gotd.push_back(cd[size_t(i * ldc + j)]);
              gotc.push_back(cc[size_t(i * ldc + j)]);
            }
          if (beta == 0)  // the padding columns were NaN
            for (int64_t i = 0; i < c.M; ++i)
              for (int64_t j = c.N; j < ldc; ++j) expect[size_t(i * ldc + j)] = std::numeric_limits<double>::quiet_NaN();
          check_close(gotf, expect, 1e-4, 2e-4);
          check_close(gotd, expect, 1e-12, 1e-12);
          check_close(gotc, expect, 1e-12, 1e-12);
        }
      }
  }
  set_num_threads(pool);
}

TEST_CASE("blas: the portable GEMMs with K = 0 scale C by beta, and M or N = 0 does nothing") {
  std::vector<double> d(6, 2.0);
  blas::compact_gemm<double>(false, false, 2, 3, 0, 1.0, nullptr, 1, nullptr, 3, 0.5, d.data(), 3);
  check_close(d, std::vector<double>(6, 1.0), 0, 0);
  blas::compact_gemm<double>(false, false, 0, 3, 5, 1.0, nullptr, 5, nullptr, 3, 0.0, nullptr, 3);
  std::vector<float> c(6, 2.f);
  blas::portable_gemm<float>(false, false, 2, 3, 0, 1.f, nullptr, 1, nullptr, 3, 0.5f, c.data(), 3);
  check_close(std::vector<double>(c.begin(), c.end()), std::vector<double>(6, 1.0), 0, 0);
  blas::portable_gemm<float>(false, false, 2, 3, 0, 1.f, nullptr, 1, nullptr, 3, 0.f, c.data(), 3);
  check_close(std::vector<double>(c.begin(), c.end()), std::vector<double>(6, 0.0), 0, 0);
  blas::portable_gemm<float>(false, false, 0, 3, 5, 1.f, nullptr, 5, nullptr, 3, 0.f, nullptr, 3);
}

TEST_CASE("dot: the portable GEMMs with alpha 0 read neither operand: C = beta * C even beside inf and NaN") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<float> af(6, float(inf)), bf(6, float(nan)), cf(4, 2.f);
  std::vector<double> ad(6, inf), bd(6, nan), cd(4, 2.0), cc(4, 2.0);
  blas::portable_gemm<float>(false, false, 2, 2, 3, 0.f, af.data(), 3, bf.data(), 2, 0.5f, cf.data(), 2);
  blas::portable_gemm<double>(false, false, 2, 2, 3, 0.0, ad.data(), 3, bd.data(), 2, 0.5, cd.data(), 2);
  blas::compact_gemm<double>(false, false, 2, 2, 3, 0.0, ad.data(), 3, bd.data(), 2, 0.5, cc.data(), 2);
  check_close(std::vector<double>(cf.begin(), cf.end()), std::vector<double>(4, 1.0), 0, 0);
  check_close(cd, std::vector<double>(4, 1.0), 0, 0);
  check_close(cc, std::vector<double>(4, 1.0), 0, 0);
}

TEST_CASE("dot: transpose_a on an x.T() operand transposes it back, as transpose_b does") {
  const int64_t n = 4, k = 3;
  auto sv = mixt::testing::as_stored(random_values(size_t(n * n), -1, 1, 7));
  auto xv = mixt::testing::as_stored(random_values(size_t(n * k), -1, 1, 8));
  NDArray sq = nd::array(sv, Shape{n, n}, cpu()), x = nd::array(xv, Shape{n, k}, cpu());
  check_close(NDArray(nd::dot(sq.T(), x, true, false)), NDArray(nd::dot(sq, x)).to_vector<double>(), 1e-5, 1e-6);
}

TEST_CASE("dot: a destination that is also an operand gets the product of the old values, past one GEMM block") {
  // A 12 x 12 product is packed whole before C is written, so writing into an operand only shows on large ones.
  const int64_t n = 700;
  auto cv = mixt::testing::as_stored(random_values(size_t(n * n), -1, 1, 41));
  auto bv = mixt::testing::as_stored(random_values(size_t(n * n), -1, 1, 42));
  std::vector<double> want(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k) {
      const double aik = cv[size_t(i * n + k)];
      for (int64_t j = 0; j < n; ++j) want[size_t(i * n + j)] += aik * bv[size_t(k * n + j)];
    }
  NDArray c = nd::array(cv, Shape{n, n}, cpu()), b = nd::array(bv, Shape{n, n}, cpu());
  c.assign(nd::dot(c, b));  // the left operand
  check_close(c, want, 1e-4, 1e-3);
  c = nd::array(cv, Shape{n, n}, cpu());
  b.assign(nd::dot(c, b));  // the right operand
  check_close(b, want, 1e-4, 1e-3);
}
