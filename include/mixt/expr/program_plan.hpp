// The evaluator of a program (program.hpp): a plan, like those of expression nodes, that interprets the program's
// instructions. Before a kernel runs, schedule() gives every instruction a register (a slot), reusing the slots
// of values no longer needed.
//
// Two ways to run one:
//   lin(i) / at(idx)   one element at a time, every instruction in turn (CUDA: a thread per element);
//   run_chunk          the CPU: each instruction over a chunk of up to kChunk elements of a row, a packet loop per
//                      instruction, the chunk's values staying in L1. The interpretation costs one switch per
//                      instruction per chunk, so the kernel keeps the one pass over memory of a fused expression.
#pragma once

#include <cstdint>

#include "../core/error.hpp"
#include "functors.hpp"
#include "plans.hpp"
#include "program.hpp"

namespace mixt::expr {

inline constexpr int kProgramMaxSteps = 192;
inline constexpr int kProgramMaxSlots = 32;
inline constexpr int kProgramMaxLeaves = 16;
inline constexpr int kProgramMaxConstants = 32;

/// One instruction with registers: dst = op(a, b, c), or dst = leaf a, or dst = constant a.
struct Step {
  Op op;
  uint8_t dst, a, b, c;
};

/// A program's instructions with their registers assigned.
struct Schedule {
  int n_steps = 0, n_slots = 0, out_slot = 0;
  Step steps[kProgramMaxSteps];
};

/// Assigns registers: an instruction's operands that it reads last free their slots before it takes one (every
/// instruction computes element by element, so it may overwrite an operand). Constants have registers of their
/// own, never reused.
[[gnu::noinline]] inline Schedule schedule(const Program& p, const char* op) {
  const int n = int(p.code.size());
  if (n == 0) detail::fail(op, "an empty program");
  if (n > kProgramMaxSteps || p.leaves.size() > size_t(kProgramMaxLeaves) ||
      p.constants.size() > size_t(kProgramMaxConstants))
    detail::fail(op, "a fused expression may have at most ", kProgramMaxSteps, " operations, ", kProgramMaxLeaves,
                 " array operands and ", kProgramMaxConstants, " constants here; received ", n, ", ",
                 p.leaves.size(), " and ", p.constants.size(), " (evaluate part of it into an NDArray first)");
  int last_use[kProgramMaxSteps];
  for (int i = 0; i < n; ++i) last_use[i] = i;
  for (int i = 0; i < n; ++i) {
    const Instr& in = p.code[size_t(i)];
    const int ops[3] = {in.a, in.b, in.c};
    for (int j = 0; j < op_arity(in.op); ++j) last_use[ops[j]] = i;
  }
  last_use[n - 1] = n;  // the output stays
  Schedule s;
  s.n_steps = n;
  int slot_of[kProgramMaxSteps];
  auto new_slot = [&] {
    if (s.n_slots == kProgramMaxSlots)
      detail::fail(op, "a fused expression here may hold at most ", kProgramMaxSlots, " intermediate values at "
                   "once (evaluate part of it into an NDArray first)");
    return s.n_slots++;
  };
  for (int i = 0; i < n; ++i)  // constants first: the CPU fills their registers once per kernel
    if (p.code[size_t(i)].op == Op::constant) slot_of[i] = new_slot();
  int free_slots[kProgramMaxSlots], n_free = 0;
  for (int i = 0; i < n; ++i) {
    const Instr& in = p.code[size_t(i)];
    Step st{in.op, 0, uint8_t(in.a < 0 ? 0 : in.a), 0, 0};
    if (op_arity(in.op) > 0) {
      const int ops[3] = {in.a, in.b, in.c};
      uint8_t* regs[3] = {&st.a, &st.b, &st.c};
      for (int j = 0; j < op_arity(in.op); ++j) *regs[j] = uint8_t(slot_of[ops[j]]);
      for (int j = 0; j < op_arity(in.op); ++j) {
        const int o = ops[j];
        const bool repeated = (j > 0 && ops[0] == o) || (j > 1 && ops[1] == o);
        if (last_use[o] == i && !repeated && p.code[size_t(o)].op != Op::constant) free_slots[n_free++] = slot_of[o];
      }
    }
    if (in.op != Op::constant) slot_of[i] = n_free > 0 ? free_slots[--n_free] : new_slot();
    st.dst = uint8_t(slot_of[i]);
    s.steps[i] = st;
  }
  s.out_slot = slot_of[n - 1];
  return s;
}

/// A program's plan for storage type S computed in ET (a floating type). Trivially copyable, for the kernel.
template <class S, class ET>
struct ProgramPlan {
  static constexpr int W = pk::packet<ET>::size;
  /// Elements per CPU chunk: 512 bytes a register, 16 KiB for all of them.
  static constexpr int kChunk = 512 / int(sizeof(ET));
  static_assert(kChunk % W == 0);

  int n_steps = 0, n_leaves = 0, out_slot = 0;
  Step steps[kProgramMaxSteps];
  ET constants[kProgramMaxConstants];
  ArrayPlan<S, ET> leaves[kProgramMaxLeaves];

  /// Element i of a linear layout.
  MIXT_HD ET lin(int64_t i) const { return eval<true>(i, nullptr); }
  /// The element at a multi-index over the layout's collapsed axes.
  MIXT_HD ET at(const int64_t* idx) const { return eval<false>(0, idx); }

