// cuDNN plumbing shared by the operators' cuDNN paths (nvcc builds with MIXT_USE_CUDNN only; a CPU-only or a
// cuDNN-less build never sees this header's contents): the status check, handles, RAII descriptors, dtype mapping,
// the blend factors, workspaces from the pool, and the process-wide switch.
//
// Which handle: an operation running on a GPU worker of the threaded engine uses that worker's handle
// (RunContext::dnn_handle, already bound to the worker's stream). Elsewhere (the naive engine, whose RunContext has
// no handle, and the host thread that picks convolution algorithms) each thread keeps one handle per device,
// created on first use and bound to the operation's stream at each call, as blas/cuda/cublas.hpp does for cuBLAS
// (a handle must not be used by two threads at once). Those handles live until the process ends.
//
// Which operations go to cuDNN at all: an operator's GPU path calls in here when its `cudnn_off` attribute is false
// and the switch below is on; each cudnn_*.hpp says which configurations it takes, and returns false (nothing
// pushed) for the others, which then run on the operator's own kernels.
//
// The legacy (descriptor) API is used throughout. cuDNN 9 marks much of it deprecated; the mark only warns when
// CUDNN_WARN_DEPRECATED is defined, and these headers silence that warning locally.
#pragma once

#include "../../core/config.hpp"
#if MIXT_USE_CUDA && MIXT_USE_CUDNN

#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "../../core/error.hpp"
#include "../../engine/engine.hpp"
#include "../../ndarray/ndarray.hpp"
#include "../operator.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace mixt::op::cudnn {

/// Throws mixt::Error naming the operator, the cuDNN call and cuDNN's status string.
inline void check(cudnnStatus_t status, const char* op, const char* call) {
  if (status != CUDNN_STATUS_SUCCESS)
    mixt::detail::fail(op, call, " failed: ", cudnnGetErrorString(status), " (cuDNN status ", int(status), ")");
}

/// The process-wide switch: on unless the environment sets MIXT_CUDNN=0. set_enabled returns the previous
/// value; it is read when an operator is called (pushed), so it may change between calls, e.g. in a test that
/// compares the cuDNN path with the own kernels (softmax has no cudnn_off attribute in MXNet).
inline std::atomic<bool>& enabled_flag() {
  static std::atomic<bool> flag{[] {
    const char* e = std::getenv("MIXT_CUDNN");
    return !(e && std::strcmp(e, "0") == 0);
  }()};
  return flag;
}
inline bool enabled() { return enabled_flag().load(std::memory_order_relaxed); }
inline bool set_enabled(bool on) { return enabled_flag().exchange(on); }

/// cuDNN's data type for a dtype: float32, float64 and float16; nullopt (the caller falls back) otherwise.
inline std::optional<cudnnDataType_t> data_type(DType t) {
  switch (t) {
    case DType::float32: return CUDNN_DATA_FLOAT;
    case DType::float64: return CUDNN_DATA_DOUBLE;
    case DType::float16: return CUDNN_DATA_HALF;
    default: return std::nullopt;
  }
}

/// A blend factor (alpha, beta) as cuDNN reads it: a double for double data, a float otherwise. Keep the object
/// alive across the call that receives ptr().
struct Scale {
  float f;
  double d;
  bool is_double;
  Scale(double v, DType t) : f(float(v)), d(v), is_double(t == DType::float64) {}
  const void* ptr() const { return is_double ? static_cast<const void*>(&d) : static_cast<const void*>(&f); }
};

/// True when every value fits cuDNN's int interface.
inline bool fits_int(std::initializer_list<int64_t> values) {
  for (int64_t v : values)
    if (v < 0 || v > INT_MAX) return false;
  return true;
}
inline bool fits_int(const std::vector<int64_t>& values) {
  for (int64_t v : values)
    if (v < 0 || v > INT_MAX) return false;
  return true;
}

