// Autograd's recording state and scopes (MXNet's autograd.record / pause / train_mode / predict_mode). The state
// is per thread, as in MXNet.
#pragma once

#include "../core/source_location.hpp"

namespace mixt {
class NDArray;
class Shape;
namespace expr {
struct ProgramDraft;
struct DotExpr;
}
}  // namespace mixt

namespace mixt::autograd {

namespace detail {
/// Puts out = p on the tape (record.hpp); an error names `where`, the user's call.
inline void record_draft(const expr::ProgramDraft& p, NDArray& out, const mixt::source_location& where);
using Recorder = void (*)(const expr::ProgramDraft&, NDArray&, const mixt::source_location&);
/// Puts out = op(p) reduced to keep_shape (as keepdims gives it) on the tape (record_reduction.hpp).
inline void record_reduction(const expr::ProgramDraft& p, const char* op, const Shape& keep_shape, NDArray& out,
                             const mixt::source_location& where);
using ReductionRecorder = void (*)(const expr::ProgramDraft&, const char*, const Shape&, NDArray&,
                                   const mixt::source_location&);
/// Puts out = d (dot, batch_dot) on the tape (blas/dot_backward.hpp).
inline void record_product(const expr::DotExpr& d, NDArray& out);
using ProductRecorder = void (*)(const expr::DotExpr&, NDArray&);

struct State {
  bool recording = false;
  bool training = false;
  /// Records a fused expression: set when recording is first turned on, so that the recording and backward of
  /// expressions are compiled only into programs that can record.
  Recorder recorder = nullptr;
  ReductionRecorder reduction_recorder = nullptr;  ///< the same for reductions
  ProductRecorder product_recorder = nullptr;      ///< and for products
};
inline State& state() {
  thread_local State s;
  return s;
}
}  // namespace detail

inline bool is_recording() { return detail::state().recording; }
inline bool is_training() { return detail::state().training; }
/// Sets the flags and returns the previous ones (MXNet's set_recording / set_training).
inline bool set_recording(bool on) {
  detail::State& s = detail::state();
  if (on) {
    s.recorder = &detail::record_draft;
    s.reduction_recorder = &detail::record_reduction;
    s.product_recorder = &detail::record_product;
  }
  const bool old = s.recording;
  s.recording = on;
  return old;
}
inline bool set_training(bool on) { bool old = detail::state().training; detail::state().training = on; return old; }

/// Records the operations of its scope for backward; train mode on unless asked otherwise.
class record {
 public:
  explicit record(bool train_mode = true)
      : old_recording_(set_recording(true)), old_training_(set_training(train_mode)) {}
  ~record() { set_recording(old_recording_); set_training(old_training_); }
  record(const record&) = delete;
  record& operator=(const record&) = delete;

 private:
  bool old_recording_, old_training_;
};

/// Stops recording inside a record scope; predict mode unless asked otherwise.
class pause {
 public:
  explicit pause(bool train_mode = false)
      : old_recording_(set_recording(false)), old_training_(set_training(train_mode)) {}
  ~pause() { set_recording(old_recording_); set_training(old_training_); }
  pause(const pause&) = delete;
  pause& operator=(const pause&) = delete;

 private:
  bool old_recording_, old_training_;
};

/// Train mode (Dropout active, BatchNorm batch statistics) without changing recording.
class train_mode {
 public:
  train_mode() : old_(set_training(true)) {}
  ~train_mode() { set_training(old_); }
  train_mode(const train_mode&) = delete;
  train_mode& operator=(const train_mode&) = delete;

 private:
  bool old_;
};

/// Predict mode without changing recording.
class predict_mode {
 public:
  predict_mode() : old_(set_training(false)) {}
  ~predict_mode() { set_training(old_); }
  predict_mode(const predict_mode&) = delete;
  predict_mode& operator=(const predict_mode&) = delete;

 private:
  bool old_;
};

}  // namespace mixt::autograd