  template <bool Linear>
  MIXT_HD ET eval(int64_t i, const int64_t* idx) const {
    ET r[kProgramMaxSlots];
    for (int s = 0; s < n_steps; ++s) {
      const Step st = steps[s];
      ET v{};
      switch (st.op) {
        case Op::leaf: v = Linear ? leaves[st.a].lin(i) : leaves[st.a].at(idx); break;
        case Op::constant: v = constants[st.a]; break;
#define MIXT_PROGRAM_CASE1(F) case Op::F: v = fn::F::apply(r[st.a]); break;
#define MIXT_PROGRAM_CASE2(F) case Op::F: v = fn::F::apply(r[st.a], r[st.b]); break;
#define MIXT_PROGRAM_CASE3(F) case Op::F: v = fn::F::apply(r[st.a], r[st.b], r[st.c]); break;
        MIXT_PROGRAM_UNARY_OPS(MIXT_PROGRAM_CASE1)
        MIXT_PROGRAM_BINARY_OPS(MIXT_PROGRAM_CASE2)
        MIXT_PROGRAM_TERNARY_OPS(MIXT_PROGRAM_CASE3)
#undef MIXT_PROGRAM_CASE1
#undef MIXT_PROGRAM_CASE2
#undef MIXT_PROGRAM_CASE3
      }
      r[st.dst] = v;
    }
    return r[out_slot];
  }

  using Registers = ET (*)[kChunk];

  /// Sets the constants' registers (they keep them for the whole kernel).
  void fill_constants(Registers r) const {
    for (int s = 0; s < n_steps; ++s)
      if (steps[s].op == Op::constant)
        for (int q = 0; q < kChunk; ++q) r[steps[s].dst][q] = constants[steps[s].a];
  }

  /// Runs every instruction over elements [j, j + m) of the current row (of the flat range when linear), m <=
  /// kChunk; the value ends in r[out_slot]. Lanes past m hold padding: leaves read 1 there, a value at which no
  /// operation traps. `linear` is a run-time flag: only leaf loads depend on it, and a second copy of every
  /// operation would double the evaluator's compile time.
  void run_chunk(Registers r, int64_t j, int m, bool linear) const {
    const int np = (m + W - 1) / W * W;
    for (int s = 0; s < n_steps; ++s) {
      const Step st = steps[s];
      ET* d = r[st.dst];
      switch (st.op) {
        case Op::leaf:
          if (linear) load_leaf<true>(leaves[st.a], d, j, m, np);
          else load_leaf<false>(leaves[st.a], d, j, m, np);
          break;
        case Op::constant: break;
#define MIXT_PROGRAM_CHUNK1(F) case Op::F: apply_chunk<fn::F>(np, d, r[st.a]); break;
#define MIXT_PROGRAM_CHUNK2(F) case Op::F: apply_chunk<fn::F>(np, d, r[st.a], r[st.b]); break;
#define MIXT_PROGRAM_CHUNK3(F) case Op::F: apply_chunk<fn::F>(np, d, r[st.a], r[st.b], r[st.c]); break;
        MIXT_PROGRAM_UNARY_OPS(MIXT_PROGRAM_CHUNK1)
        MIXT_PROGRAM_BINARY_OPS(MIXT_PROGRAM_CHUNK2)
        MIXT_PROGRAM_TERNARY_OPS(MIXT_PROGRAM_CHUNK3)
#undef MIXT_PROGRAM_CHUNK1
#undef MIXT_PROGRAM_CHUNK2
#undef MIXT_PROGRAM_CHUNK3
      }
    }
  }

  void set_row(const int64_t* idx) {
    for (int k = 0; k < n_leaves; ++k) leaves[k].set_row(idx);
  }

 private:
  template <bool Linear>
  static void load_leaf(const ArrayPlan<S, ET>& leaf, ET* d, int64_t j, int m, int np) {
    int q = 0;
    for (; q + W <= m; q += W) pk::store(d + q, leaf.template packet<Linear>(j + q));
    for (; q < m; ++q) d[q] = leaf.row(j + q);
    for (; q < np; ++q) d[q] = ET(1);
  }
  template <class F, class... A>
  static void apply_chunk(int np, ET* d, const A*... a) {
    for (int q = 0; q < np; q += W) pk::store(d + q, F::apply(pk::load<ET>(a + q)...));
  }
};

/// The plan of program p, scheduled as s, over layout L.
template <class S, class ET>
ProgramPlan<S, ET> make_program_plan(const Program& p, const Schedule& s, const Layout& L) {
  ProgramPlan<S, ET> plan{};
  plan.n_steps = s.n_steps;
  plan.out_slot = s.out_slot;
  for (int i = 0; i < s.n_steps; ++i) plan.steps[i] = s.steps[i];
  for (size_t i = 0; i < p.constants.size(); ++i) plan.constants[i] = static_cast<ET>(p.constants[i]);
  int k = 0;
  for (const ProgramLeaf& l : p.leaves) {
    ArrayPlan<S, ET>& a = plan.leaves[plan.n_leaves++];
    a = ArrayLeaf::make_array_plan<ET, S>(l.array, L, k);
    a.ptr += l.offset;
  }
  return plan;
}

}  // namespace mixt::expr
