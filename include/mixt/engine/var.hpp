// Engine variables: one per chunk of memory. Every operation names the variables it reads and writes; the engine
// orders the operations on each variable in push order.
#pragma once

#include <atomic>
#include <cstdint>

namespace mixt::engine {

/// An engine variable. `version` counts completed writes (MXNet's Var::version_). Each engine derives its own
/// variable type (the threaded engine keeps the queue of pending operations and the stored error there); a
/// variable must only be used with the engine that made it.
struct Var {
  virtual ~Var() = default;
  std::atomic<uint64_t> version{0};
};

}  // namespace mixt::engine
