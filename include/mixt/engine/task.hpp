// Task<R(Args...)>: a move-only callable, what the engine stores for each pushed operation.
//
// Why not std::function: every kernel pushed is a closure of its own type, and std::function compiles a copy, a
// type query and a manager for each one although the engine only ever moves, calls and destroys them. A Task
// instantiates two small functions per closure type (call, and move-or-destroy), which is a measurable part of
// the compile time of a program with many expressions. Closures up to kInlineBytes live inside the Task (no heap
// allocation for small operations: the engine pushes from one thread and frees on another, and a malloc/free
// pair across threads costs more than the engine's own bookkeeping); larger ones (kernels carrying their plans)
// are allocated once.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace mixt::engine {

template <class Signature>
class Task;

template <class R, class... Args>
class Task<R(Args...)> {
 public:
  static constexpr size_t kInlineBytes = 48;

  Task() = default;
  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, Task> && std::is_invocable_r_v<R, std::decay_t<F>&, Args...>)
  Task(F&& f) {  // NOLINT: implicit, as std::function's
    using D = std::decay_t<F>;
    if constexpr (fits_inline<D>) {
      body_ = ::new (static_cast<void*>(inline_)) D(std::forward<F>(f));
    } else {
      body_ = new D(std::forward<F>(f));
    }
    call_ = &call<D>;
    if constexpr (!trivial_inline<D>) manage_ = &manage<D>;  // a trivial one is moved by copying its bytes
  }
  Task(Task&& o) noexcept { take(o); }
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  explicit operator bool() const noexcept { return call_ != nullptr; }
  R operator()(Args... args) const { return call_(body_, std::forward<Args>(args)...); }

  /// Destroys the callable (and what it captured) now.
  void reset() noexcept {
    if (manage_) manage_(*this, nullptr);
    body_ = nullptr;
    call_ = nullptr;
    manage_ = nullptr;
  }

 private:
  template <class D>
  static constexpr bool fits_inline = sizeof(D) <= kInlineBytes && alignof(D) <= alignof(std::max_align_t) &&
                                      std::is_nothrow_move_constructible_v<D>;

  template <class D>
  static constexpr bool trivial_inline =
      fits_inline<D> && std::is_trivially_copyable_v<D> && std::is_trivially_destructible_v<D>;

  template <class D>
  static R call(void* body, Args... args) {
    return (*static_cast<D*>(body))(std::forward<Args>(args)...);
  }
  /// Moves src's callable into `dst` (leaving src without one), or destroys it when dst is null.
  template <class D>
  static void manage(Task& src, Task* dst) noexcept {
    D* body = static_cast<D*>(src.body_);
    if constexpr (fits_inline<D>) {
      if (dst) dst->body_ = ::new (static_cast<void*>(dst->inline_)) D(std::move(*body));
      body->~D();
    } else {
      if (dst) dst->body_ = body;
      else delete body;
    }
  }

  void take(Task& o) noexcept {
    if (!o.call_) return;
    if (o.manage_) {
      o.manage_(o, this);
    } else {
      std::memcpy(inline_, o.inline_, kInlineBytes);
      body_ = inline_;
    }
    call_ = std::exchange(o.call_, nullptr);
    manage_ = std::exchange(o.manage_, nullptr);
    o.body_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char inline_[kInlineBytes];
  void* body_ = nullptr;
  R (*call_)(void*, Args...) = nullptr;
  void (*manage_)(Task&, Task*) noexcept = nullptr;
};

}  // namespace mixt::engine
