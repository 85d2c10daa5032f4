// What an engine makes of an exception thrown by an operation: a mixt::Error that names the operation and, when
// the exception did not say where it came from, the user's call that pushed it (DESIGN contract 3). Both engines
// use it, the threaded one to store the error, the naive one to rethrow it at once.
#pragma once

#include <exception>

#include "../core/error.hpp"
#include "../core/source_location.hpp"

namespace mixt::engine::detail {

using mixt::detail::has_location;

/// The exception being handled (call it inside a catch block) as a located mixt::Error. Cold and out of line:
/// the engines' hot paths keep only a call to it.
[[gnu::cold, gnu::noinline]] inline std::exception_ptr operation_error(const char* name,
                                                                      const mixt::source_location& where) {
  try {
    throw;
  } catch (const Error& e) {
    if (has_location(e.where()) || !has_location(where)) return std::current_exception();
    return std::make_exception_ptr(Error(e.op(), e.message(), where));
  } catch (const std::exception& e) {
    return std::make_exception_ptr(Error(name, e.what(), where));
  } catch (...) {
    return std::make_exception_ptr(Error(name, "unknown exception", where));
  }
}

}  // namespace mixt::engine::detail