/// This thread's handle for device `dev` (see the header comment).
inline cudnnHandle_t thread_handle(int dev, const char* op) {
  constexpr int kMaxDevices = 64;
  thread_local cudnnHandle_t handles[kMaxDevices] = {};
  if (dev < 0 || dev >= kMaxDevices) mixt::detail::fail(op, "device id ", dev, " is out of range");
  if (!handles[dev]) {
    int current = 0;
    if (cudaGetDevice(&current) != cudaSuccess) mixt::detail::fail(op, "cudaGetDevice failed");
    if (current != dev && cudaSetDevice(dev) != cudaSuccess) mixt::detail::fail(op, "cudaSetDevice(", dev, ") failed");
    cudnnStatus_t status = cudnnCreate(&handles[dev]);
    if (current != dev) cudaSetDevice(current);
    check(status, op, "cudnnCreate");
  }
  return handles[dev];
}

/// The handle for an operation running with `rc`, bound to its stream.
inline cudnnHandle_t handle(const engine::RunContext& rc, const char* op) {
  if (rc.dnn_handle) return static_cast<cudnnHandle_t>(rc.dnn_handle);
  cudnnHandle_t h = thread_handle(rc.ctx.dev_id, op);
  check(cudnnSetStream(h, static_cast<cudaStream_t>(rc.stream)), op, "cudnnSetStream");
  return h;
}

/// An owned cuDNN descriptor: created by the constructor, destroyed by the destructor.
template <class H, cudnnStatus_t (*Create)(H*), cudnnStatus_t (*Destroy)(H)>
class Descriptor {
 public:
  explicit Descriptor(const char* op) { check(Create(&h_), op, "creating a cuDNN descriptor"); }
  ~Descriptor() {
    if (h_) Destroy(h_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  operator H() const { return h_; }

 private:
  H h_ = nullptr;
};
using TensorDesc = Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDesc = Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc =
    Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor>;
using PoolDesc = Descriptor<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor, cudnnDestroyPoolingDescriptor>;

/// A packed (row-major) tensor of 4 or 5 dimensions (cuDNN's legacy API wants at least 4: lower-dimensional
/// data is given extents of 1).
inline void set_tensor(const TensorDesc& desc, const char* op, DType t, const std::vector<int64_t>& dims) {
  int d[8], s[8];
  const int n = int(dims.size());
  int64_t stride = 1;
  for (int i = n - 1; i >= 0; --i) {
    d[i] = int(dims[size_t(i)]);
    s[i] = int(stride);
    stride *= dims[size_t(i)];
  }
  check(cudnnSetTensorNdDescriptor(desc, *data_type(t), n, d, s), op, "cudnnSetTensorNdDescriptor");
}

/// The NCHW (or NCDHW) extents cuDNN sees for an NCW / NCHW / NCDHW array: 1-D data gets H = 1.
inline std::vector<int64_t> nchw(const Shape& s) {
  std::vector<int64_t> d(s.begin(), s.end());
  if (d.size() == 3) d.insert(d.begin() + 2, 1);
  return d;
}

/// Device memory for cuDNN's workspace, from the device's pool (an NDArray, so that its block goes back to the
/// pool in stream order once the operation that uses it has run; see engine/cuda/gpu_workers.hpp). None for 0
/// bytes.
inline NDArray workspace(size_t bytes, const Context& ctx) {
  if (bytes == 0) return NDArray();
  return NDArray(Shape{int64_t((bytes + 3) / 4)}, ctx, DType::float32);
}

/// The number of operations pushed to cuDNN so far: the fallback is silent, so tests check that the cases meant
/// for cuDNN did reach it.
inline std::atomic<uint64_t>& pushed() {
  static std::atomic<uint64_t> n{0};
  return n;
}

/// Pushes fn as one GPU engine operation on the variables of `reads` and `writes` (op_vars).
template <class Fn>
void push(const char* op, const Context& ctx, const std::vector<NDArray>& reads, const std::vector<NDArray>& writes,
          Fn fn) {
  pushed().fetch_add(1, std::memory_order_relaxed);
  const OpVars vars = op_vars(reads, writes);
  engine::Engine::get().push(std::move(fn), ctx, vars.reads, vars.writes, engine::FnProperty::normal, op);
}

}  // namespace mixt::op::cudnn

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#endif  // MIXT_USE_CUDA && MIXT_USE_CUDNN
