// Device contexts: cpu() and gpu(i), with MXNet's device-type codes.
#pragma once

#include <iosfwd>
#include <string>

#include "config.hpp"
#include "error.hpp"

namespace mixt {

/// MXNet's codes. cpu_pinned names page-locked host memory in MXNet; mixt treats it as host memory like cpu
/// (ordinary allocations, so no faster copies), keeping only the name.
enum class DeviceType : int { cpu = 1, gpu = 2, cpu_pinned = 3 };

struct Context {
  DeviceType dev_type = DeviceType::cpu;
  int dev_id = 0;

  bool is_gpu() const noexcept { return dev_type == DeviceType::gpu; }
  bool is_cpu() const noexcept { return !is_gpu(); }
  [[gnu::noinline]] std::string to_string() const {  // out of line: error messages call it from hot code
    std::string s = is_gpu() ? "gpu(" : dev_type == DeviceType::cpu_pinned ? "cpu_pinned(" : "cpu(";
    detail::append_signed(s, dev_id);
    s += ')';
    return s;
  }
  friend bool operator==(const Context& a, const Context& b) noexcept {
    return a.dev_type == b.dev_type && a.dev_id == b.dev_id;
  }
};

inline Context cpu(int id = 0) { return {DeviceType::cpu, id}; }
inline Context gpu(int id = 0) { return {DeviceType::gpu, id}; }

/// Templates over the stream type, so that only <iosfwd> is needed here: <ostream> costs every program
/// about a quarter of a second to parse, and only the programs that print need it (they include it themselves).
template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, const Context& c) {
  return os << c.to_string();
}

/// Number of CUDA devices this program can use (0 in a build without CUDA, or without a driver).
inline int num_gpus();

/// The most GPUs one process drives (the engine keeps a worker pair per device).
inline constexpr int kMaxGpus = 16;

/// Throws when `ctx` is a GPU and this translation unit was compiled without CUDA (DESIGN contract 5), or when
/// the machine has no such GPU (which would otherwise fail later, in an allocation, as "out of memory").
inline void require_device(const Context& ctx, const char* op) {
#if !MIXT_USE_CUDA
  if (ctx.is_gpu())
    detail::fail(op, "context ", ctx.to_string(), " requested, but this program was compiled without CUDA "
                 "(compile with nvcc to use GPUs)");
#else
  if (!ctx.is_gpu()) return;
  static const int count = num_gpus();  // asked once: the driver's count does not change while a process runs
  if (ctx.dev_id < 0 || ctx.dev_id >= count || ctx.dev_id >= kMaxGpus)
    detail::fail(op, "context ", ctx.to_string(), " requested, but this machine has ", count, " GPU(s) visible",
                 count > kMaxGpus ? " (mixt drives the first 16)" : "");
#endif
}

}  // namespace mixt

#if MIXT_USE_CUDA
#include <cuda_runtime.h>
#endif

namespace mixt {
inline int num_gpus() {
#if MIXT_USE_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
#else
  return 0;
#endif
}
}  // namespace mixt
