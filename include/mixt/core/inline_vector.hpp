// InlineVector: a vector of trivially copyable items that keeps its first N in place. The engine's per-push
// bookkeeping (an operation's variable links, the operations a completion makes ready) and every evaluation's
// leaf lists and layout use it: no heap allocation in the common case, and a handful of small functions per
// element type where each std::vector instantiation costs dozens (compile time, benchmarks/RESULTS.md).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

namespace mixt::detail {

template <class T, size_t N>
class InlineVector {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "InlineVector holds plain data only");

 public:
  InlineVector() = default;
  InlineVector(const InlineVector& o) { append(o.data_, o.size_); }
  InlineVector(InlineVector&& o) noexcept { take(o); }
  InlineVector& operator=(const InlineVector& o) {
    if (this != &o) {
      size_ = 0;
      append(o.data_, o.size_);
    }
    return *this;
  }
  InlineVector& operator=(InlineVector&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~InlineVector() { release(); }

  void push_back(const T& v) {
    if (size_ == capacity_) grow(capacity_ * 2);
    data_[size_++] = v;
  }
  /// n copies of v, replacing the contents.
  void assign(size_t n, const T& v) {
    size_ = 0;
    if (n > capacity_) grow(n);
    for (size_t i = 0; i < n; ++i) data_[i] = v;
    size_ = n;
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
  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  T& operator[](size_t i) noexcept { return data_[i]; }
  const T& operator[](size_t i) const noexcept { return data_[i]; }
  const T& front() const noexcept { return data_[0]; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }

 private:
  bool on_heap() const noexcept { return data_ != reinterpret_cast<const T*>(inline_); }
  void append(const T* p, size_t n) {
    if (size_ + n > capacity_) grow(size_ + n);
    if (n) std::memcpy(static_cast<void*>(data_ + size_), static_cast<const void*>(p), n * sizeof(T));
    size_ += n;
  }
  /// Moves o's items here (this holds nothing on the heap) and leaves o empty.
  void take(InlineVector& o) noexcept {
    if (o.on_heap()) {
      data_ = o.data_;
      capacity_ = o.capacity_;
      o.data_ = reinterpret_cast<T*>(o.inline_);
      o.capacity_ = N;
    } else {
      data_ = reinterpret_cast<T*>(inline_);
      capacity_ = N;
      if (o.size_) std::memcpy(static_cast<void*>(data_), static_cast<const void*>(o.data_), o.size_ * sizeof(T));
    }
    size_ = o.size_;
    o.size_ = 0;
  }
  void grow(size_t cap) {
    T* p = static_cast<T*>(std::malloc(cap * sizeof(T)));
    if (!p) throw std::bad_alloc();
    if (size_) std::memcpy(static_cast<void*>(p), static_cast<const void*>(data_), size_ * sizeof(T));
    release();
    data_ = p;
    capacity_ = cap;
  }
  void release() noexcept {
    if (on_heap()) std::free(data_);
    data_ = reinterpret_cast<T*>(inline_);
    capacity_ = N;
  }

  alignas(T) unsigned char inline_[N * sizeof(T)];
  T* data_ = reinterpret_cast<T*>(inline_);
  size_t size_ = 0, capacity_ = N;
};

}  // namespace mixt::detail
