// NDArray: a handle to a device-tagged n-d array (DESIGN contract 2).
//
// Copying an NDArray shares the data; copy() makes a deep copy. `x = expr` rebinds x to a new array holding the
// value (one fused kernel); `x += expr`, `x.assign(expr)` write into x's storage. Views (reshape, slice, at,
// expand_dims, squeeze) share storage and engine variable with their base. Every operation is pushed to the
// engine and returns at once; to_vector(), item(), wait_to_read() and mixt::waitall() block.
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../autograd/node.hpp"
#include "../core/context.hpp"
#include "../core/dtype.hpp"
#include "../core/shape.hpp"
#include "../core/source_location.hpp"
#include "../memory/chunk.hpp"

namespace mixt {

class NDArray;

/// The base of every expression node. It lives in namespace mixt so that argument-dependent lookup finds mixt's
/// operators and functions for any node.
struct ExprTag {};

namespace expr {
using mixt::ExprTag;
template <class T> struct Transposed;
}  // namespace expr

/// Anything that evaluates to an array: an expression node, or something that materializes into an NDArray
/// (a pending dot product, say). NDArray itself is not in this set: it is a leaf.
template <class T>
concept ExprNode = std::is_base_of_v<ExprTag, std::remove_cvref_t<T>>;

namespace detail {
/// The bytes of an array of `shape` and `dtype`, or a mixt::Error naming `op` when they overflow.
[[gnu::noinline]] inline size_t storage_bytes(const Shape& shape, DType dtype, const char* op) {
  shape.check_size(op);
  size_t bytes = 0;
  if (__builtin_mul_overflow(size_t(shape.size()), dtype_size(dtype), &bytes))
    detail::fail(op, "shape ", shape.to_string(), " of ", dtype_name(dtype), " needs more bytes than a size_t holds");
  return bytes;
}
}  // namespace detail

class NDArray {
 public:
  /// An empty ("none") array: no storage, shape ().
  NDArray() = default;
  /// An uninitialized array of the given shape on ctx.
  explicit NDArray(const Shape& shape, Context ctx = cpu(), DType dtype = DType::float32)
      : shape_(shape), dtype_(dtype), ctx_(ctx) {
    require_device(ctx, "NDArray");
    chunk_ = std::make_shared<memory::Chunk>(ctx, detail::storage_bytes(shape, dtype, "NDArray"));
    ag_ = std::make_shared<autograd::Entry>();
  }
  /// Evaluates an expression into a new array: one fused kernel.
  template <ExprNode E>
  NDArray(const E& e, mixt::source_location where = mixt::source_location::current());

  // Copying, assigning and destroying a handle adjust two reference counts: out of line, so that the code doing
  // it is compiled once instead of at every place a handle is copied or dropped. (Members: keep these in step.)
  [[gnu::noinline]] NDArray(const NDArray& o)
      : chunk_(o.chunk_), shape_(o.shape_), dtype_(o.dtype_), ctx_(o.ctx_), offset_(o.offset_), ag_(o.ag_) {}
  NDArray(NDArray&&) noexcept = default;
  [[gnu::noinline]] NDArray& operator=(const NDArray& o) & {
    if (this != &o) *this = NDArray(o);
    return *this;
  }
  [[gnu::noinline]] NDArray& operator=(NDArray&& o) & noexcept {
    chunk_ = std::move(o.chunk_);
    shape_ = o.shape_;
    dtype_ = o.dtype_;
    ctx_ = o.ctx_;
    offset_ = o.offset_;
    ag_ = std::move(o.ag_);
    return *this;
  }
  [[gnu::noinline]] ~NDArray() {}

  /// Rebinds this handle to a new array holding the expression's value.
  template <ExprNode E>
  NDArray& operator=(const E& e) & { return *this = NDArray(e); }
  /// `a.slice(0, 1) = b`, `a.at(2) = 5.f`: assigning to a temporary handle would rebind only that temporary and
  /// leave `a` as it was, so it does not compile; `.assign(value)` writes through the view.
  template <class V>
  NDArray& operator=(const V&) && {
    static_assert(sizeof(V) == 0, "mixt: `view = value` on a temporary NDArray (a.slice(...), a.at(...), ...) "
                                  "would rebind that temporary only; write through it with .assign(value), "
                                  "MXNet's x[:] = value");
    return *this;
  }

