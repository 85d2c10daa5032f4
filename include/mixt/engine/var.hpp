// Engine variables: one per chunk of memory. Every operation names the variables it reads and writes; the engine
// orders the operations on each variable in push order.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>

namespace mixt::engine {

/// An engine variable. `version` counts completed writes (MXNet's Var::version_); `error` holds the failure of
/// the last operation that wrote it, rethrown by the next wait on it.
struct Var {
  virtual ~Var() = default;
  std::atomic<uint64_t> version{0};
  std::shared_ptr<std::exception_ptr> error;
};

}  // namespace mixt::engine
