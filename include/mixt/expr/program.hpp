// Programs: fused element-wise expressions whose operations are known at run time rather than in a type. A program
// is a list of instructions over array leaves and constants, in the same vocabulary as expression nodes (the
// fn:: functors); program_plan.hpp evaluates one as a single fused kernel.
//
// Autograd uses them. An expression recorded for backward is turned into a program (to_program: a few calls per
// node), and its adjoints are derived and evaluated at run time (autograd/program_derivatives.hpp). Compiling
// each expression's adjoint kernels from its type, as mixt did before, cost g++ about 0.4 s per expression (two
// to three times the expression's own kernel); a program costs each expression only to_program, and the
// evaluator is compiled once, into programs that turn recording on. The price is speed: an interpreted kernel
// takes 1.05 - 1.5x the time of the typed one (the more math, the more), a whole backward 1.1 - 1.5x
// (bench_autograd, benchmarks/RESULTS.md).
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

#include "../core/inline_vector.hpp"
#include "nodes.hpp"
#include "strided.hpp"

namespace mixt::expr {

// The functors a program can apply, by arity. Each list names fn:: structs; Op has one value per entry.
#define MIXT_PROGRAM_UNARY_OPS(X)                                                                              \
  X(negative) X(exp) X(log) X(log1p) X(expm1) X(sqrt) X(rsqrt) X(square) X(abs) X(sign) X(sin) X(cos) X(tanh)  \
  X(sigmoid) X(relu) X(softrelu) X(erf) X(floor) X(ceil) X(round) X(identity)
#define MIXT_PROGRAM_BINARY_OPS(X)                                                                             \
  X(plus) X(minus) X(mul) X(div) X(power) X(maximum) X(minimum) X(equal) X(not_equal) X(lesser)              \
  X(lesser_equal) X(greater) X(greater_equal)
#define MIXT_PROGRAM_TERNARY_OPS(X) X(where) X(clip)

enum class Op : uint8_t {
  leaf,      ///< array leaf number `a`
  constant,  ///< constant number `a`
#define MIXT_PROGRAM_OP_VALUE(F) F,
  MIXT_PROGRAM_UNARY_OPS(MIXT_PROGRAM_OP_VALUE) MIXT_PROGRAM_BINARY_OPS(MIXT_PROGRAM_OP_VALUE)
      MIXT_PROGRAM_TERNARY_OPS(MIXT_PROGRAM_OP_VALUE)
#undef MIXT_PROGRAM_OP_VALUE
};

/// The Op of functor F.
template <class F>
constexpr Op op_of() {
#define MIXT_PROGRAM_OP_OF(G) if constexpr (std::is_same_v<F, fn::G>) return Op::G; else
  MIXT_PROGRAM_UNARY_OPS(MIXT_PROGRAM_OP_OF) MIXT_PROGRAM_BINARY_OPS(MIXT_PROGRAM_OP_OF)
      MIXT_PROGRAM_TERNARY_OPS(MIXT_PROGRAM_OP_OF) static_assert(sizeof(F) == 0, "a functor without an Op");
#undef MIXT_PROGRAM_OP_OF
}

/// How many operands an instruction reads (leaves and constants read none: `a` numbers a leaf or a constant).
constexpr int op_arity(Op op) {
  if (op <= Op::constant) return 0;
  if (op <= Op::identity) return 1;
  if (op <= Op::greater_equal) return 2;
  return 3;
}

/// One instruction: op applied to the values of earlier instructions a, b, c (as many as its arity; -1 past it).
struct Instr {
  Op op;
  int a = -1, b = -1, c = -1;
};

/// How an array leaf was read: as stored (possibly broadcast), transposed (x.T()), or through other strides
/// (transpose with axes, slice_axis).
enum class LeafKind : uint8_t { plain, transposed, strided };

/// The instructions and constants of a program, in evaluation order (operands before their users); the last
/// instruction is the value.
struct ProgramCode {
  detail::InlineVector<Instr, 32> code;
  detail::InlineVector<double, 8> constants;

  int output() const { return int(code.size()) - 1; }

