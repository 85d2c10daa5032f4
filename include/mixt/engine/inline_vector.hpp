// InlineVector: a vector of trivially copyable items that keeps its first N in place, so that the engine's
// per-push bookkeeping (an operation's variable links, the operations a completion makes ready) needs no heap
// allocation in the common case.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

namespace mixt::engine::detail {

template <class T, size_t N>
class InlineVector {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "InlineVector holds plain data only");

 public:
  InlineVector() = default;
  InlineVector(const InlineVector&) = delete;
  InlineVector& operator=(const InlineVector&) = delete;
  ~InlineVector() { release(); }

  void push_back(const T& v) {
    if (size_ == capacity_) grow();
    data_[size_++] = v;
  }
  /// Empties the vector; keeps a heap buffer for reuse.
  void clear() noexcept { size_ = 0; }
  /// Empties the vector and gives a heap buffer back.
  void reset() noexcept {
    release();
    size_ = 0;
  }

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  T& operator[](size_t i) noexcept { return data_[i]; }
  const T& operator[](size_t i) const noexcept { return data_[i]; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }

 private:
  void grow() {
    size_t cap = capacity_ * 2;
    T* p = static_cast<T*>(std::malloc(cap * sizeof(T)));
    if (!p) throw std::bad_alloc();
    std::memcpy(static_cast<void*>(p), static_cast<const void*>(data_), size_ * sizeof(T));
    release();
    data_ = p;
    capacity_ = cap;
  }
  void release() noexcept {
    if (data_ != reinterpret_cast<T*>(inline_)) std::free(data_);
    data_ = reinterpret_cast<T*>(inline_);
    capacity_ = N;
  }

  alignas(T) unsigned char inline_[N * sizeof(T)];
  T* data_ = reinterpret_cast<T*>(inline_);
  size_t size_ = 0, capacity_ = N;
};

}  // namespace mixt::engine::detail
