// Evaluating a program (program.hpp) into a new array: the checks of every evaluation point, then one kernel.
#pragma once

#include <type_traits>

#include "cpu/run_program.hpp"
#include "evaluate.hpp"
#include "program_plan.hpp"

namespace mixt::expr {

/// p's value in a new array of the broadcast shape of its leaves, with their dtype (a floating one) and context.
/// Out of line and not a template: every program shares it.
[[gnu::noinline]] inline NDArray evaluate_program(const Program& p, const char* op) {
  LeafList leaves;
  Shape shape;
  for (const ProgramLeaf& l : p.leaves) {
    add_leaf(leaves, l.array, l.view, op, {});
    shape = broadcast_shapes(shape, l.view.shape, op);
  }
  NDArray out = array_for(leaves, shape, op);
  const Prepared prep = prepare(out, leaves, shape, op, {});  // out is new: no temporary is ever needed
  if (prep.nothing_to_do) return out;
  const Schedule sched = schedule(p, op);
  expr_dtype_switch(out.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    using ET = compute_type_t<T>;
    if constexpr (!std::is_floating_point_v<ET>) {
      detail::fail(op, "programs compute in floating point; received ", dtype_name(out.dtype()), " operands");
    } else {
      const ProgramPlan<T, ET> plan = make_program_plan<T, ET>(p, sched, prep.layout);
      T* dst = out.data<T>();
      engine::Engine::get().push(
          [plan, dst, extents = Extents(prep.layout)](engine::RunContext rc) {
#if MIXT_USE_CUDA
            if (rc.ctx.is_gpu()) return cuda::run<save_write>(plan, dst, extents, rc.stream);
#endif
            (void)rc;
            cpu::run_program<save_write>(plan, dst, extents);
          },
          out.ctx(), prep.reads, {out.var()}, engine::FnProperty::normal, op, {});
    }
  });
  return out;
}

}  // namespace mixt::expr
