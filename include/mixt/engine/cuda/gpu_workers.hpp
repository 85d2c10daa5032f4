// GpuWorkers: the threaded engine's GPU side (nvcc builds only). Per device, created on first use:
//   - a compute worker: one thread owning a non-blocking stream with a cuBLAS handle (and a cuDNN handle with
//     MIXT_USE_CUDNN) bound to it, running every operation except copies;
//   - a copy worker: one thread owning its own stream, running FnProperty::copy_to_gpu / copy_from_gpu, so that
//     transfers overlap compute.
// An operation is launched on its worker's stream and completes, for the engine, once launched. Ordering across
// streams uses CUDA events, never a device synchronization: after each GPU operation one event is recorded on its
// stream and noted on every variable it touched (the last writer's event; the readers' events since); before an
// operation runs, its stream waits (cudaStreamWaitEvent) for the events of other streams it depends on — a reader
// for the last writer, a writer for the last writer and the readers since. Host-side waits synchronize the event.
//
// Memory of a deleted GPU variable is reused only in stream order: the deletion makes the compute stream wait for
// every event on the variable, records an event, and hands the block back to its pool only once that event has
// completed (polled by the compute worker, drained by wait_all), so no stream can get the block while another
// may still use it. When the device's pool runs out of memory it first waits for those pending frees (its
// reclaim hook, set when the device's workers start) and then retries.
#pragma once

#include "../../core/config.hpp"
#if MIXT_USE_CUDA

#include <cublas_v2.h>
#include <cuda_runtime.h>
#if MIXT_USE_CUDNN
#include <cudnn.h>
#endif

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "../../memory/cuda/cuda_allocator.hpp"
#include "../opr_block.hpp"
#include "../run_context.hpp"
#include "../threaded_var.hpp"
#include "stream.hpp"

namespace mixt::engine::cuda {

/// An event recorded on a stream; destroyed when the last variable forgets it.
struct StreamEvent {
  cudaEvent_t event = nullptr;
  cudaStream_t stream = nullptr;
  StreamEvent(cudaStream_t s) : stream(s) {
    cudaEventCreateWithFlags(&event, cudaEventDisableTiming);
    cudaEventRecord(event, s);
  }
  ~StreamEvent() {
    if (event) cudaEventDestroy(event);  // safe while pending: released when it completes
  }
  StreamEvent(const StreamEvent&) = delete;
  StreamEvent& operator=(const StreamEvent&) = delete;
};
using EventRef = std::shared_ptr<StreamEvent>;

/// Per-variable cross-stream state, kept in ThreadedVar::gpu_sync and guarded by ThreadedVar::m.
struct VarEvents {
  EventRef writer;
  std::vector<EventRef> readers;  ///< at most one per stream: the latest
};

class GpuWorkers {
 public:
  using Execute = engine::Task<void(engine::detail::OprBlock*, const RunContext&)>;
  using Finish = engine::Task<void(engine::detail::OprBlock*)>;
  static constexpr int kMaxDevices = kMaxGpus;

  GpuWorkers(Execute execute, Finish finish) : execute_(std::move(execute)), finish_(std::move(finish)) {}
  ~GpuWorkers() { stop(); }
  GpuWorkers(const GpuWorkers&) = delete;
  GpuWorkers& operator=(const GpuWorkers&) = delete;

  /// Queues a ready GPU operation on its device's compute or copy worker.
  void push(engine::detail::OprBlock* op) {
    Device& d = device(op->ctx.dev_id);
    const bool copy = op->prop == FnProperty::copy_to_gpu || op->prop == FnProperty::copy_from_gpu;
    (copy ? d.copy : d.compute)->push(op);
  }

  /// Before a host thread touches memory that GPU streams used: waits for their events. A kernel that failed
  /// after its launch surfaces here as a mixt::Error (after every event was waited for), which the engine stores
  /// as the operation's error instead of running it on what that kernel left.
  void host_wait(engine::detail::OprBlock* op) {
    if (op->kind != engine::detail::OprKind::normal) return;
    cudaError_t first = cudaSuccess;
    for (auto& link : op->links)
      for (auto& e : events_to_wait(link, nullptr)) {
        const cudaError_t rc = cudaEventSynchronize(e->event);
        if (first == cudaSuccess) first = rc;
      }
    check(first, "cudaEventSynchronize before a host operation");
  }