  /// In-place updates of this array's storage (and its base's, for a view). The value broadcasts to shape().
  template <class E> NDArray& operator+=(const E& e);
  template <class E> NDArray& operator-=(const E& e);
  template <class E> NDArray& operator*=(const E& e);
  template <class E> NDArray& operator/=(const E& e);
  /// MXNet's `x[:] = value`: writes the value (an array, an expression or a scalar) into this array.
  template <class E> NDArray& assign(const E& e, mixt::source_location where = mixt::source_location::current());

  // --- properties -------------------------------------------------------------------------------------------
  const Shape& shape() const noexcept { return shape_; }
  int ndim() const noexcept { return shape_.ndim(); }
  int64_t size() const noexcept { return shape_.size(); }
  DType dtype() const noexcept { return dtype_; }
  const Context& ctx() const noexcept { return ctx_; }
  const Context& context() const noexcept { return ctx_; }
  /// True for a default-constructed array that has no storage.
  bool is_none() const noexcept { return !chunk_; }
  size_t byte_offset() const noexcept { return offset_; }
  engine::Var* var() const { return chunk_ ? chunk_->var() : nullptr; }
  const std::shared_ptr<memory::Chunk>& chunk() const noexcept { return chunk_; }
  /// Engine version of the storage: the number of writes, counted once the pending ones have finished (it waits,
  /// so that the count is deterministic).
  uint64_t version() const {
    if (!chunk_) return 0;
    wait_to_read();
    return var()->version.load();
  }

  /// Pointer to the first element, in device memory. Does not wait for pending writes.
  template <class T>
  T* data() const {
    if (dtype_of_v<T> != dtype_)
      detail::fail("NDArray::data", "requested element type ", dtype_name(dtype_of_v<T>), ", the array holds ",
                   dtype_name(dtype_));
    return reinterpret_cast<T*>(raw_data());
  }
  void* raw_data() const { return chunk_ ? static_cast<char*>(chunk_->data()) + offset_ : nullptr; }

  // --- synchronization and host access ----------------------------------------------------------------------
  /// Blocks until every pending write to this array has finished; rethrows an asynchronous error.
  void wait_to_read() const {
    if (chunk_) engine::Engine::get().wait_for_var(var());
  }
  /// Copies the values to the host (waits for them), converted to T.
  template <class T> std::vector<T> to_vector() const;
  /// The storage readable on the host, once pending writes are done: the array's own on the CPU, else a copy in
  /// `staging`. to_vector's work for every T.
  const void* host_data(std::unique_ptr<char[]>& staging) const;
  /// The single value of a one-element array, converted to T.
  /// (T defaults to double, which holds every float32, float16, int32 and uint8 value exactly: MXNet's asscalar.)
  template <class T = double> T item(mixt::source_location where = mixt::source_location::current()) const;

  // --- copies ----------------------------------------------------------------------------------------------
  /// A deep copy on the same context.
  NDArray copy() const;
  /// Copies the values into `other` (same shape; any context; dtype converted) and returns it, as MXNet does.
  NDArray& copyto(NDArray& other, mixt::source_location where = mixt::source_location::current()) const;
  /// The same into a temporary view: `x.copyto(y.slice(0, 2))`.
  NDArray copyto(NDArray&& other, mixt::source_location where = mixt::source_location::current()) const {
    return copyto(other, where);
  }
  /// A new array on `ctx` holding a copy of the values.
  NDArray copyto(const Context& ctx, mixt::source_location where = mixt::source_location::current()) const;
  /// This array if it already lives on ctx, else a copy on ctx.
  NDArray as_in_context(const Context& ctx, mixt::source_location where = mixt::source_location::current()) const {
    return ctx == ctx_ ? *this : copyto(ctx, where);
  }
  /// A copy converted to dtype (a copy even when dtype is unchanged, as in MXNet).
  NDArray astype(DType dtype, mixt::source_location where = mixt::source_location::current()) const;
  /// astype by MXNet's dtype name: a.astype("int32").
  NDArray astype(const std::string& dtype, mixt::source_location where = mixt::source_location::current()) const {
    return astype(detail::at_location(where, [&] { return dtype_from_name(dtype, "astype"); }), where);
  }

