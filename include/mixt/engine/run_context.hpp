// What a pushed function receives: the device it runs on and, on a GPU, the CUDA stream to launch on.
#pragma once

#include "../core/context.hpp"

namespace mixt::engine {

struct RunContext {
  Context ctx;
  /// cudaStream_t of the worker running the function (nullptr on the CPU). Kept opaque so that CPU-only builds
  /// never see a CUDA header; cuda/stream.hpp converts it.
  void* stream = nullptr;
  /// cublasHandle_t bound to `stream` (GPU compute workers of the threaded engine; nullptr elsewhere).
  void* blas_handle = nullptr;
  /// cudnnHandle_t bound to `stream` (with MIXT_USE_CUDNN; nullptr elsewhere).
  void* dnn_handle = nullptr;
};

}  // namespace mixt::engine