  /// After wait_for_var: the values written by the last writer are on the device. A kernel that failed after its
  /// launch (an illegal address, a timeout) surfaces here as a mixt::Error.
  void synchronize_var(engine::detail::ThreadedVar* v) {
    EventRef w;
    {
      std::lock_guard<std::mutex> lk(v->m);
      if (v->gpu_sync) w = static_cast<VarEvents*>(v->gpu_sync)->writer;
    }
    if (w) check(cudaEventSynchronize(w->event), "wait_to_read: cudaEventSynchronize");
  }

  /// After wait_all: every engine stream is idle and deferred frees are done. Every stream is waited for even
  /// when one reports an error; the first error is then thrown.
  void synchronize_all() {
    cudaError_t first = cudaSuccess;
    for (auto& slot : devices_)
      if (Device* d = slot.load(std::memory_order_acquire))
        for (Worker* w : {d->compute.get(), d->copy.get()}) {
          const cudaError_t rc = w->synchronize();
          if (first == cudaSuccess) first = rc;
        }
    check(first, "wait_all: cudaStreamSynchronize");
  }

  /// A variable is being destroyed: drop its events.
  void forget_var(engine::detail::ThreadedVar* v) {
    delete static_cast<VarEvents*>(v->gpu_sync);
    v->gpu_sync = nullptr;
  }

  void stop() {
    for (size_t id = 0; id < devices_.size(); ++id)
      if (Device* d = devices_[id].exchange(nullptr)) {
        memory::cuda_pool(int(id)).set_reclaim(nullptr);
        d->compute->stop();
        d->copy->stop();
        delete d;
      }
  }

 private:
  class Worker {
   public:
    Worker(GpuWorkers& owner, int dev, bool with_handles) : owner_(owner), dev_(dev), handles_(with_handles) {
      thread_ = std::thread([this] { loop(); });
    }
    ~Worker() { stop(); }

    void push(engine::detail::OprBlock* op) {
      {
        std::lock_guard<std::mutex> lk(m_);
        op->next = nullptr;
        if (tail_) tail_->next = op;
        else head_ = op;
        tail_ = op;
      }
      cv_.notify_one();
    }

    /// Waits for everything queued and launched so far, then frees what was waiting for it; returns the
    /// stream's error (a kernel that failed after its launch), which the caller reports.
    cudaError_t synchronize() {
      std::unique_lock<std::mutex> lk(m_);
      idle_cv_.wait(lk, [&] { return !head_ && !busy_; });
      lk.unlock();
      const cudaError_t rc = stream_ ? cudaStreamSynchronize(stream_) : cudaSuccess;
      drain_frees(true);
      return rc;
    }