  // --- views and shapes --------------------------------------------------------------------------------------
  /// A view with a new shape. Accepts MXNet's special codes 0, -1, -2, -3, -4 (and `reverse`).
  NDArray reshape(const std::vector<int64_t>& shape, bool reverse = false,
                  mixt::source_location where = mixt::source_location::current()) const;
  NDArray reshape(std::initializer_list<int64_t> shape, bool reverse = false,
                  mixt::source_location where = mixt::source_location::current()) const {
    return reshape(std::vector<int64_t>(shape), reverse, where);
  }
  /// Rows [begin, end) along the first axis, as a view.
  NDArray slice(int64_t begin, int64_t end, mixt::source_location where = mixt::source_location::current()) const;
  /// Row `index` of the first axis, as a view with one dimension less.
  NDArray at(int64_t index, mixt::source_location where = mixt::source_location::current()) const;
  /// Elements [begin, end) along `axis` (mx.nd.slice_axis): a copy, or a view when axis is 0. Negative begin/end
  /// count from the end; end = std::nullopt (MXNet's None) means the extent of the axis.
  NDArray slice_axis(int axis, int64_t begin, std::optional<int64_t> end,
                     mixt::source_location where = mixt::source_location::current()) const;
  NDArray expand_dims(int axis, mixt::source_location where = mixt::source_location::current()) const;
  /// (N, product of the other extents), as a view (mx.nd.flatten; a 1-D array becomes (N, 1)).
  NDArray flatten(mixt::source_location where = mixt::source_location::current()) const;
  /// Removes the given axis (or all axes of extent 1 when none is given), as a view.
  NDArray squeeze(std::vector<int> axes = {}, mixt::source_location where = mixt::source_location::current()) const;
  /// squeeze(axis), as MXNet's squeeze(x, axis=1). (A template, so that squeeze({}) still means every axis.)
  template <std::integral I>
  NDArray squeeze(I axis, mixt::source_location where = mixt::source_location::current()) const {
    return squeeze(std::vector<int>{int(axis)}, where);
  }
  /// The array broadcast to `shape`, materialized (mx.nd.broadcast_to). Shapes align from the right (NumPy); an
  /// extent 0 in `shape` keeps the array's extent there (MXNet).
  NDArray broadcast_to(const Shape& shape, mixt::source_location where = mixt::source_location::current()) const;
  /// A transposed copy; axes default to reversing the order.
  NDArray transpose(std::vector<int> axes = {}, mixt::source_location where = mixt::source_location::current()) const;
  /// A lazy transpose of a 2-D array: dot() folds it into a BLAS flag; any other use reads it transposed.
  expr::Transposed<NDArray> T() const;

  /// The values as NumPy prints them, then MXNet's "<NDArray 2x3 @cpu(0)>" line (see print.hpp). Waits.
  std::string to_string() const;

  /// A view on the same storage with a different shape (and byte offset); checks the bounds.
  NDArray view(const Shape& shape, size_t byte_offset) const;

  // --- autograd (mixt/autograd) ------------------------------------------------------------------------------
  /// Marks this array as a variable: backward() stores d(head)/d(this) in grad(), per `req`. Every copy of this
  /// handle, made before or after, is the variable too (not views: a view is an array of its own).
  void attach_grad(GradReq req = GradReq::write);
  /// The gradient buffer of a variable (an empty NDArray when attach_grad was not called).
  NDArray grad() const;
  /// Backpropagates from this array (head gradient: ones when empty) into every variable it depends on.
  void backward(const NDArray& head_grad, bool retain_graph = false, bool train_mode = true,
                mixt::source_location where = mixt::source_location::current()) const;
  void backward(mixt::source_location where = mixt::source_location::current()) const;
  /// The same data, cut from the tape: no gradient flows through the result.
  NDArray detach() const {
    NDArray d = *this;
    d.set_autograd_entry({});
    return d;
  }
  /// This array's place on the tape (empty when not recorded and not a variable).
  const autograd::Entry& autograd_entry() const noexcept {
    static const autograd::Entry none;
    return ag_ ? *ag_ : none;
  }
  /// Puts this handle (and copies made from it later) on the tape at `e`, apart from the handles it was copied
  /// from: the tape gives each output, view and detached copy its own place. (attach_grad, by contrast, marks
  /// every handle of the array.)
  void set_autograd_entry(autograd::Entry e) { ag_ = std::make_shared<autograd::Entry>(std::move(e)); }

 private:
  std::shared_ptr<memory::Chunk> chunk_;
  Shape shape_;
  DType dtype_ = DType::float32;
  Context ctx_;
  size_t offset_ = 0;
  /// Shared by the copies of a handle, as the data is, so that attach_grad on any copy marks them all (as a
  /// PyTorch tensor's requires_grad_ and MXNet's attach_grad on a Python reference do). Null for an empty array.
  std::shared_ptr<autograd::Entry> ag_;
};

/// Prints a.to_string() (ndarray/print.hpp).
template <class Char, class Traits>
std::basic_ostream<Char, Traits>& operator<<(std::basic_ostream<Char, Traits>& os, const NDArray& a);

}  // namespace mixt
