// Engine variables: one per chunk of memory. Every operation names the variables it reads and writes; the engine
// orders the operations on each variable in push order.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "../core/inline_vector.hpp"

namespace mixt::engine {

/// An engine variable. `version` counts completed writes (MXNet's Var::version_). Each engine derives its own
/// variable type (the threaded engine keeps the queue of pending operations and the stored error there); a
/// variable must only be used with the engine that made it.
struct Var {
  virtual ~Var() = default;
  std::atomic<uint64_t> version{0};
  /// Writes pushed so far, counted by push in the caller's thread: autograd compares it with the count it saw
  /// when it recorded a read, to refuse a backward whose saved values were overwritten since.
  std::atomic<uint64_t> writes_pushed{0};
};

/// Counts a pushed write on each of `writes` (Var::writes_pushed).
template <class List>
void count_pushed_writes(const List& writes) {
  for (size_t i = 0; i < writes.size(); ++i) writes[i]->writes_pushed.fetch_add(1, std::memory_order_relaxed);
}

/// The variables an operation reads or writes, as push() takes them: a braced list or a vector, seen in place
/// (a braced list needs no heap vector at every call site). Valid for the call it is passed to.
class VarList {
 public:
  VarList() = default;
  VarList(std::initializer_list<Var*> vars) {  // the list outlives the push call it is written in
    data_ = vars.begin();
    size_ = vars.size();
  }
  VarList(const std::vector<Var*>& vars) : data_(vars.data()), size_(vars.size()) {}  // NOLINT: implicit
  template <size_t N>
  VarList(const mixt::detail::InlineVector<Var*, N>& vars)  // NOLINT: implicit
      : data_(vars.data()), size_(vars.size()) {}

  Var* const* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  Var* operator[](size_t i) const noexcept { return data_[i]; }
  Var* const* begin() const noexcept { return data_; }
  Var* const* end() const noexcept { return data_ + size_; }

 private:
  Var* const* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace mixt::engine
