// Expression nodes: what `a + b`, `exp(a) * 2.f`, `where(c, a, b)` build. Nodes hold their operands by value
// (an NDArray leaf holds a handle), so an expression may outlive the variables it was written with.
//
// A fused node provides shape(), for_each_leaf(f) (its array leaves in tree order), plan<ET, S>(layout, k) and
// leaf_count (how many array leaves it has).
#pragma once

#include <type_traits>

#include "../ndarray/ndarray.hpp"
#include "layout.hpp"
#include "plans.hpp"
#include "scalar_math.hpp"

namespace mixt::expr {

/// An NDArray as an operand.
struct ArrayLeaf : ExprTag {
  static constexpr int leaf_count = 1;
  NDArray array;

  Shape shape() const { return array.shape(); }
  template <class F> void for_each_leaf(F&& f) const { f(array, contiguous_view(array.shape())); }
  template <class ET, class S>
  ArrayPlan<S, ET> plan(const Layout& L, int& k) const { return make_array_plan<ET, S>(array, L, k); }

  template <class ET, class S>
  static ArrayPlan<S, ET> make_array_plan(const NDArray& a, const Layout& L, int& k) {
    ArrayPlan<S, ET> p{};
    p.ptr = static_cast<const S*>(a.raw_data());
    p.ndim = L.ndim;
    for (int d = 0; d < kMaxDim; ++d) p.strides[d] = L.leaf_strides[k][d];
    ++k;
    return p;
  }
};

/// A lazily transposed array (x.T()): axes reversed. dot() folds it into a BLAS flag; elsewhere it is read
/// through reversed strides.
template <class T>
struct Transposed : ExprTag {
  static constexpr int leaf_count = 1;
  NDArray array;

  Shape shape() const { return reversed_shape(array.shape()); }
  template <class F> void for_each_leaf(F&& f) const { f(array, reversed_view(array.shape())); }
  template <class ET, class S>
  ArrayPlan<S, ET> plan(const Layout& L, int& k) const { return ArrayLeaf::make_array_plan<ET, S>(array, L, k); }
};

/// A scalar operand, converted to the expression's element type when evaluated: into an integer dtype it
/// saturates (NaN gives 0); for a float16 or bfloat16 expression it is rounded to that dtype first, as MXNet and
/// NumPy cast a scalar to the array's dtype, so that h + s is h + float16(s).
struct ScalarLeaf : ExprTag {
  static constexpr int leaf_count = 0;
  double value;

  Shape shape() const { return Shape{}; }
  template <class F> void for_each_leaf(F&&) const {}
  template <class ET, class S>
  ScalarPlan<ET> plan(const Layout&, int&) const {
    if constexpr (std::is_same_v<ET, S>) return {math::saturate_cast<ET>(value)};
    else return {static_cast<ET>(S(value))};
  }
};

template <class F, class A>
struct Unary : ExprTag {
  static constexpr int leaf_count = A::leaf_count;
  A a;

  Shape shape() const { return a.shape(); }
  template <class Fn> void for_each_leaf(Fn&& f) const { a.for_each_leaf(f); }
  template <class ET, class S>
  auto plan(const Layout& L, int& k) const {
    return UnaryPlan<F, decltype(a.template plan<ET, S>(L, k))>{a.template plan<ET, S>(L, k)};
  }
};

template <class F, class A, class B>
struct Binary : ExprTag {
  static constexpr int leaf_count = A::leaf_count + B::leaf_count;
  A a;
  B b;

  Shape shape() const { return broadcast_shapes(a.shape(), b.shape(), F::name); }
  template <class Fn> void for_each_leaf(Fn&& f) const { a.for_each_leaf(f); b.for_each_leaf(f); }
  template <class ET, class S>
  auto plan(const Layout& L, int& k) const {
    auto pa = a.template plan<ET, S>(L, k);
    auto pb = b.template plan<ET, S>(L, k);
    return BinaryPlan<F, decltype(pa), decltype(pb)>{pa, pb};
  }
};

template <class F, class A, class B, class C>
struct Ternary : ExprTag {
  static constexpr int leaf_count = A::leaf_count + B::leaf_count + C::leaf_count;
  A a;
  B b;
  C c;

  Shape shape() const { return broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), F::name), c.shape(), F::name); }
  template <class Fn> void for_each_leaf(Fn&& f) const { a.for_each_leaf(f); b.for_each_leaf(f); c.for_each_leaf(f); }
  template <class ET, class S>
  auto plan(const Layout& L, int& k) const {
    auto pa = a.template plan<ET, S>(L, k);
    auto pb = b.template plan<ET, S>(L, k);
    auto pc = c.template plan<ET, S>(L, k);
    return TernaryPlan<F, decltype(pa), decltype(pb), decltype(pc)>{pa, pb, pc};
  }
};

/// The name errors give the evaluation of a new array from e: its outermost operation's (MXNet's operator
/// names: elemwise_add, exp, ...), or "assign" for a bare leaf.
template <class E> inline constexpr const char* evaluation_name = "assign";
template <class F, class A> inline constexpr const char* evaluation_name<Unary<F, A>> = F::name;
template <class F, class A, class B> inline constexpr const char* evaluation_name<Binary<F, A, B>> = F::name;
template <class F, class A, class B, class C>
inline constexpr const char* evaluation_name<Ternary<F, A, B, C>> = F::name;

/// A node that turns into an NDArray by its own means (a BLAS call, say): it provides materialize() and
/// assign_into<Saver>(NDArray&) instead of a plan.
template <class T>
concept Materializable = ExprNode<T> && requires(const T& t) { { t.materialize() } -> std::same_as<NDArray>; };

/// A node evaluated by the fused element-wise machinery.
template <class T>
concept FusedNode = ExprNode<T> && !Materializable<T>;

}  // namespace mixt::expr
