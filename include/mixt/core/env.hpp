// Integer settings read from the environment (MIXT_NUM_THREADS, MIXT_CPU_WORKER_NTHREADS, MIXT_ENGINE_MAX_PENDING).
#pragma once

#include <cerrno>
#include <cstdlib>

#include "error.hpp"

namespace mixt::detail {

/// The integer in environment variable `name`; `fallback` when it is unset or empty. Anything else that is not
/// an integer >= min is a mixt::Error naming the variable: atoi read "abc" as 0, which for
/// MIXT_ENGINE_MAX_PENDING silently meant "no bound".
inline long long env_integer(const char* name, long long fallback, long long min) {
  const char* s = std::getenv(name);
  if (!s || !*s) return fallback;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0' || errno == ERANGE || v < min)
    fail(name, "expected an integer >= ", min, ", received '", s, "'");
  return v;
}

}  // namespace mixt::detail