  // Out of line: every node of every recorded expression calls them.
  [[gnu::noinline]] int add(Op op, int a = -1, int b = -1, int c = -1) {
    const int arity = op_arity(op);
    code.push_back(Instr{op, a, arity > 1 ? b : -1, arity > 2 ? c : -1});
    return output();
  }
  /// The instruction of constant v: one per distinct value (bit for bit: 0 and -0 differ), read by every user.
  [[gnu::noinline]] int add_constant(double v) {
    for (size_t i = 0; i < code.size(); ++i)
      if (code[i].op == Op::constant &&
          std::bit_cast<uint64_t>(constants[size_t(code[i].a)]) == std::bit_cast<uint64_t>(v))
        return int(i);
    constants.push_back(v);
    return add(Op::constant, int(constants.size()) - 1);
  }
};

/// How a program reads one array leaf.
struct LeafRead {
  LeafView view;       ///< the shape it presents and its element strides into the array
  int64_t offset = 0;  ///< in elements, added to the array's first element
  LeafKind kind = LeafKind::plain;
};

/// A program as to_program writes it: plain data, its leaves pointing at the expression's arrays (valid while the
/// expression lives). Program takes the arrays' handles; only code that records does.
struct ProgramDraft : ProgramCode {
  detail::InlineVector<const NDArray*, 8> arrays;
  detail::InlineVector<LeafRead, 8> reads;

  [[gnu::noinline]] int add_leaf(const NDArray& a, const LeafView& v, int64_t offset, LeafKind kind) {
    arrays.push_back(&a);
    reads.push_back(LeafRead{v, offset, kind});
    return add(Op::leaf, int(arrays.size()) - 1);
  }
};

struct ProgramLeaf : LeafRead {
  NDArray array;
};

/// A program holding its leaves' arrays.
struct Program : ProgramCode {
  std::vector<ProgramLeaf> leaves;

  Program() = default;
  explicit Program(const ProgramDraft& d) : ProgramCode(d) {
    for (size_t k = 0; k < d.arrays.size(); ++k) leaves.push_back(ProgramLeaf{d.reads[k], *d.arrays[k]});
  }

  int add_leaf(const NDArray& a, const LeafView& v, int64_t offset, LeafKind kind) {
    leaves.push_back(ProgramLeaf{{v, offset, kind}, a});
    return add(Op::leaf, int(leaves.size()) - 1);
  }

  /// The program computing instruction `out` alone: unused instructions, constants and leaves dropped.
  Program pruned(int out) const {
    detail::InlineVector<int, 32> map;
    map.assign(size_t(out) + 1, -1);
    map[size_t(out)] = 0;  // marks what `out` needs, walking down
    for (int i = out; i >= 0; --i) {
      if (map[size_t(i)] < 0) continue;
      const Instr& in = code[size_t(i)];
      const int ops[3] = {in.a, in.b, in.c};
      for (int j = 0; j < op_arity(in.op); ++j) map[size_t(ops[j])] = 0;
    }
    Program p;
    for (int i = 0; i <= out; ++i) {
      if (map[size_t(i)] < 0) continue;
      const Instr& in = code[size_t(i)];
      if (in.op == Op::leaf) {
        const ProgramLeaf& l = leaves[size_t(in.a)];
        map[size_t(i)] = p.add_leaf(l.array, l.view, l.offset, l.kind);
      } else if (in.op == Op::constant) {
        map[size_t(i)] = p.add_constant(constants[size_t(in.a)]);
      } else {
        const int arity = op_arity(in.op);
        map[size_t(i)] = p.add(in.op, map[size_t(in.a)], arity > 1 ? map[size_t(in.b)] : -1,
                               arity > 2 ? map[size_t(in.c)] : -1);
      }
    }
    return p;
  }
};

// to_program: appends an expression's instructions (its leaves in tree order) and returns its value's index.
inline int to_program(ProgramDraft& p, const ArrayLeaf& n) {
  return p.add_leaf(n.array, contiguous_view(n.array.shape()), 0, LeafKind::plain);
}
inline int to_program(ProgramDraft& p, const Transposed<NDArray>& n) {
  return p.add_leaf(n.array, reversed_view(n.array.shape()), 0, LeafKind::transposed);
}
inline int to_program(ProgramDraft& p, const StridedLeaf& n) {
  return p.add_leaf(n.array, n.view, n.offset, LeafKind::strided);
}
inline int to_program(ProgramDraft& p, const ScalarLeaf& n) { return p.add_constant(n.value); }
template <class F, class A>
int to_program(ProgramDraft& p, const Unary<F, A>& n) {
  const int a = to_program(p, n.a);
  return p.add(op_of<F>(), a);
}
template <class F, class A, class B>
int to_program(ProgramDraft& p, const Binary<F, A, B>& n) {
  const int a = to_program(p, n.a);
  const int b = to_program(p, n.b);
  return p.add(op_of<F>(), a, b);
}
template <class F, class A, class B, class C>
int to_program(ProgramDraft& p, const Ternary<F, A, B, C>& n) {
  const int a = to_program(p, n.a);
  const int b = to_program(p, n.b);
  const int c = to_program(p, n.c);
  return p.add(op_of<F>(), a, b, c);
}

}  // namespace mixt::expr
