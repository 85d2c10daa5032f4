// spin_while: a short busy wait before a thread blocks, shared by the kernel pool and the engine.
#pragma once

#include <thread>

namespace mixt::detail {

/// Waits a few tens of microseconds while busy() holds, before the caller blocks on a condition variable. A
/// futex wake-up costs several microseconds (more on a VM); work that follows soon (a GEMM's next phase, the
/// next operation of a chain, the result a caller waits for) then finds its thread still awake. OpenMP runtimes
/// spin the same way, only longer. Timed with the x86 time-stamp counter (no <chrono> to parse); elsewhere by a
/// count of yields.
template <class Busy>
void spin_while(Busy busy) {
#if defined(__x86_64__) || defined(__i386__)
  const unsigned long long until = __builtin_ia32_rdtsc() + 100000;  // 30-50 us at today's TSC rates
  while (busy() && __builtin_ia32_rdtsc() < until) __builtin_ia32_pause();
#else
  for (int i = 0; i < 2000 && busy(); ++i) std::this_thread::yield();
#endif
}

}  // namespace mixt::detail
