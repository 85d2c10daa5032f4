// OprBlock: one pushed operation inside the threaded engine, with its links into the queues of the variables it
// reads and writes, and the pool that recycles blocks so that a push allocates nothing in the common case.
#pragma once

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>

#include "../core/inline_vector.hpp"
#include "../core/source_location.hpp"
#include "engine.hpp"

namespace mixt::engine::detail {

using mixt::detail::InlineVector;

struct ThreadedVar;
struct OprBlock;

/// An operation's place in one variable's queue.
struct VarLink {
  ThreadedVar* var;
  OprBlock* opr;
  VarLink* next;
  bool write;
};

/// What kind of bookkeeping an operation needs beyond running its function.
enum class OprKind : unsigned char {
  normal,
  wait,        ///< wait_for_var's marker: runs even when its variable carries an error
  delete_var,  ///< runs `deleter`, then destroys its (only, written) variable; never skipped
};

struct OprBlock {
  Fn fn;
  Task<void()> deleter;  ///< for OprKind::delete_var
  Context ctx;
  FnProperty prop = FnProperty::normal;
  OprKind kind = OprKind::normal;
  const char* name = "operation";
  mixt::source_location where;
  /// Links still to be granted, plus one held by push() until every link is appended.
  std::atomic<int> wait{0};
  InlineVector<VarLink, 6> links;  ///< reads first, then writes; never reallocated once queued
  /// The error this operation raised or inherited; shared with every variable it reaches (MXNet's opr_exception).
  std::shared_ptr<std::exception_ptr> error;
  OprBlock* next = nullptr;  ///< worker queue / free list
  int stream_slot = 0;       ///< GPU: which worker stream runs it

  /// Counts one granted link; true when the operation is ready to run.
  bool decrement_wait() noexcept { return wait.fetch_sub(1, std::memory_order_acq_rel) == 1; }
};

/// A free list of OprBlocks shared by every thread (blocks are taken by pushers and returned by workers).
class OprBlockPool {
 public:
  OprBlockPool() = default;
  OprBlockPool(const OprBlockPool&) = delete;
  OprBlockPool& operator=(const OprBlockPool&) = delete;
  ~OprBlockPool() {
    while (free_) {
      OprBlock* b = free_;
      free_ = b->next;
      delete b;
    }
  }

  OprBlock* acquire() {
    {
      std::lock_guard<std::mutex> lk(m_);
      if (OprBlock* b = free_) {
        free_ = b->next;
        b->next = nullptr;
        return b;
      }
    }
    return new OprBlock();
  }

  /// Takes a finished block back; its function and error must already be released.
  void release(OprBlock* b) noexcept {
    b->links.clear();
    b->kind = OprKind::normal;
    std::lock_guard<std::mutex> lk(m_);
    b->next = free_;
    free_ = b;
  }

 private:
  std::mutex m_;
  OprBlock* free_ = nullptr;
};

}  // namespace mixt::engine::detail
