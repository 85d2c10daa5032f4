// ThreadedVar: a variable of the threaded engine — the queue of operations waiting to access it, in push order.
//
// The scheduling rule is MXNet's (reference §1.2) in an equivalent form: a variable is either being read by any
// number of granted operations or written by one. The head of the queue is granted when it is a read and no write
// is active, or a write and nothing is active; a run of reads between two writes is granted together, so those
// reads may run in parallel. Every access therefore happens in push order.
#pragma once

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>

#include "opr_block.hpp"
#include "var.hpp"

namespace mixt::engine::detail {

/// Operations made ready by a state change, dispatched by the caller after every lock is released.
using ReadyList = InlineVector<OprBlock*, 8>;

struct ThreadedVar final : Var {
  std::mutex m;
  VarLink* head = nullptr;  ///< oldest access not yet granted
  VarLink* tail = nullptr;
  int active_reads = 0;
  bool write_active = false;

  /// Set while `error` may hold an error, so that starting an operation checks for one without a lock.
  std::atomic<bool> has_error{false};
  /// The error of the last failed operation that wrote this variable (guarded by the engine's error mutex).
  std::shared_ptr<std::exception_ptr> error;

  /// GPU engines keep their cross-stream events here (engine/cuda/gpu_workers.hpp; guarded by `m`).
  void* gpu_sync = nullptr;

  /// Queues an access. It can only ever grant the link itself, which push() holds back with its extra count.
  void append(VarLink* link) {
    std::lock_guard<std::mutex> lk(m);
    link->next = nullptr;
    if (tail) tail->next = link;
    else head = link;
    tail = link;
    grant_locked(nullptr);
  }

  /// Ends a granted access; queues whatever it unblocks on `ready`. A completed write bumps the version.
  void complete(const VarLink* link, ReadyList& ready) {
    std::lock_guard<std::mutex> lk(m);
    if (link->write) {
      write_active = false;
      version.fetch_add(1, std::memory_order_release);
    } else {
      --active_reads;
    }
    grant_locked(&ready);
  }

  /// True when a pushed write has not finished yet (what a reader must wait for).
  bool write_pending() {
    std::lock_guard<std::mutex> lk(m);
    // With no write active, reads are always granted at once, so a non-empty queue starts with a write.
    return write_active || head != nullptr;
  }

 private:
  void grant_locked(ReadyList* ready) {
    while (VarLink* h = head) {
      if (h->write) {
        if (write_active || active_reads > 0) return;
        write_active = true;
      } else {
        if (write_active) return;
        ++active_reads;
      }
      head = h->next;
      if (!head) tail = nullptr;
      if (h->opr->decrement_wait() && ready) ready->push_back(h->opr);
      if (h->write) return;
    }
  }
};

}  // namespace mixt::engine::detail