    void stop() {
      {
        std::lock_guard<std::mutex> lk(m_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
      }
      cv_.notify_all();
      if (thread_.joinable()) thread_.join();
    }

   private:
    struct PendingFree {
      EventRef done;
      engine::Task<void()> deleter;
    };

    void loop() {
      cudaSetDevice(dev_);
      cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
      if (handles_) {
        cublasHandle_t blas = nullptr;
        if (cublasCreate(&blas) == CUBLAS_STATUS_SUCCESS) {
          cublasSetStream(blas, stream_);
          blas_ = blas;
        }
#if MIXT_USE_CUDNN
        cudnnHandle_t dnn = nullptr;
        if (cudnnCreate(&dnn) == CUDNN_STATUS_SUCCESS) {
          cudnnSetStream(dnn, stream_);
          dnn_ = dnn;
        }
#endif
      }
      for (;;) {
        engine::detail::OprBlock* op = nullptr;
        {
          std::unique_lock<std::mutex> lk(m_);
          while (!head_ && !stopping_) {
            if (frees_pending()) cv_.wait_for(lk, std::chrono::milliseconds(1));
            else cv_.wait(lk);
            if (!head_) {
              lk.unlock();
              drain_frees(false);
              lk.lock();
            }
          }
          if (!head_) break;  // stopping, queue empty
          op = head_;
          head_ = op->next;
          if (!head_) tail_ = nullptr;
          busy_ = true;
        }
        run(op);
        drain_frees(false);
        {
          std::lock_guard<std::mutex> lk(m_);
          busy_ = false;
        }
        idle_cv_.notify_all();
      }
      cudaStreamSynchronize(stream_);
      drain_frees(true);
      if (blas_) cublasDestroy(static_cast<cublasHandle_t>(blas_));
#if MIXT_USE_CUDNN
      if (dnn_) cudnnDestroy(static_cast<cudnnHandle_t>(dnn_));
#endif
      cudaStreamDestroy(stream_);
      stream_ = nullptr;
    }

    void run(engine::detail::OprBlock* op) {
      for (auto& link : op->links)
        for (auto& e : owner_.events_to_wait(link, stream_)) cudaStreamWaitEvent(stream_, e->event, 0);
      if (op->kind == engine::detail::OprKind::delete_var) {
        // Hand the block back once every use of it, on any stream, is done (see the header comment).
        auto done = std::make_shared<StreamEvent>(stream_);
        {
          std::lock_guard<std::mutex> lk(frees_m_);
          frees_.push_back({std::move(done), std::move(op->deleter)});
        }
        op->deleter.reset();
        owner_.execute_(op, RunContext{op->ctx, stream_, blas_, dnn_});
        owner_.finish_(op);
        return;
      }
      owner_.execute_(op, RunContext{op->ctx, stream_, blas_, dnn_});
      auto done = std::make_shared<StreamEvent>(stream_);
      for (auto& link : op->links) owner_.note_event(link, done);
      owner_.finish_(op);
    }

    bool frees_pending() {
      std::lock_guard<std::mutex> lk(frees_m_);
      return !frees_.empty();
    }

   public:
    /// Runs the deleters whose event has completed (all of them, waiting, when `wait`).
    void drain_frees(bool wait) {
      std::vector<engine::Task<void()>> ready;
      {
        std::lock_guard<std::mutex> lk(frees_m_);
        size_t kept = 0;
        for (size_t i = 0; i < frees_.size(); ++i) {
          cudaEvent_t e = frees_[i].done->event;
          bool done = (wait ? cudaEventSynchronize(e) : cudaEventQuery(e)) != cudaErrorNotReady;
          if (done) ready.push_back(std::move(frees_[i].deleter));
          else if (kept++ != i) frees_[kept - 1] = std::move(frees_[i]);
        }
        frees_.resize(kept);
      }
      for (auto& d : ready) {
        try {
          if (d) d();
        } catch (...) {
          // Returning memory to a pool does not fail; there is no one to report to if it did.
        }
      }
    }

   private:
    GpuWorkers& owner_;
    int dev_;
    bool handles_;
    cudaStream_t stream_ = nullptr;
    void* blas_ = nullptr;
    void* dnn_ = nullptr;
    std::mutex m_;
    std::condition_variable cv_, idle_cv_;
    engine::detail::OprBlock* head_ = nullptr;
    engine::detail::OprBlock* tail_ = nullptr;
    bool busy_ = false, stopping_ = false;
    std::mutex frees_m_;
    std::vector<PendingFree> frees_;
    std::thread thread_;
  };

  struct Device {
    std::unique_ptr<Worker> compute, copy;
  };

  Device& device(int id) {
    if (id < 0 || id >= kMaxDevices) id = 0;  // not reached: require_device rejects such a context at creation
    if (Device* d = devices_[size_t(id)].load(std::memory_order_acquire)) return *d;
    std::lock_guard<std::mutex> lk(create_m_);
    if (Device* d = devices_[size_t(id)].load(std::memory_order_acquire)) return *d;
    auto* d = new Device{std::make_unique<Worker>(*this, id, true), std::make_unique<Worker>(*this, id, false)};
    devices_[size_t(id)].store(d, std::memory_order_release);
    memory::cuda_pool(id).set_reclaim([d] {
      d->compute->drain_frees(true);
      d->copy->drain_frees(true);
    });
    return *d;
  }

  /// The events of other streams that an access must wait for (`stream` nullptr: a host access, all of them).
  std::vector<EventRef> events_to_wait(const engine::detail::VarLink& link, cudaStream_t stream) {
    std::vector<EventRef> out;
    std::lock_guard<std::mutex> lk(link.var->m);
    auto* ev = static_cast<VarEvents*>(link.var->gpu_sync);
    if (!ev) return out;
    if (ev->writer && (!stream || ev->writer->stream != stream)) out.push_back(ev->writer);
    if (link.write)
      for (auto& r : ev->readers)
        if (!stream || r->stream != stream) out.push_back(r);
    return out;
  }

  void note_event(const engine::detail::VarLink& link, const EventRef& e) {
    std::lock_guard<std::mutex> lk(link.var->m);
    auto* ev = static_cast<VarEvents*>(link.var->gpu_sync);
    if (!ev) link.var->gpu_sync = ev = new VarEvents();
    if (link.write) {
      ev->writer = e;
      ev->readers.clear();
      return;
    }
    for (auto& r : ev->readers)
      if (r->stream == e->stream) {
        r = e;
        return;
      }
    ev->readers.push_back(e);
  }

  Execute execute_;
  Finish finish_;
  std::mutex create_m_;
  std::array<std::atomic<Device*>, kMaxDevices> devices_{};
};

}  // namespace mixt::engine::cuda

#endif  // MIXT_USE_CUDA
