// FreeLists: the pool's cache of free blocks, a stack of blocks per rounded size. An open-addressing table keyed
// by the size (linear probing, power-of-two capacity) whose slots hold malloc'd stacks: plain data and
// out-of-line functions, because the std::unordered_map<size_t, std::vector<void*>> it replaces made every
// program spend about 0.3 s compiling its instantiations (benchmarks/RESULTS.md, compile time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace mixt::memory {

class FreeLists {
 public:
  FreeLists() = default;
  FreeLists(const FreeLists&) = delete;
  FreeLists& operator=(const FreeLists&) = delete;
  ~FreeLists() { clear(nullptr, nullptr); }

  /// Caches block p of `size` bytes. False, with nothing kept, when the table cannot grow (out of host memory):
  /// the caller then returns the block to its device instead (this runs in destructors and must not throw).
  [[gnu::noinline]] bool push(size_t size, void* p) noexcept {
    if ((used_ + 1) * 2 > capacity_ && !rehash(capacity_ ? capacity_ * 2 : 64)) return false;
    Slot& s = find(size);
    if (s.count == s.capacity) {
      const size_t cap = s.capacity ? s.capacity * 2 : 8;
      void** grown = static_cast<void**>(std::realloc(s.blocks, cap * sizeof(void*)));
      if (!grown) return false;
      s.blocks = grown;
      s.capacity = cap;
    }
    if (s.size == 0) {
      s.size = size;
      ++used_;
    }
    s.blocks[s.count++] = p;
    return true;
  }

  /// A cached block of exactly `size` bytes, or nullptr.
  [[gnu::noinline]] void* pop(size_t size) noexcept {
    if (capacity_ == 0) return nullptr;
    Slot& s = find(size);
    return s.count ? s.blocks[--s.count] : nullptr;
  }

  /// Hands every cached block to release(context, block, size), when given, and empties the table.
  [[gnu::noinline]] void clear(void (*release)(void* context, void* block, size_t size), void* context) noexcept {
    for (size_t i = 0; i < capacity_; ++i) {
      Slot& s = slots_[i];
      if (release)
        for (size_t k = 0; k < s.count; ++k) release(context, s.blocks[k], s.size);
      std::free(s.blocks);
    }
    std::free(slots_);
    slots_ = nullptr;
    capacity_ = used_ = 0;
  }

 private:
  struct Slot {
    size_t size;  ///< 0: empty slot
    void** blocks;
    size_t count, capacity;
  };

  /// The slot holding `size`, or the empty slot where it belongs (capacity_ > 0 and never full).
  Slot& find(size_t size) noexcept {
    size_t i = size_t((uint64_t(size) >> 8) * 0x9E3779B97F4A7C15ull) & (capacity_ - 1);
    while (slots_[i].size != size && slots_[i].size != 0) i = (i + 1) & (capacity_ - 1);
    return slots_[i];
  }

  bool rehash(size_t capacity) noexcept {
    Slot* old = slots_;
    const size_t old_capacity = capacity_;
    slots_ = static_cast<Slot*>(std::calloc(capacity, sizeof(Slot)));
    if (!slots_) {
      slots_ = old;
      return false;
    }
    capacity_ = capacity;
    for (size_t i = 0; i < old_capacity; ++i)
      if (old[i].size != 0) find(old[i].size) = old[i];
    std::free(old);
    return true;
  }

  Slot* slots_ = nullptr;
  size_t capacity_ = 0, used_ = 0;
};

}  // namespace mixt::memory
