// Task<R(Args...)>: a move-only callable, what the engine stores for each pushed operation.
//
// Why not std::function: every kernel pushed is a closure of its own type, and std::function compiles a copy, a
// type query and a manager for each one although the engine only ever moves, calls and destroys them. A Task
// instantiates two small functions per closure type (call and destroy), which is a measurable part of the compile
// time of a program with many expressions.
#pragma once

#include <type_traits>
#include <utility>

namespace mixt::engine {

template <class Signature>
class Task;

template <class R, class... Args>
class Task<R(Args...)> {
 public:
  Task() = default;
  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, Task> && std::is_invocable_r_v<R, std::decay_t<F>&, Args...>)
  Task(F&& f)  // NOLINT: implicit, as std::function's
      : body_(new std::decay_t<F>(std::forward<F>(f))), call_(&call<std::decay_t<F>>),
        destroy_(&destroy<std::decay_t<F>>) {}
  Task(Task&& o) noexcept : body_(std::exchange(o.body_, nullptr)), call_(std::exchange(o.call_, nullptr)),
                            destroy_(std::exchange(o.destroy_, nullptr)) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      body_ = std::exchange(o.body_, nullptr);
      call_ = std::exchange(o.call_, nullptr);
      destroy_ = std::exchange(o.destroy_, nullptr);
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
    if (destroy_) destroy_(body_);
    body_ = nullptr;
    call_ = nullptr;
    destroy_ = nullptr;
  }

 private:
  template <class F>
  static R call(void* body, Args... args) {
    return (*static_cast<F*>(body))(std::forward<Args>(args)...);
  }
  template <class F>
  static void destroy(void* body) noexcept {
    delete static_cast<F*>(body);
  }

  void* body_ = nullptr;
  R (*call_)(void*, Args...) = nullptr;
  void (*destroy_)(void*) noexcept = nullptr;
};

}  // namespace mixt::engine
